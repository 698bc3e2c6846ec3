"""How sure is a difference between two methods? A paired bootstrap over the evaluation prompts of one run, or of
several runs (seeds) pooled.

Every method of an experiment is evaluated on the same prompts, so the difference of a metric between two
methods is resampled prompt by prompt (the same resampled prompts for both), which is tighter than comparing
two independent intervals. Pooled runs are resampled each within itself, and a metric that reads a subset of the
prompts (s_AMB: the ambiguous BBQ items) is resampled within that subset.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from forgetfilter.data.jsonl import read_jsonl
from forgetfilter.errors import ConfigError
from forgetfilter.evaluate.registry import REGISTRY, Record, Suite
from forgetfilter.experiments.run_groups import RunGroup, group_runs, method_run

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
    n_prompts: int  # the prompts the metric reads (s_amb: the ambiguous items; squad_f1: SQuAD's), summed over runs
    n_boot: int  # resamples with a defined value (s_amb is undefined when no answer names a group)
    n_runs: int = 1  # runs (seeds) pooled
    per_run: tuple[float, ...] = ()  # each pooled run's own difference (the seed-to-seed spread), in run order

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


def read_generations(run_dir: Path | RunGroup, method: str, suite: str) -> list[Record]:
    """Per-prompt records of ``method`` on ``suite`` from ``RUN/eval/<method>/generations_<suite>.jsonl``; ``run_dir``
    may be a run with its companions (``run_groups``), of which one holds the method."""
    group = (Path(run_dir),) if isinstance(run_dir, str | Path) else run_dir
    name = f"generations_{suite}.jsonl"
    path = method_run(group, method, name) / "eval" / method / name
    if not path.is_file():
        done = sorted({p.name for run in group for p in (run / "eval").glob("*")})
        where = " and ".join(map(str, group))
        raise ConfigError(f"{path} does not exist (evaluated methods in {where}: {', '.join(done) or 'none'})")
    return read_records(path)


def read_records(path: Path) -> list[Record]:
    """The records of one ``generations_<suite>.jsonl`` file."""
    if not path.is_file():
        raise ConfigError(f"{path} does not exist")
    return [record for _, record in read_jsonl(path)]


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


def _run_pairs(group: RunGroup, method_a: str, method_b: str, spec: Suite) -> tuple[list[Record], list[Record]]:
    """The paired records of one run's two methods (each from the folder of the group that holds it)."""
    return pair_records(
        read_generations(group, method_a, spec.name),
        read_generations(group, method_b, spec.name),
        spec,
        f"{' + '.join(map(str, group))} ({spec.name}: {method_a} vs {method_b})",
    )


def pair_records(a: list[Record], b: list[Record], spec: Suite, where: str) -> tuple[list[Record], list[Record]]:
    """Two models' records on the same prompts, paired by id, refreshed (BBQ: parsed again) and restricted to the
    prompts the suite's metrics read; ``where`` names them in errors."""
    a, b = _paired(a, b, spec.record_fields, where)
    if spec.refresh is not None:
        a, b = [spec.refresh(r) for r in a], [spec.refresh(r) for r in b]
    if spec.subset is not None:
        keep = [i for i, record in enumerate(a) if spec.subset(record)]
        a, b = [a[i] for i in keep], [b[i] for i in keep]
    if not a:
        raise ConfigError(f"{where}: no prompt of the kind the metric reads; nothing to compare")
    return a, b


def compare_methods(
    run_dir: str | Path | Sequence[str | Path],
    method_a: str,
    method_b: str,
    suite: str,
    *,
    companions: Sequence[str | Path] = (),
    metric: str | None = None,
    magnitude: bool = False,
    relative: bool = False,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> Comparison:
    """Paired bootstrap of ``metric(a) - metric(b)`` over the prompts both methods answered.

    ``run_dir``: one run, or several runs of the same config (other seeds) to pool: the metric is computed on the
    union of their records, and each resample draws prompts within each run (stratified by run) and, where the
    metric reads a subset (s_AMB: the ambiguous items), within that subset only. ``companions``: runs that added
    methods to those runs (baselines or oracle runs made with ``filter_from``), each joined to the run whose data
    and prompts it shares (sha256 in ``versions.json``), so their methods compare as if in that run. ``metric``:
    the suite's headline by default (task: ``squad_f1``); bias also offers ``s_amb_parsed``,
    ``accuracy_ambiguous`` and ``accuracy_ambiguous_parsed`` (``_parsed``: unparseable answers left out instead of
    counted wrong); task ``alpaca_rouge_l`` and ``squad_exact_match``. ``magnitude``: compare absolute values
    (|s_AMB|: for a metric whose best value is 0, the sign is the direction). ``relative``: ``(a - b) / b`` instead
    of ``a - b`` ("75% lower" is -0.75).
    """
    _check(suite_spec(suite), metric, n_boot, level)  # before reading any file
    runs = [run_dir] if isinstance(run_dir, str | Path) else list(run_dir)
    return compare_groups(
        group_runs(runs, companions),
        method_a,
        method_b,
        suite,
        metric=metric,
        magnitude=magnitude,
        relative=relative,
        n_boot=n_boot,
        level=level,
        seed=seed,
    )


def compare_groups(groups: Sequence[RunGroup], method_a: str, method_b: str, suite: str, **options: Any) -> Comparison:
    """``compare_methods`` on runs already grouped with their companions (``run_groups.group_runs``); ``options``:
    ``bootstrap_pairs``'s keywords (metric, magnitude, relative, n_boot, level, seed), checked there."""
    spec = suite_spec(suite)
    pairs = [_run_pairs(group, method_a, method_b, spec) for group in groups]
    return bootstrap_pairs(pairs, suite, method_a, method_b, **options)


def suite_spec(suite: str) -> Suite:
    if suite not in COMPARABLE:
        raise ConfigError(f"no per-prompt metric for suite {suite!r}; choose one of {', '.join(COMPARABLE)}")
    return COMPARABLE[suite]


def bootstrap_pairs(
    pairs: Sequence[tuple[list[Record], list[Record]]],
    suite: str,
    name_a: str,
    name_b: str,
    *,
    metric: str | None = None,
    magnitude: bool = False,
    relative: bool = False,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> Comparison:
    """The paired bootstrap of ``compare_methods`` on record pairs already read (one pair per run; see
    ``pair_records``): each resample draws prompts within each run and within each stratum of the suite."""
    spec = suite_spec(suite)
    metric = _check(spec, metric, n_boot, level)
    signed = spec.per_prompt[metric]

    def value(records: list[Record]) -> float:
        return abs(signed(records)) if magnitude else signed(records)

    def difference(records_a: list[Record], records_b: list[Record]) -> float:
        va, vb = value(records_a), value(records_b)
        if relative:
            return (va - vb) / vb if vb else math.nan
        return va - vb

    strata = [_strata(a, spec) for a, _ in pairs]
    all_a = [r for a, _ in pairs for r in a]
    all_b = [r for _, b in pairs for r in b]
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(n_boot):
        sample_a, sample_b = [], []
        for (a, b), groups in zip(pairs, strata, strict=True):
            for group in groups:
                idx = group[rng.integers(0, len(group), len(group))]
                sample_a += [a[i] for i in idx]
                sample_b += [b[i] for i in idx]
        d = difference(sample_a, sample_b)
        if not math.isnan(d):
            diffs.append(d)
    value_a, value_b = value(all_a), value(all_b)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(diffs, [tail, 100 - tail]).tolist() if diffs else [math.nan, math.nan]
    shown = f"|{metric}|" if magnitude else metric
    return Comparison(
        suite,
        f"{shown} relative" if relative else shown,
        name_a,
        name_b,
        value_a,
        value_b,
        difference(all_a, all_b),
        low,
        high,
        level,
        _count(all_a, spec, metric),
        len(diffs),
        len(pairs),
        tuple(difference(a, b) for a, b in pairs) if len(pairs) > 1 else (),
    )


def _check(spec: Suite, metric: str | None, n_boot: int, level: float) -> str:
    """The metric to compare (the suite's headline, or its first per-prompt metric), checked with the settings."""
    metric = metric or spec.headline or next(iter(spec.per_prompt))
    if metric not in spec.per_prompt:
        raise ConfigError(
            f"suite {spec.name} has no per-prompt metric {metric!r}; choose one of {', '.join(spec.per_prompt)}"
        )
    if n_boot < 1 or not 0 < level < 1:
        raise ConfigError(f"need n_boot >= 1 and 0 < level < 1, got {n_boot} and {level}")
    return metric


def _count(records: list[Record], spec: Suite, metric: str) -> int:
    """The prompts the metric reads: the records of its stratum where it reads one (squad_f1: SQuAD's)."""
    if metric not in spec.reads or spec.stratum is None:
        return len(records)
    return sum(spec.stratum(r) == spec.reads[metric] for r in records)


def _strata(records: list[Record], spec: Suite) -> list[np.ndarray]:
    """Indices of the records by stratum (task: SQuAD and Alpaca prompts), resampled separately."""
    if spec.stratum is None:
        return [np.arange(len(records))]
    keys = [spec.stratum(r) for r in records]
    return [np.array([i for i, k in enumerate(keys) if k == key]) for key in sorted(set(keys))]
