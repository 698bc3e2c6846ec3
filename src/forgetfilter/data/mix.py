"""The paper's noisy mixes: D_noisy (unsafe + safe + SQuAD + Alpaca), D_safe, and held-out evaluation sets."""

from __future__ import annotations

import difflib
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from forgetfilter.data.kinds import bias_parts, harmfulness_parts, task_parts, toxicity_parts
from forgetfilter.data.sampling import Parts, equal_split, shuffled
from forgetfilter.errors import ConfigError
from forgetfilter.examples import Example
from forgetfilter.paths import resolve_data_dir

KINDS = ("bias", "toxicity", "harmfulness", "mixed")
SAFETY_KINDS = ("bias", "toxicity", "harmfulness")
DEFAULT_N_EVAL = 200


@dataclass
class Mix:
    """A built mix: ``files`` maps ``d_noisy``, ``d_safe`` and ``eval_<name>`` to their examples."""

    kind: str
    files: dict[str, list[Example]]
    params: dict[str, Any]
    dropped: dict[str, int] = field(default_factory=dict)

    @property
    def d_noisy(self) -> list[Example]:
        return self.files["d_noisy"]

    @property
    def d_safe(self) -> list[Example]:
        return self.files["d_safe"]


def mix_counts(n: int, unsafe_ratio: float) -> dict[str, int]:
    """Rounding: unsafe = floor(n·r + 0.5); the rest split equally into safe, SQuAD, Alpaca, remainder to
    safe then SQuAD. At n=600, r=0.5: 300/100/100/100 (3:1:1:1); at r=0.25: 150/150/150/150."""
    unsafe = math.floor(n * unsafe_ratio + 0.5)
    safe, squad, alpaca = equal_split(n - unsafe, 3)
    return {"unsafe": unsafe, "safe": safe, "squad": squad, "alpaca": alpaca}


def _check(kind: str, n: int, unsafe_ratio: float, n_safe: int, n_eval: int) -> None:
    if kind not in KINDS:
        close = difflib.get_close_matches(kind, KINDS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown kind {kind!r}; choose one of {', '.join(KINDS)}{hint}")
    if n < 1 or n_safe < 0 or n_eval < 0:
        raise ConfigError(f"sizes must be positive: n={n}, n_safe_finetune={n_safe}, n_eval={n_eval}")
    if not 0.0 <= unsafe_ratio <= 1.0:
        raise ConfigError(f"unsafe_ratio must be in [0, 1], got {unsafe_ratio}")


def build_mix(
    kind: str,
    *,
    n: int,
    unsafe_ratio: float = 0.5,
    seed: int = 0,
    data_dir: str | Path | None = None,
    n_safe_finetune: int | None = None,
    n_eval: int | None = None,
    pile_detoxify: str | Path | None = None,
    harmfulqa_conversations: str | Path | None = None,
) -> Mix:
    """Build D_noisy (exactly ``n`` examples, see ``mix_counts``), D_safe (default ``n // 2`` safe examples of the
    same kind, disjoint from D_noisy) and evaluation sets (``n_eval`` each, default 200) for ``kind``.

    ``mixed`` splits the unsafe, safe and D_safe shares equally over bias, toxicity and harmfulness. Optional
    local files replace the offline substitutes: a pile-detoxify parquet shard, HarmfulQA ``data_for_hub.json``.
    """
    n_safe = n // 2 if n_safe_finetune is None else n_safe_finetune
    n_eval = DEFAULT_N_EVAL if n_eval is None else n_eval
    _check(kind, n, unsafe_ratio, n_safe, n_eval)
    root = resolve_data_dir(data_dir)
    rng = random.Random(seed)
    counts = mix_counts(n, unsafe_ratio)
    kinds = SAFETY_KINDS if kind == "mixed" else (kind,)
    shares = zip(
        kinds,
        equal_split(counts["unsafe"], len(kinds)),
        equal_split(counts["safe"], len(kinds)),
        equal_split(n_safe, len(kinds)),
        strict=True,
    )
    extra = {
        "toxicity": {"pile_detoxify": Path(pile_detoxify) if pile_detoxify else None},
        "harmfulness": {"harmfulqa_conversations": Path(harmfulqa_conversations) if harmfulqa_conversations else None},
    }
    builders = {"bias": bias_parts, "toxicity": toxicity_parts, "harmfulness": harmfulness_parts}
    parts = [
        builders[k](root, rng, k_unsafe, k_safe, k_dsafe, n_eval, **extra.get(k, {}))
        for k, k_unsafe, k_safe, k_dsafe in shares
    ]
    parts.append(task_parts(root, rng, counts["squad"], counts["alpaca"], n_eval))
    params = {
        "kind": kind,
        "n": n,
        "unsafe_ratio": unsafe_ratio,
        "seed": seed,
        "n_safe_finetune": n_safe,
        "n_eval": n_eval,
        "counts": counts,
        "pile_detoxify": str(pile_detoxify or ""),
        "harmfulqa_conversations": str(harmfulqa_conversations or ""),
        "data_dir": str(root),
    }
    return _assemble(kind, parts, params, rng)


def _assemble(kind: str, parts: list[Parts], params: dict[str, Any], rng: random.Random) -> Mix:
    noisy = [e for p in parts for e in (*p.unsafe, *p.safe, *p.task)]
    files = {"d_noisy": shuffled(noisy, rng), "d_safe": shuffled([e for p in parts for e in p.d_safe], rng)}
    for part in parts:
        files.update(part.evals)
    dropped: dict[str, int] = {}
    for part in parts:
        for reason, count in part.dropped.items():
            dropped[reason] = dropped.get(reason, 0) + count
    return Mix(kind, files, params, dict(sorted(dropped.items())))
