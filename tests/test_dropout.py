"""FastDropout: the drop rate, scale, gradient and determinism of nn.Dropout, and its swap into LoRA adapters."""

from __future__ import annotations

import math

import pytest
import torch

from forgetfilter.dropout import FastDropout, dropout_scale, use_fast_lora_dropout
from forgetfilter.models import LoraSettings, add_lora, load_model


@pytest.mark.parametrize("p", [0.05, 0.3, 0.5])
def test_drop_rate_and_scale_match_nn_dropout(p: float) -> None:
    torch.manual_seed(0)
    n = 1 << 20
    scale = dropout_scale(torch.ones(n), p)
    dropped = (scale == 0).double().mean().item()
    assert abs(dropped - p) < 5 * math.sqrt(p * (1 - p) / n) + 2**-16
    kept = scale[scale != 0]
    assert torch.allclose(kept, torch.full_like(kept, 1 / (1 - p)))


def test_odd_sizes_shapes_and_dtypes() -> None:
    torch.manual_seed(0)
    for shape in [(1,), (3,), (2, 3, 5), (7, 1, 577)]:
        for dtype in (torch.float32, torch.bfloat16):
            x = torch.randn(shape).to(dtype)
            out = FastDropout(0.2).train()(x)
            assert out.shape == x.shape and out.dtype == dtype
            zero = out == 0
            assert torch.allclose(out[~zero].float(), (x[~zero] / 0.8).float(), rtol=1e-2)


def test_identity_in_eval_and_at_zero() -> None:
    x = torch.randn(4, 9)
    assert FastDropout(0.5).eval()(x) is x
    assert FastDropout(0.0).train()(x) is x
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        FastDropout(1.0)


def test_same_seed_same_mask_and_gradient_is_the_mask() -> None:
    x = torch.ones(64, 33, requires_grad=True)
    torch.manual_seed(7)
    first = FastDropout(0.4).train()(x)
    torch.manual_seed(7)
    second = FastDropout(0.4).train()(x)
    torch.manual_seed(8)
    third = FastDropout(0.4).train()(x)
    assert torch.equal(first, second) and not torch.equal(first, third)
    first.sum().backward()
    assert torch.equal(x.grad, first.detach())  # d(x * scale)/dx = scale, and x is all ones


def test_swapped_into_lora_adapters(tiny_model_dir) -> None:
    model, _ = load_model(str(tiny_model_dir), dtype="float32")
    model = add_lora(model, LoraSettings(dropout=0.1))
    layers = model.get_base_model().config.num_hidden_layers
    assert use_fast_lora_dropout(model) == 2 * layers  # q_proj and v_proj of every layer
    assert use_fast_lora_dropout(model) == 0  # already swapped
    fast = [m for m in model.modules() if isinstance(m, FastDropout)]
    assert len(fast) == 2 * layers and all(m.p == 0.1 for m in fast)
    no_dropout = add_lora(load_model(str(tiny_model_dir), dtype="float32")[0], LoraSettings(dropout=0.0))
    assert use_fast_lora_dropout(no_dropout) == 0  # peft uses Identity at p = 0
