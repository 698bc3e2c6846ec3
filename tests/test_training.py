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
