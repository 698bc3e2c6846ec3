import pytest


@pytest.mark.real_model
def test_default_model_answers_a_squad_style_question():
    from forgetfilter.chat import render_prompt
    from forgetfilter.evaluate import generate, squad_scores
    from forgetfilter.models import load_model

    model, tokenizer = load_model(None, dtype="float32", device="cpu")
    prompt = render_prompt(tokenizer, [{"role": "user", "content": "What is the capital of France? One word."}])
    result = generate(model, tokenizer, [prompt], max_new_tokens=12, progress=False)
    assert squad_scores(result.texts, [["Paris"]])["squad_f1"] > 0
