"""Deterministic sampling helpers for the mix builder: sort by id, shuffle with one seeded generator."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field

from forgetfilter.errors import ConfigError
from forgetfilter.examples import Example


@dataclass
class Parts:
    """One safety kind's share of a build: training lists, evaluation sets, and dropped-record counts."""

    unsafe: list[Example] = field(default_factory=list)
    safe: list[Example] = field(default_factory=list)
    d_safe: list[Example] = field(default_factory=list)
    task: list[Example] = field(default_factory=list)
    evals: dict[str, list[Example]] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)


def equal_split(total: int, k: int) -> list[int]:
    """``total`` split into ``k`` parts differing by at most one; the first parts get the remainder."""
    return [total // k + (1 if i < total % k else 0) for i in range(k)]


def shuffled(items: Sequence[Example], rng: random.Random) -> list[Example]:
    """A copy sorted by id, then shuffled (so the result depends only on the items and the seed)."""
    out = sorted(items, key=lambda e: e.id)
    rng.shuffle(out)
    return out


def sample(items: Sequence[Example], k: int, rng: random.Random, *, what: str) -> list[Example]:
    """``k`` items drawn without replacement; a ConfigError naming the pool when it is too small."""
    if k > len(items):
        raise ConfigError(
            f"asked for {k} {what} examples but only {len(items)} are available; lower --n, --n-safe or --n-eval"
        )
    return shuffled(items, rng)[:k]


def partition(
    items: Sequence[Example], sizes: Sequence[int], rng: random.Random, *, what: str, key: Callable[[Example], Hashable]
) -> list[list[Example]]:
    """Disjoint slices of exactly ``sizes`` examples, no group (``key``) split across slices.

    Groups are shuffled and each fills the current slice; a group that overflows it is trimmed (its rest unused).
    """
    groups: dict[Hashable, list[Example]] = defaultdict(list)
    for example in sorted(items, key=lambda e: e.id):
        groups[key(example)].append(example)
    order = sorted(groups, key=lambda g: groups[g][0].id)
    rng.shuffle(order)
    slices: list[list[Example]] = [[] for _ in sizes]
    current = 0
    for group in order:
        while current < len(sizes) and len(slices[current]) >= sizes[current]:
            current += 1
        if current == len(sizes):
            break
        slices[current].extend(groups[group][: sizes[current] - len(slices[current])])
    if any(len(s) < size for s, size in zip(slices, sizes, strict=True)):
        raise ConfigError(
            f"asked for {sum(sizes)} {what} examples ({list(sizes)}) but only {len(items)} are "
            "available; lower --n, --n-safe or --n-eval"
        )
    return slices


def usable(items: Sequence[Example], dropped: dict[str, int]) -> list[Example]:
    """Items with a non-empty response and no ``malformed`` mark, and no repeated (prompt, response) text;
    the others are counted in ``dropped`` under ``"<source>: <reason>"``."""
    out, seen = [], set()
    for example in sorted(items, key=lambda e: e.id):
        reason = None
        content = (example.prompt_text, example.response)
        if not example.response.strip():
            reason = "empty response"
        elif example.meta.get("malformed"):
            reason = "malformed dialogue"
        elif content in seen:
            reason = "duplicate text"
        if reason:
            label = f"{example.source}: {reason}"
            dropped[label] = dropped.get(label, 0) + 1
            continue
        seen.add(content)
        out.append(example)
    return out
