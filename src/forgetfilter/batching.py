"""Tokenise examples with a response mask, group them by length, and pad batches."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from forgetfilter.chat import render_example
from forgetfilter.examples import Example


@dataclass(frozen=True)
class Tokenized:
    """Token ids of prompt + response; ``response_start`` is where the response begins."""

    input_ids: list[int]
    response_start: int

    @property
    def response_length(self) -> int:
        return len(self.input_ids) - self.response_start


def tokenize(tokenizer: Any, example: Example, *, max_length: int) -> Tokenized:
    """Prompt and response tokens; an over-long prompt loses its start, the response is kept first."""
    prompt, response = render_example(tokenizer, example)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    response_ids = tokenizer(response, add_special_tokens=False)["input_ids"][: max_length - 1]
    keep_prompt = max(1, max_length - len(response_ids))
    prompt_ids = prompt_ids[-keep_prompt:] if prompt_ids else [tokenizer.eos_token_id]
    return Tokenized(input_ids=prompt_ids + response_ids, response_start=len(prompt_ids))


def length_grouped_batches(lengths: Sequence[int], batch_size: int, *, seed: int | None) -> list[list[int]]:
    """Batches of similar length (little padding) in random order; ``seed=None`` keeps input order."""
    order = list(range(len(lengths)))
    if seed is None:
        order.sort(key=lambda i: lengths[i])
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    rng = random.Random(seed)
    rng.shuffle(order)
    megabatch = batch_size * 16  # sort within mega-batches so batches stay random across epochs
    batches: list[list[int]] = []
    for start in range(0, len(order), megabatch):
        chunk = sorted(order[start : start + megabatch], key=lambda i: lengths[i])
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def collate(items: Sequence[Tokenized], pad_id: int) -> dict[str, Any]:
    """Right-padded tensors; ``labels`` are -100 outside the response so the loss reads responses only."""
    import torch

    width = max(len(item.input_ids) for item in items)
    input_ids = torch.full((len(items), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(items), width), dtype=torch.long)
    labels = torch.full((len(items), width), -100, dtype=torch.long)
    for row, item in enumerate(items):
        ids = torch.tensor(item.input_ids, dtype=torch.long)
        input_ids[row, : len(ids)] = ids
        attention[row, : len(ids)] = 1
        labels[row, item.response_start : len(ids)] = ids[item.response_start :]
    return {"input_ids": input_ids, "attention_mask": attention, "labels": labels}
