"""Copy the records of a finished `forgetfilter experiment` run (no model weights) so they can be committed.

A run folder holds checkpoints and adapters (hundreds of MB) beside small records: the per-prompt generations and
metrics of every method, the filter's scores and summary, the selections, the interleaved points, the stage times,
the resolved config and the versions. `forgetfilter claims` and `forgetfilter compare` read only the records, so a
copy of them lets a later session pool a run it no longer has on disk (the pooled seeds of docs/results.md).

    python bench/keep_records.py runs/study-bias-s2 docs/records/study-bias-s2

Every folder that holds model weights (a ``*.safetensors`` file) or a training checkpoint is skipped whole, and so
are the inputs the run rebuilds from the shared datasets and its seed (``INPUTS``; ``--with-inputs`` keeps them); the
other files with a record suffix are copied, keeping their paths; a file over ``--max-mib`` is an error, never dropped
quietly. The destination must not exist (no record is ever written over). Prints what it copied and skipped.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

RECORD_SUFFIXES = (".json", ".jsonl", ".md", ".yaml", ".yml", ".txt", ".csv", ".png")
# inputs the run rebuilds from ../shared/datasets and its seed (their sha256 are in versions.json), and the filter's
# kept/removed copies of D_noisy (its scores.jsonl holds each example's decision): left out unless --with-inputs
INPUTS = ("data", "eval_inputs", "filter/kept.*", "filter/removed.*")


def _holds_weights(folder: Path) -> bool:
    return any(folder.glob("*.safetensors")) or folder.name.startswith("checkpoint")


def _is_input(rel: Path) -> bool:
    return any(rel.is_relative_to(p) or rel.match(p) for p in INPUTS)


def record_files(run: Path, with_inputs: bool = False) -> tuple[list[Path], list[Path]]:
    """(record files to keep, model folders skipped), both relative to ``run``, sorted."""
    skipped = sorted(d.relative_to(run) for d in run.rglob("*") if d.is_dir() and _holds_weights(d))
    kept = []
    for f in run.rglob("*"):
        rel = f.relative_to(run)
        weights = any(rel.is_relative_to(s) for s in skipped)
        if f.is_file() and f.suffix in RECORD_SUFFIXES and not weights and (with_inputs or not _is_input(rel)):
            kept.append(rel)
    return sorted(kept), skipped


def keep_records(run: Path, dest: Path, max_mib: float = 5.0, with_inputs: bool = False) -> list[Path]:
    """Copy the record files of ``run`` to ``dest`` (which must not exist); returns the copied relative paths."""
    if not (run / "stages.json").is_file():
        raise SystemExit(f"{run}: not a run folder (no stages.json)")
    if dest.exists():
        raise SystemExit(f"{dest}: exists; records are never written over (choose a new folder)")
    kept, skipped = record_files(run, with_inputs)
    mib = {f: (run / f).stat().st_size / 2**20 for f in kept}
    too_big = [f"{f} ({size:.1f} MiB)" for f, size in mib.items() if size > max_mib]
    if too_big:
        raise SystemExit(
            f"{run}: record files over {max_mib} MiB: {', '.join(too_big)}; raise --max-mib or leave them out by hand"
        )
    for f in kept:
        (dest / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(run / f, dest / f)
    print(f"copied {len(kept)} record files ({sum(mib.values()):.2f} MiB) from {run} to {dest}")
    for s in skipped:
        print(f"skipped model folder: {s}")
    return kept


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("dest", type=Path)
    parser.add_argument("--max-mib", type=float, default=5.0, help="largest record file allowed (MiB)")
    parser.add_argument("--with-inputs", action="store_true", help="also the rebuilt inputs: " + ", ".join(INPUTS))
    args = parser.parse_args(argv)
    keep_records(args.run, args.dest, args.max_mib, args.with_inputs)


if __name__ == "__main__":
    main(sys.argv[1:])
