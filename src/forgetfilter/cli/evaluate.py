"""``forgetfilter evaluate``: safety and task metrics for a model or adapter."""

from __future__ import annotations


def evaluate_command() -> None:
    """Evaluate a model (not implemented yet)."""
    raise NotImplementedError
