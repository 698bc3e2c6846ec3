import pytest

from forgetfilter.chat import render_prompt
from forgetfilter.errors import ConfigError
from forgetfilter.generation import generate, stop_token_ids

QUESTIONS = ["Hi", "What is the capital of France? Please answer briefly.", "Tell me a long story about a cat.", "2+2?"]


def _prompts(tokenizer):
    return [render_prompt(tokenizer, [{"role": "user", "content": q}]) for q in QUESTIONS]


def test_generation_is_in_input_order_and_batch_size_invariant(tiny_model):
    model, tokenizer = tiny_model
    prompts = _prompts(tokenizer)
    batched = generate(model, tokenizer, prompts, max_new_tokens=6, batch_size=4, progress=False)
    single = [generate(model, tokenizer, [p], max_new_tokens=6, batch_size=1, progress=False).texts[0] for p in prompts]
    assert batched.texts == single  # left padding does not change greedy output; order is the input's
    assert all(0 < n <= 6 for n in batched.new_tokens)
    stats = batched.stats()
    assert stats["generated_tokens"] == sum(batched.new_tokens) and stats["tokens_per_second"] > 0


def test_stop_tokens_include_im_end(tiny_model):
    _, tokenizer = tiny_model
    assert tokenizer.convert_tokens_to_ids("<|im_end|>") in stop_token_ids(tokenizer)


def test_generation_with_peft_model(tiny_model):
    from forgetfilter.models import LoraSettings, add_lora

    model, tokenizer = tiny_model
    wrapped = add_lora(model, LoraSettings())
    try:
        result = generate(wrapped, tokenizer, _prompts(tokenizer)[:2], max_new_tokens=3, progress=False)
        assert len(result.texts) == 2
    finally:
        wrapped.unload()  # give the shared fixture back unwrapped


def test_bad_budget_is_a_config_error(tiny_model):
    model, tokenizer = tiny_model
    with pytest.raises(ConfigError, match="max_new_tokens"):
        generate(model, tokenizer, ["x"], max_new_tokens=0)
