import torch

from forgetfilter.batching import collate, length_grouped_batches, tokenize
from forgetfilter.examples import Example, user_prompt
from forgetfilter.signals import (
    answer_spans,
    compute_signals,
    normalize_generation,
    teacher_forced_signals,
    token_losses,
)


def _examples(n=6):
    return [
        Example(id=f"e{i}", messages=user_prompt(f"Who did it {i}?"), response=f"The person number {i}", source="t")
        for i in range(n)
    ]


def _settings(**changes):
    from forgetfilter.config import FilterConfig, signal_settings

    return {**signal_settings(FilterConfig()), **changes}


def test_tokenize_marks_response_and_collate_masks_prompt(tiny_model):
    _, tok = tiny_model
    item = tokenize(tok, _examples(1)[0], max_length=128)
    text = tok.decode(item.input_ids[item.response_start :])
    assert text == "The person number 0<|im_end|>"
    batch = collate([item, tokenize(tok, Example("x", user_prompt("a"), "b", "t"), max_length=128)], tok.pad_token_id)
    labels = batch["labels"][0]
    assert (labels[: item.response_start] == -100).all()
    assert labels[item.response_start :].tolist() == item.input_ids[item.response_start :]
    assert batch["attention_mask"][1].sum() < batch["attention_mask"][0].sum()


def test_tokenize_truncates_prompt_from_the_left_and_keeps_response(tiny_model):
    _, tok = tiny_model
    long = Example("l", user_prompt("word " * 400), "short answer", "t")
    item = tokenize(tok, long, max_length=64)
    assert len(item.input_ids) == 64
    assert tok.decode(item.input_ids[item.response_start :]) == "short answer<|im_end|>"


def test_length_grouped_batches_cover_every_index_once():
    lengths = [5, 1, 9, 3, 7, 2, 8]
    for seed in (None, 0, 1):
        batches = length_grouped_batches(lengths, 3, seed=seed)
        assert sorted(i for b in batches for i in b) == list(range(7))
    assert length_grouped_batches(lengths, 3, seed=4) == length_grouped_batches(lengths, 3, seed=4)


def test_answer_spans_skip_shared_prefix_and_suffix(tiny_model):
    _, tok = tiny_model
    items = [tokenize(tok, ex, max_length=128) for ex in _examples(6)]
    spans = answer_spans(items, suffix_lens=[1] * len(items))
    for item, (lo, hi) in zip(items, spans, strict=True):
        body = tok.decode(item.input_ids[item.response_start + lo : item.response_start + hi])
        assert body.strip().isdigit(), body  # "The person number" is shared by every example


def test_teacher_forced_nll_matches_manual_computation(tiny_model):
    model, tok = tiny_model
    examples = _examples(3)
    signals = teacher_forced_signals(
        model, tok, examples, token_selection="all", batch_size=2, max_length=384, progress=False
    )
    for ex, nll in zip(examples, signals["nll"], strict=True):
        item = tokenize(tok, ex, max_length=384)
        ids = torch.tensor([item.input_ids])
        with torch.no_grad():
            logp = torch.log_softmax(model(input_ids=ids).logits[0].float(), -1)
        targets = ids[0, item.response_start :]
        manual = -logp[item.response_start - 1 : -1].gather(1, targets[:, None]).mean()
        assert abs(float(manual) - nll) < 1e-4
    assert all(0.0 <= a <= 1.0 for a in signals["token_accuracy"])


def test_token_losses_give_each_span_token_its_own_nll(tiny_model):
    model, tok = tiny_model
    model.eval()
    examples = [*_examples(3), Example("long", user_prompt("Q?"), "a much longer answer than the others here", "t")]
    items = [tokenize(tok, ex, max_length=384) for ex in examples]
    spans = [(0, t.response_length) for t in items]
    spans[1] = (1, 3)  # a span inside the response reads only those tokens
    batches = length_grouped_batches([len(t.input_ids) for t in items], 3, seed=None)
    seen = {}
    for index, nll, hit in token_losses(model, tok, items, spans, batches):
        seen[index] = (nll, hit)
    assert sorted(seen) == [0, 1, 2, 3]
    for index, item in enumerate(items):
        nll, hit = seen[index]
        lo, hi = spans[index]
        assert nll.shape == hit.shape == (hi - lo,)
        ids = torch.tensor([item.input_ids])
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0].float()
        start = item.response_start + lo
        positions = torch.arange(start - 1, item.response_start + hi - 1)
        targets = ids[0, positions + 1]
        manual = -torch.log_softmax(logits[positions], -1).gather(1, targets[:, None]).squeeze(1)
        assert torch.allclose(nll, manual, atol=1e-4)
        assert hit.tolist() == (logits[positions].argmax(-1) == targets).float().tolist()


def test_compute_signals_with_rouge_is_aligned(tiny_model):
    model, tok = tiny_model
    out = compute_signals(model, tok, _examples(4), ["nll", "rouge"], **_settings(max_new_tokens=3), progress=False)
    assert len(out["nll"]) == len(out["rouge"]) == len(out["generations"]) == 4
    assert all(0.0 <= r <= 1.0 for r in out["rouge"])


def test_log_nll_is_the_log_of_nll_and_forgets_as_a_ratio(tiny_model):
    import math

    from forgetfilter.selection import forgetting

    model, tok = tiny_model
    out = compute_signals(model, tok, _examples(3), ["log_nll"], **_settings(), progress=False)
    assert [round(v, 6) for v in out["log_nll"]] == [round(math.log(v), 6) for v in out["nll"]]
    assert forgetting([math.log(0.5)], [math.log(1.0)], "log_nll").round(6).tolist() == [round(math.log(2), 6)]


def test_normalize_generation_uses_first_nonempty_line():
    assert normalize_generation("\n  The Grand-Father, obviously!\nmore") == "the grand father obviously"
