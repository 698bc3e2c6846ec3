"""LoRA dropout with masks drawn four to a random number: the same dropout, about twice as fast on a CPU.

peft applies ``nn.Dropout(p)`` to the input of every LoRA adapter (twice per layer with q_proj/v_proj). On a CPU the
mask costs one Mersenne-Twister draw per element (``bernoulli_``), about 12% of a bf16 training step of the default
model (bench/profile_stages.py). Here one 64-bit draw gives four 15-bit uniforms, each kept when it is at least
``round(p * 2**15)``: the drop rate is p to within 2**-16, the scale is 1 / (1 - p) as in ``nn.Dropout``, and the
masks come from torch's generator, so a seed and a checkpointed RNG state replay them exactly.
"""

from __future__ import annotations

from typing import Any

import torch

_LEVELS = 1 << 15


class FastDropout(torch.nn.Module):
    """Drop-in for ``nn.Dropout(p)`` (identity in eval mode or at p = 0)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        return x * dropout_scale(x, self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def dropout_scale(x: torch.Tensor, p: float) -> torch.Tensor:
    """A tensor like ``x``: 0 where dropped (probability p), 1 / (1 - p) elsewhere."""
    words = (x.numel() + 3) // 4
    draws = torch.empty(words, dtype=torch.int64, device=x.device).random_()
    uniform = torch.bitwise_and(draws.view(torch.int16)[: x.numel()], _LEVELS - 1).view(x.shape)
    keep = uniform >= round(p * _LEVELS)
    return torch.where(keep, 1.0 / (1.0 - p), 0.0).to(x.dtype)


def use_fast_lora_dropout(model: Any) -> int:
    """Replace the ``nn.Dropout`` of every LoRA adapter in ``model`` by FastDropout; returns how many (idempotent)."""
    replaced = 0
    for module in model.modules():
        dropouts = getattr(module, "lora_dropout", None)
        if not isinstance(dropouts, torch.nn.ModuleDict):
            continue
        for name, dropout in dropouts.items():
            if type(dropout) is torch.nn.Dropout and dropout.p > 0:
                fast = FastDropout(dropout.p)
                fast.train(dropout.training)
                dropouts[name] = fast
                replaced += 1
    return replaced
