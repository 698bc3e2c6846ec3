"""Reuse a finished ForgetFilter run's selection (``filter_from``) instead of training M1 and M2 again.

An earlier run of the same data and settings (its ``RUN/filter`` folder, or kept records of it without weights)
already decided which examples ForgetFilter removes. Baselines added later (replay, the random filter, the oracle)
can then be trained and compared against that same selection without the filter's sessions. The folder must hold
``fingerprint.json`` matching this run's model, sessions and data, and ``scores.jsonl`` with one row per example of
D_noisy; its files are copied into ``RUN/filter`` (with ``reused_from.json``) so the report reads them as its own.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from forgetfilter.config import FilterConfig
from forgetfilter.data.jsonl import read_jsonl
from forgetfilter.data.sources._common import read_json
from forgetfilter.errors import ConfigError, DataError
from forgetfilter.examples import Example
from forgetfilter.experiments.methods import MethodSelection
from forgetfilter.run_dir import (
    FINGERPRINT,
    OUTPUT_NAMES,
    fingerprint,
    fingerprint_differences,
    scores_marker,
    write_atomic,
)

REUSED = "reused_from.json"
ALSO_COPIED = (
    "scores_m0.json",
    "scores_m1.json",
    "scores_m2.json",
    "curves.jsonl",
    "curves.png",
    "forgetting_hist.png",
)


def load_reused_filter(
    source: str | Path, config: FilterConfig, noisy: list[Example], safe: list[Example]
) -> MethodSelection:
    """ForgetFilter's selection read from ``source``; a ConfigError/DataError naming the file when the folder is
    not a finished filter run of this same data and these same settings."""
    source = Path(source)
    if not source.is_dir():
        raise ConfigError(f"filter_from: {source} is not a folder (give an earlier run's RUN/filter)")
    for name in OUTPUT_NAMES:
        if not (source / name).is_file():
            raise ConfigError(f"filter_from: {source} has no {name}: not a finished ForgetFilter run")
    changed = fingerprint_differences(read_json(source / FINGERPRINT), fingerprint(config, noisy, safe))
    if changed:
        diffs = "; ".join(f"{key}: {was!r:.60} -> {now!r:.60}" for key, was, now in changed[:4])
        raise ConfigError(f"filter_from: {source} was run on other data or settings ({diffs})")
    _check_decision(source, config)
    rows = read_jsonl(source / "scores.jsonl", required=("id", "removed", "forgetting"))
    by_id = {row["id"]: row for _, row in rows}
    missing = [ex.id for ex in noisy if ex.id not in by_id]
    if missing or len(by_id) != len(noisy):
        raise DataError(
            f"scores.jsonl has {len(by_id)} examples for a D_noisy of {len(noisy)}"
            + (f"; missing ids: {', '.join(missing[:3])}" if missing else ""),
            path=source / "scores.jsonl",
        )
    mask = np.array([bool(by_id[ex.id]["removed"]) for ex in noisy], dtype=bool)
    scores = np.array([float(by_id[ex.id]["forgetting"]) for ex in noisy])
    return MethodSelection("forgetfilter", mask, scores)


# What decides the removals from the forgetting scores (the fingerprint covers the training): ``removed`` in the
# source's scores.jsonl was decided with the source's values of these, so a run asking for others must not read it.
DECISION_KEYS = ("signal", "token_selection", "phi", "fraction", "count", "threshold_method", "rise", "canary_fpr")


def _check_decision(source: Path, config: FilterConfig) -> None:
    """A ConfigError when the source decided its removals with other settings than ``config`` asks for (a key its
    config.json lacks is not compared: a folder from before that setting existed)."""
    recorded = read_json(source / "config.json")
    if not isinstance(recorded, dict):
        raise DataError("not a JSON object of filter settings", path=source / "config.json")
    wanted = config.to_dict()
    changed = [
        (key, recorded[key], wanted[key]) for key in DECISION_KEYS if key in recorded and recorded[key] != wanted[key]
    ]
    if changed:
        diffs = "; ".join(f"{key}: {was!r} -> {now!r}" for key, was, now in changed)
        raise ConfigError(
            f"filter_from: {source} decided its removals with other settings ({diffs}); set the same values, or "
            "decide the run again into a new folder and give filter_from=THAT (forgetfilter recut SOURCE --out "
            "NEW --threshold-method ...; add --data D_NOISY for kept records without kept/removed files)"
        )


def copy_reused_filter(source: str | Path, dest: Path) -> None:
    """The source's outputs copied into ``dest`` (this run's ``RUN/filter``), with ``reused_from.json`` naming the
    source and the sha256 of its scores; nothing is copied over a folder that holds another run's files."""
    source = Path(source)
    marker = scores_marker(source)
    if (dest / REUSED).is_file():
        if read_json(dest / REUSED) != marker:
            raise ConfigError(f"{dest} reuses another filter run ({dest / REUSED}); use another --out")
        return
    if dest.exists() and any(dest.iterdir()):
        raise ConfigError(f"{dest} holds a filter run of its own; use another --out to reuse {source}")
    dest.mkdir(parents=True, exist_ok=True)
    for name in (*OUTPUT_NAMES, *ALSO_COPIED):
        if (source / name).is_file():
            shutil.copyfile(source / name, dest / name)
    write_atomic(dest / REUSED, json.dumps(marker, indent=2) + "\n")
