"""How sure is a difference between two methods? A paired bootstrap over the evaluation prompts of one run.

Every method of an experiment is evaluated on the same prompts, so the difference of a metric between two
methods is resampled prompt by prompt (the same resampled prompts for both), which is tighter than comparing
two independent intervals.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from forgetfilter.errors import ConfigError
from forgetfilter.evaluate.registry import REGISTRY, Record

# suite -> (headline metric, its value from per-prompt records, fields each record must have), from the registry
METRICS: dict[str, tuple[str, Callable[[Sequence[Record]], float], tuple[str, ...]]] = {
    s.name: (s.headline, s.per_prompt, s.record_fields)
    for s in REGISTRY.values()
    if s.headline is not None and s.per_prompt is not None
}


@dataclass(frozen=True)
class Comparison:
    """``diff = value_a - value_b`` with a percentile bootstrap interval ``[low, high]`` at ``level``."""

    suite: str
    metric: str
    method_a: str
    method_b: str
    value_a: float
    value_b: float
    diff: float
    low: float
    high: float
    level: float
    n_prompts: int
    n_boot: int  # resamples with a defined value (s_amb is undefined when no answer names a group)

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


def read_generations(run_dir: Path, method: str, suite: str) -> list[Record]:
    """Per-prompt records of ``method`` on ``suite`` from ``RUN/eval/<method>/generations_<suite>.jsonl``."""
    path = Path(run_dir) / "eval" / method / f"generations_{suite}.jsonl"
    if not path.is_file():
        done = sorted(p.name for p in (Path(run_dir) / "eval").glob("*")) if (Path(run_dir) / "eval").is_dir() else []
        raise ConfigError(f"{path} does not exist (evaluated methods in {run_dir}: {', '.join(done) or 'none'})")
    records = []
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}, line {line_no}: not valid JSON ({exc.msg})") from None
    return records


def _paired(a: list[Record], b: list[Record], fields: tuple[str, ...], where: str) -> tuple[list[Record], list[Record]]:
    for name, records in (("a", a), ("b", b)):
        for i, r in enumerate(records, start=1):
            missing = [f for f in (*fields, "id") if f not in r]
            if missing:
                raise ConfigError(f"{where}: record {i} of method {name} lacks {', '.join(missing)}")
    by_id = {r["id"]: r for r in b}
    if len(by_id) != len(b) or {r["id"] for r in a} != set(by_id) or len(a) != len(b):
        raise ConfigError(
            f"{where}: the two methods were not evaluated on the same prompts; a paired comparison needs them"
        )
    return a, [by_id[r["id"]] for r in a]


def compare_methods(
    run_dir: str | Path,
    method_a: str,
    method_b: str,
    suite: str,
    *,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> Comparison:
    """Paired bootstrap of ``metric(a) - metric(b)`` over the prompts both methods answered."""
    if suite not in METRICS:
        raise ConfigError(f"no per-prompt metric for suite {suite!r}; choose one of {', '.join(METRICS)}")
    if n_boot < 1 or not 0 < level < 1:
        raise ConfigError(f"need n_boot >= 1 and 0 < level < 1, got {n_boot} and {level}")
    metric, value, fields = METRICS[suite]
    a, b = _paired(
        read_generations(Path(run_dir), method_a, suite),
        read_generations(Path(run_dir), method_b, suite),
        fields,
        f"{run_dir} ({suite}: {method_a} vs {method_b})",
    )
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(a), len(a))
        d = value([a[i] for i in idx]) - value([b[i] for i in idx])
        if not math.isnan(d):
            diffs.append(d)
    value_a, value_b = value(a), value(b)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(diffs, [tail, 100 - tail]).tolist() if diffs else [math.nan, math.nan]
    return Comparison(
        suite, metric, method_a, method_b, value_a, value_b, value_a - value_b, low, high, level, len(a), len(diffs)
    )
