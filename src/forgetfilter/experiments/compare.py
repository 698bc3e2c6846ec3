"""How sure is a difference between two methods? A paired bootstrap over the evaluation prompts of one run, or of
several runs (seeds) pooled.

Every method of an experiment is evaluated on the same prompts, so the difference of a metric between two
methods is resampled prompt by prompt (the same resampled prompts for both), which is tighter than comparing
two independent intervals. Pooled runs are resampled each within itself, and a metric that reads a subset of the
prompts (s_AMB: the ambiguous BBQ items) is resampled within that subset.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from forgetfilter.errors import ConfigError
from forgetfilter.evaluate.registry import REGISTRY, Record, Suite

# suites whose metrics can be recomputed from per-prompt records (the registry's per_prompt)
COMPARABLE: dict[str, Suite] = {s.name: s for s in REGISTRY.values() if s.per_prompt}


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
    n_prompts: int  # the prompts the metric reads (s_amb: the ambiguous items), summed over runs
    n_boot: int  # resamples with a defined value (s_amb is undefined when no answer names a group)
    n_runs: int = 1  # runs (seeds) pooled

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


def _run_pairs(run: Path, method_a: str, method_b: str, spec: Suite) -> tuple[list[Record], list[Record]]:
    """The paired records of one run, restricted to the prompts the suite's metrics read."""
    a, b = _paired(
        read_generations(run, method_a, spec.name),
        read_generations(run, method_b, spec.name),
        spec.record_fields,
        f"{run} ({spec.name}: {method_a} vs {method_b})",
    )
    if spec.refresh is not None:
        a, b = [spec.refresh(r) for r in a], [spec.refresh(r) for r in b]
    if spec.subset is not None:
        keep = [i for i, record in enumerate(a) if spec.subset(record)]
        a, b = [a[i] for i in keep], [b[i] for i in keep]
    if not a:
        raise ConfigError(f"{run} ({spec.name}): no prompt of the kind the metric reads; nothing to compare")
    return a, b


def compare_methods(
    run_dir: str | Path | Sequence[str | Path],
    method_a: str,
    method_b: str,
    suite: str,
    *,
    metric: str | None = None,
    magnitude: bool = False,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> Comparison:
    """Paired bootstrap of ``metric(a) - metric(b)`` over the prompts both methods answered.

    ``run_dir``: one run, or several runs of the same config (other seeds) to pool: the metric is computed on the
    union of their records, and each resample draws prompts within each run (stratified by run) and, where the
    metric reads a subset (s_AMB: the ambiguous items), within that subset only. ``metric``: the suite's headline
    by default; bias also offers ``s_amb_parsed``, ``accuracy_ambiguous`` and
    ``accuracy_ambiguous_parsed`` (``_parsed``: unparseable answers left out instead of counted wrong).
    ``magnitude``: compare absolute values (|s_AMB|: for a metric whose best value is 0, the sign is the direction).
    """
    if suite not in COMPARABLE:
        raise ConfigError(f"no per-prompt metric for suite {suite!r}; choose one of {', '.join(COMPARABLE)}")
    spec = COMPARABLE[suite]
    metric = metric or spec.headline
    if metric not in spec.per_prompt:
        raise ConfigError(
            f"suite {suite} has no per-prompt metric {metric!r}; choose one of {', '.join(spec.per_prompt)}"
        )
    if n_boot < 1 or not 0 < level < 1:
        raise ConfigError(f"need n_boot >= 1 and 0 < level < 1, got {n_boot} and {level}")
    runs = [Path(run_dir)] if isinstance(run_dir, str | Path) else [Path(r) for r in run_dir]
    if not runs or len(set(runs)) != len(runs):
        raise ConfigError(f"give one or more distinct runs to compare in, got {[str(r) for r in runs]}")
    signed = spec.per_prompt[metric]

    def value(records: list[Record]) -> float:
        return abs(signed(records)) if magnitude else signed(records)

    pairs = [_run_pairs(run, method_a, method_b, spec) for run in runs]
    all_a = [r for a, _ in pairs for r in a]
    all_b = [r for _, b in pairs for r in b]
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(n_boot):
        sample_a, sample_b = [], []
        for a, b in pairs:
            idx = rng.integers(0, len(a), len(a))
            sample_a += [a[i] for i in idx]
            sample_b += [b[i] for i in idx]
        d = value(sample_a) - value(sample_b)
        if not math.isnan(d):
            diffs.append(d)
    value_a, value_b = value(all_a), value(all_b)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(diffs, [tail, 100 - tail]).tolist() if diffs else [math.nan, math.nan]
    return Comparison(
        suite,
        f"|{metric}|" if magnitude else metric,
        method_a,
        method_b,
        value_a,
        value_b,
        value_a - value_b,
        low,
        high,
        level,
        len(all_a),
        len(diffs),
        len(runs),
    )
