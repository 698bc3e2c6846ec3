"""A study run together with the runs that added methods to it (``--with``): read as one run.

A baselines, oracle, replay or interleaved run made later with ``filter_from`` on the same config and seed
rebuilds the same D_noisy and evaluation prompts, byte for byte, and writes its methods to its own folder. Such a
*companion* is matched to the run whose data it shares by the sha256 of every data and prompt file both record in
``versions.json``, so a companion of another seed can never be paired by mistake.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from forgetfilter.errors import ConfigError

RunGroup = tuple[Path, ...]  # a run first, then its companions


def group_runs(runs: Sequence[str | Path], companions: Sequence[str | Path] = ()) -> list[RunGroup]:
    """Each run with the companions whose data it shares, in the order given; every companion must match exactly
    one run. Without companions nothing is read: each run is its own group."""
    paths, extra = [Path(r) for r in runs], [Path(c) for c in companions]
    every = [*paths, *extra]
    if not paths or len({p.resolve() for p in every}) != len(every):
        raise ConfigError(f"give one or more distinct runs, each once, got {[str(p) for p in every]}")
    if not extra:
        return [(p,) for p in paths]
    prints = {p: data_fingerprint(p) for p in paths}
    groups: dict[Path, list[Path]] = {p: [p] for p in paths}
    for companion in extra:
        own = data_fingerprint(companion)
        matches = [p for p in paths if _same_data(prints[p], own)]
        if not matches:
            raise ConfigError(
                f"{companion} shares its data with none of the runs given ({', '.join(map(str, paths))}): its "
                "D_noisy or prompts (sha256 in versions.json) differ; --with takes a run of the same config and "
                "seed as RUN or as one --pool run"
            )
        if len(matches) > 1:
            raise ConfigError(
                f"{companion} shares its data with {len(matches)} runs ({', '.join(map(str, matches))}): runs "
                "pooled must be of different seeds"
            )
        groups[matches[0]].append(companion)
    return [tuple(groups[p]) for p in paths]


def data_fingerprint(run: Path) -> dict[str, str]:
    """The sha256 of each data and prompt file the run recorded (``versions.json`` ``data``)."""
    path = run / "versions.json"
    if not path.is_file():
        raise ConfigError(f"{path} does not exist: without it {run} cannot be matched to a run of the same data")
    try:
        data = json.loads(path.read_text(encoding="utf-8")).get("data") or {}
        fingerprint = {str(name): str(entry["sha256"]) for name, entry in data.items()}
    except (json.JSONDecodeError, AttributeError, KeyError, TypeError) as err:
        raise ConfigError(f"{path}: not a run's versions.json (its data entries need a sha256): {err}") from None
    if "d_noisy" not in fingerprint:
        raise ConfigError(f"{path} records no sha256 of d_noisy, so {run} cannot be matched to a run")
    return fingerprint


def _same_data(a: dict[str, str], b: dict[str, str]) -> bool:
    """Same D_noisy and the same bytes in every other file both recorded."""
    return a["d_noisy"] == b["d_noisy"] and all(a[name] == b[name] for name in a.keys() & b.keys())


def method_run(group: RunGroup, method: str, relpath: str) -> Path:
    """The folder of ``group`` holding ``eval/<method>/<relpath>`` (the run itself when none does, so a missing file
    is named there); a method evaluated in two of them is refused rather than one picked."""
    return only_holding(group, f"eval/{method}/{relpath}", f"{method} is evaluated in")


def only_holding(group: RunGroup, relpath: str, what: str = "") -> Path:
    """The one folder of ``group`` that holds ``relpath`` (the run itself when none does); two are refused, since
    which to read would be a guess (``what`` opens the error)."""
    holding = [run for run in group if (run / relpath).exists()]
    if len(holding) > 1:
        raise ConfigError(
            f"{what or relpath + ' is in'} {' and '.join(map(str, holding))}: leave one of them out of --with"
        )
    return holding[0] if holding else group[0]


def first_holding(group: RunGroup, relpath: str) -> Path:
    """The first folder of ``group`` that holds ``relpath`` (a file or folder), else the run itself: for the
    filter's files, which a ``filter_from`` run copies from the run it reuses."""
    return next((run for run in group if (run / relpath).exists()), group[0])
