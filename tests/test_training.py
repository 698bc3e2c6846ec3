import json

import pytest
import torch

from forgetfilter.errors import ConfigError
from forgetfilter.examples import Example, user_prompt
from forgetfilter.models import LoraSettings, add_lora, load_model
from forgetfilter.training import SessionSettings, learned_epoch, total_steps, train_session


def _data(n=8):
    return [
        Example(id=str(i), messages=user_prompt(f"Say {i}"), response=f"Number {i} it is", source="t") for i in range(n)
    ]


def _trainable(model):
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def test_total_steps_from_epochs_and_max_steps():
    assert total_steps(10, SessionSettings(epochs=2, batch_size=4, grad_accum=1)) == 6
    assert total_steps(10, SessionSettings(epochs=2, batch_size=4, grad_accum=2)) == 3
    assert total_steps(10, SessionSettings(max_steps=7)) == 7


def test_lora_session_lowers_loss_and_only_touches_adapter(tiny_model_dir):
    model, tok = load_model(tiny_model_dir, device="cpu")
    model = add_lora(model, LoraSettings(r=4, alpha=8, dropout=0.0))
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    result = train_session(model, tok, _data(), SessionSettings(max_steps=12, batch_size=4, grad_accum=1, lr=5e-3))
    assert result.steps == 12 and result.tokens > 0 and result.tokens_per_s > 0
    assert result.losses[-1] < result.losses[0]
    for n, p in model.named_parameters():
        if not p.requires_grad:
            assert torch.equal(p, frozen[n])


def test_resume_after_interruption_matches_uninterrupted(tiny_model_dir, tmp_path):
    settings = SessionSettings(max_steps=4, batch_size=4, grad_accum=1, lr=5e-3, checkpoint_every=1)

    def fresh():
        torch.manual_seed(1)
        model, tok = load_model(tiny_model_dir, device="cpu")
        return add_lora(model, LoraSettings(r=4, alpha=8)), tok

    model, tok = fresh()
    train_session(model, tok, _data(), settings)
    expected = _trainable(model)

    class Interrupted(Exception):
        pass

    def stop_at_2(step, _model):
        if step == 2:
            raise Interrupted

    model, tok = fresh()
    with pytest.raises(Interrupted):
        train_session(model, tok, _data(), settings, out_dir=tmp_path, on_step=stop_at_2)
    model, tok = fresh()  # a new process: weights come from the checkpoint
    result = train_session(model, tok, _data(), settings, out_dir=tmp_path)
    assert result.steps == 4 and len(result.losses) == 4
    for name, tensor in _trainable(model).items():
        assert torch.allclose(tensor, expected[name], atol=1e-6), name


def test_empty_dataset_is_a_clear_error(tiny_model):
    model, tok = tiny_model
    with pytest.raises(ConfigError, match="empty dataset"):
        train_session(model, tok, [], SessionSettings())


def _checkpointing(model):
    base = model.get_base_model()
    return (
        base.is_activation_checkpointing
        if hasattr(base, "is_activation_checkpointing")
        else (base.is_gradient_checkpointing)
    )


def test_gradient_checkpointing_gives_the_same_weights(tiny_model_dir):
    def train(checkpointing):
        torch.manual_seed(1)
        model, tok = load_model(tiny_model_dir, device="cpu")
        model = add_lora(model, LoraSettings(r=4, alpha=8, dropout=0.0))
        settings = SessionSettings(
            max_steps=3, batch_size=4, grad_accum=1, lr=5e-3, gradient_checkpointing=checkpointing
        )
        seen = []
        result = train_session(model, tok, _data(), settings, on_step=lambda s, m: seen.append(_checkpointing(m)))
        assert seen == [checkpointing] * 3 and not _checkpointing(model)  # on during the session only
        return result.losses, _trainable(model)

    losses, weights = train(False)
    losses_ckpt, weights_ckpt = train(True)
    assert losses_ckpt == pytest.approx(losses, rel=1e-5)
    for name, tensor in weights.items():
        assert torch.allclose(weights_ckpt[name], tensor, atol=1e-6), name


def test_every_rng_state_survives_a_weights_only_checkpoint(tmp_path):
    import random

    import numpy as np
    import torch

    from forgetfilter.training import _restore_rng_states, _rng_states

    torch.save(_rng_states(), tmp_path / "rng.pt")
    first = (torch.rand(3).tolist(), np.random.rand(3).tolist(), random.random())
    _restore_rng_states(torch.load(tmp_path / "rng.pt", weights_only=True))
    assert (torch.rand(3).tolist(), np.random.rand(3).tolist(), random.random()) == first


def test_learned_epoch_stops_when_the_epoch_loss_stops_improving():
    improving = [4.0, 4.0, 3.0, 3.0, 2.0, 2.0]  # 2 steps an epoch: means 4, 3, 2
    assert learned_epoch(improving, 2, 0.05) is None
    flat = [*improving, 1.95, 1.97]  # epoch 4 mean 1.96: 2% below epoch 3
    assert learned_epoch(flat, 2, 0.05) == 4
    assert learned_epoch(flat, 2, 0.01) is None
    assert learned_epoch(flat[:-1], 2, 0.05) is None  # only at whole epochs
    assert learned_epoch(improving[:2], 2, 1.0) is None  # never before two epochs


def test_until_learned_stops_before_the_cap_and_the_cap_spans_the_schedule(tiny_model_dir):
    settings = SessionSettings(until="learned", tolerance=0.5, max_epochs=20, batch_size=4, grad_accum=1, lr=5e-3)
    assert total_steps(8, settings) == 40  # the schedule spans the cap: 20 epochs of 2 steps
    model, tok = load_model(tiny_model_dir, device="cpu")
    model = add_lora(model, LoraSettings(r=4, alpha=8, dropout=0.0))
    result = train_session(model, tok, _data(), settings)
    assert result.learned_at_epoch is not None and result.steps == 2 * result.learned_at_epoch < 40
    with pytest.raises(ConfigError, match="until"):
        SessionSettings(until="converged")


def _attention_of(model):
    return model.get_base_model().config._attn_implementation


def test_eager_and_sdpa_training_agree_and_scoring_keeps_sdpa(tiny_model_dir):
    def train(attention):
        torch.manual_seed(1)
        model, tok = load_model(tiny_model_dir, dtype="float32", device="cpu")
        model = add_lora(model, LoraSettings(r=4, alpha=8, dropout=0.0))
        assert _attention_of(model) == "sdpa"
        seen = []
        settings = SessionSettings(max_steps=3, batch_size=4, grad_accum=1, lr=5e-3, attention=attention)
        result = train_session(model, tok, _data(), settings, on_step=lambda s, m: seen.append(_attention_of(m)))
        assert result.attention == attention and result.attention_probe == {}
        assert seen == [attention] * 3 and _attention_of(model) == "sdpa"  # switched for the session only
        return result.losses, _trainable(model)

    losses, _ = train("sdpa")
    losses_eager, _ = train("eager")
    assert losses_eager == pytest.approx(losses, rel=1e-5)  # Adam makes the weights themselves a poor comparison

    model, tok = load_model(tiny_model_dir, dtype="float32", device="cpu")
    model = add_lora(model, LoraSettings(r=4, alpha=8, dropout=0.0))
    for param in model.parameters():
        if param.requires_grad:
            torch.nn.init.normal_(param, std=0.1)  # lora_B starts at zero, which would hide lora_A's gradients
    batch = tok(["Say 1 Number 1 it is", "Say 22"], return_tensors="pt", padding=True)
    grads = {}
    for attention in ("sdpa", "eager"):
        model.get_base_model().set_attn_implementation(attention)
        model.zero_grad()
        labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
        model(**batch, labels=labels).loss.backward()
        grads[attention] = [p.grad.clone() for p in model.parameters() if p.requires_grad]
    for sdpa, eager in zip(grads["sdpa"], grads["eager"], strict=True):
        assert torch.allclose(sdpa, eager, rtol=1e-4, atol=1e-6)


def test_auto_attention_follows_the_probe_and_caches_it(tiny_model_dir, monkeypatch, tmp_path):
    from forgetfilter import precision

    monkeypatch.setenv("FORGETFILTER_CACHE_DIR", str(tmp_path))
    calls = []

    def fake(shape, dtype, repeats=3):  # eager wins up to 160 tokens, loses from 256 on
        calls.append(shape)
        return {"sdpa_s": 0.03, "eager_s": 0.01 if shape[2] <= 160 else 0.05}

    monkeypatch.setattr(precision, "measure_attention", fake)
    model, tok = load_model(tiny_model_dir, dtype="float32", device="cpu")
    model = add_lora(model, LoraSettings(r=4, alpha=8, dropout=0.0))
    settings = SessionSettings(max_steps=1, batch_size=4, grad_accum=1)
    result = train_session(model, tok, _data(), settings)
    heads = model.get_base_model().config.num_attention_heads
    assert result.attention == "eager" and calls == [(4, heads, 64, calls[0][3])]  # short data: one width probed
    assert result.attention_probe["widths"]["64"]["cached"] is False
    again = train_session(model, tok, _data(), settings)
    assert again.attention == "eager" and again.attention_probe["widths"]["64"]["cached"] is True and len(calls) == 1

    def choose(max_width, attention="auto", device="cpu"):
        return precision.choose_training_attention(
            attention, device=device, dtype=torch.float32, rows=4, max_width=max_width, heads=2, head_dim=8
        )

    eager_up_to, probe = choose(500)
    assert eager_up_to == 160 and list(probe["widths"]) == ["64", "96", "160", "256"]  # stops where eager loses
    assert precision.describe_attention(eager_up_to, 500) == "eager up to 160 tokens, sdpa above"
    assert precision.describe_attention(eager_up_to, 100) == "eager"
    assert precision.describe_attention(0, 100) == "sdpa"
    assert choose(100)[0] == 160 and choose(60)[0] == 64
    assert choose(500, "eager") == (500, {}) and choose(500, "sdpa") == (0, {})
    assert choose(500, device="cuda:0") == (0, {})
    monkeypatch.setattr(precision, "measure_attention", lambda shape, dtype: {"sdpa_s": 0.010, "eager_s": 0.0095})
    monkeypatch.setenv("FORGETFILTER_CACHE_DIR", str(tmp_path / "other"))
    assert choose(500)[0] == 0  # eager must win by 10%


def test_each_micro_batch_trains_with_the_kernel_for_its_width(tiny_model_dir, monkeypatch):
    from forgetfilter import training
    from forgetfilter.batching import tokenize

    model, tok = load_model(tiny_model_dir, dtype="float32", device="cpu")
    model = add_lora(model, LoraSettings(r=4, alpha=8, dropout=0.0))
    data = _data(4) + [
        Example(id=f"long{i}", messages=user_prompt("Say it " * 20), response="Fine " * 5, source="t") for i in range(4)
    ]
    short = max(len(tokenize(tok, ex, max_length=384).input_ids) for ex in data[:4])
    monkeypatch.setattr(training, "choose_training_attention", lambda *a, **k: (short, {"widths": {}}))
    used = []
    original = training._set_attention
    monkeypatch.setattr(training, "_set_attention", lambda model, impl: (used.append(impl), original(model, impl)))
    result = train_session(model, tok, data, SessionSettings(max_steps=2, batch_size=4, grad_accum=1))
    assert result.attention == f"eager up to {short} tokens, sdpa above"
    assert "eager" in used and "sdpa" in used and _attention_of(model) == "sdpa"


def test_real_attention_probe_times_both_kernels():
    from forgetfilter.precision import measure_attention

    times = measure_attention((2, 2, 32, 8), torch.float32, repeats=1)
    assert set(times) == {"sdpa_s", "eager_s"} and all(t > 0 for t in times.values())


def test_unknown_attention_is_a_config_error():
    with pytest.raises(ConfigError, match="attention"):
        SessionSettings(attention="flash")


def test_eager_up_to_n_pins_a_choice_and_is_validated():
    from forgetfilter import precision

    assert SessionSettings(attention="eager<=256").attention == "eager<=256"
    assert precision.choose_training_attention(
        "eager<=160", device="cpu", dtype=torch.float32, rows=4, max_width=500, heads=2, head_dim=8
    ) == (160, {})
    assert precision.attention_setting(160) == "eager<=160" and precision.attention_setting(0) == "sdpa"
    for bad in ("eager<=0", "eager<=x", "eager<256", "flash", 3):
        with pytest.raises(ConfigError, match=r"auto, sdpa, eager or eager<=N"):
            SessionSettings(attention=bad)


def test_a_run_folder_keeps_its_probe_answers_whatever_the_machine_cache_holds(monkeypatch, tmp_path):
    from forgetfilter import precision

    answers = iter(
        [{"sdpa_s": 0.03, "eager_s": 0.01}, {"sdpa_s": 0.01, "eager_s": 0.03}, {"sdpa_s": 0.01, "eager_s": 0.03}]
    )
    monkeypatch.setattr(precision, "measure_attention", lambda shape, dtype: next(answers))

    def choose():
        return precision.choose_training_attention(
            "auto", device="cpu", dtype=torch.float32, rows=4, max_width=60, heads=2, head_dim=8
        )

    monkeypatch.setenv("FORGETFILTER_CACHE_DIR", str(tmp_path / "cache1"))
    with precision.run_probes(tmp_path / "run" / "probes.json"):
        first = choose()
    assert first[0] == 64 and first[1]["widths"]["64"]["source"] == "measured"
    assert json.loads((tmp_path / "run" / "probes.json").read_text())  # recorded in the run folder
    monkeypatch.setenv("FORGETFILTER_CACHE_DIR", str(tmp_path / "cache2"))  # a fresh machine cache, a new answer
    with precision.run_probes(tmp_path / "run" / "probes.json"):
        again = choose()
    assert again[0] == 64 and again[1]["widths"]["64"]["source"] == "run folder"
    assert choose()[0] == 0  # outside the run the cold cache measures anew: eager now loses
    with (
        precision.run_probes(tmp_path / "other" / "probes.json"),
        precision.run_probes(tmp_path / "run" / "probes.json"),
    ):
        assert choose()[0] == 64  # nested runs look in every folder and record in each
    assert (tmp_path / "other" / "probes.json").is_file()


def test_a_probe_is_timed_once_per_process_when_the_cache_cannot_be_written(monkeypatch, tmp_path):
    from forgetfilter import precision

    calls = []
    monkeypatch.setattr(
        precision, "measure_attention", lambda shape, dtype: calls.append(shape) or {"sdpa_s": 0.03, "eager_s": 0.01}
    )
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("FORGETFILTER_CACHE_DIR", str(blocked / "cache"))
    for _ in range(3):
        assert (
            precision.choose_training_attention(
                "auto", device="cpu", dtype=torch.float32, rows=4, max_width=60, heads=2, head_dim=8
            )[0]
            == 64
        )
    assert len(calls) == 1
