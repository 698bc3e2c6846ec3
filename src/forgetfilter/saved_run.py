"""Read a finished filter run folder back into a ForgetFilterResult, without a model.

The records come from ``RUN/kept.*`` and ``RUN/removed.*`` (the input's own records, schema and layout), or, for a
folder kept without them (kept records, ``bench/keep_records.py``), from the input data file itself, checked against
the run's fingerprint (the same examples in the same order); the order,
signals and decisions from ``RUN/scores.jsonl``, the cut from ``RUN/summary.json``, and the greedy answers on M1
and M2 from ``RUN/scores_m1.json``/``scores_m2.json`` when the run computed them (the ``rouge`` signal).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from forgetfilter.data.files import FILE_TYPES, Layout, file_type, parse_json
from forgetfilter.errors import DataError
from forgetfilter.examples import Example
from forgetfilter.result import ForgetFilterResult
from forgetfilter.selection import Threshold

RERUN = "the run folder changed after the run; run `forgetfilter filter` again"


@dataclass(frozen=True)
class SavedRun:
    """A run folder read back: ``result`` in input order, ``suffix`` the file type of its kept/removed files (the
    input's), ``sources`` every file it was read from."""

    path: Path
    result: ForgetFilterResult
    suffix: str
    sources: tuple[Path, ...]


def read_run(run_dir: str | Path, *, data_format: str | None = None, data: str | Path | None = None) -> SavedRun:
    """The run in ``run_dir`` as written by ``forgetfilter filter``; ``data_format`` as that run's ``--format``;
    ``data``: the run's input file (D_noisy), to read the examples from where the folder holds no kept/removed files.

    Raises DataError naming the file (and line) when a file is missing or does not match the others.
    """
    run_dir = Path(run_dir)
    scores_path = run_dir / "scores.jsonl"
    if not scores_path.is_file():
        raise DataError(
            "no scores.jsonl: not a finished filter run (run `forgetfilter filter --out` first)", path=run_dir
        )
    rows = _read_scores(scores_path)
    summary = _read_json(run_dir / "summary.json")
    if data is not None:
        examples, layout, suffix = _from_data(Path(data), data_format, rows, run_dir)
        parts_read: tuple[Path, ...] = (Path(data),)
    else:
        suffix = _suffix(run_dir)
        parts = {name: _read_part(run_dir / f"{name}{suffix}", data_format) for name in ("kept", "removed")}
        examples = _in_scores_order(rows, scores_path, {n: p[0] for n, p in parts.items()}, run_dir, suffix)
        layout = parts["kept"][1] if parts["kept"][0] or not parts["removed"][0] else parts["removed"][1]
        parts_read = tuple(run_dir / f"{n}{suffix}" for n in ("kept", "removed"))
    signals = [key[: -len("_m1")] for key in rows[0] if key.endswith("_m1")]
    before = {s: [row[f"{s}_m1"] for row in rows] for s in signals}
    after = {s: [row[f"{s}_m2"] for row in rows] for s in signals}
    ids = [row["id"] for row in rows]
    stored = _stored_scores(run_dir, ids)
    generations = [_generations(stored.get(m), ids) for m in ("m1", "m2")]
    if generations[0] is not None and generations[1] is not None:
        before["generations"], after["generations"] = generations
    reference, canaries = _m0_and_canaries(stored, len(ids))
    cut = summary.get("threshold") or {}
    stages = _read_json(run_dir / "stages.json") if (run_dir / "stages.json").is_file() else {}
    result = ForgetFilterResult(
        examples=examples,
        signal=summary.get("signal", "log_nll"),
        before=before,
        after=after,
        threshold=Threshold(
            phi=float(cut.get("phi", float("nan"))),
            method=cut.get("method", "fixed"),
            budget=cut.get("budget"),
            fpr=cut.get("fpr"),
        ),
        mask=np.array([bool(row["removed"]) for row in rows], dtype=bool),
        stages=stages,
        layout=layout,
        reference=reference,
        canaries=canaries,
    )
    sources = (scores_path, run_dir / "summary.json", *parts_read)
    return SavedRun(run_dir, result, suffix, sources)


def _read_scores(path: Path) -> list[dict[str, Any]]:
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise DataError(f"malformed JSON line: {exc}", path=path, line=number) from None
        missing = [k for k in ("id", "forgetting", "removed", "rank") if not isinstance(row, dict) or k not in row]
        if missing:
            raise DataError(f"a scores row needs {', '.join(missing)}; {RERUN}", path=path, line=number)
        rows.append(row)
    if not rows:
        raise DataError(f"no rows; {RERUN}", path=path)
    return rows


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise DataError(f"file not found; {RERUN}", path=path)
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise DataError(f"malformed JSON: {exc}; {RERUN}", path=path) from None
    if not isinstance(value, dict):
        raise DataError(f"expected a JSON object; {RERUN}", path=path)
    return value


def _suffix(run_dir: Path) -> str:
    """The extension of the run's kept/removed files (the input's file type)."""
    found = [s for s in FILE_TYPES if (run_dir / f"kept{s}").is_file() and (run_dir / f"removed{s}").is_file()]
    if not found:
        raise DataError(f"no kept.* and removed.* files ({', '.join(FILE_TYPES)}); {RERUN}", path=run_dir)
    if len(found) > 1:
        names = " and ".join(f"kept{s}" for s in found)
        raise DataError(f"holds {names} (two runs of one data in two formats?); move one pair away", path=run_dir)
    return found[0]


def _from_data(
    path: Path, data_format: str | None, rows: list[dict[str, Any]], run_dir: Path
) -> tuple[list[Example], Layout | None, str]:
    """The examples of the run's input file, its layout and suffix; a DataError unless they are the examples the run
    scored (the sha256 in ``fingerprint.json``), in the order of scores.jsonl."""
    from forgetfilter.data.formats import read_examples
    from forgetfilter.run_dir import FINGERPRINT, examples_digest

    read = read_examples(path, format=data_format)
    examples = list(read.examples)
    recorded = _read_json(run_dir / FINGERPRINT).get("d_noisy") or {}
    if recorded.get("sha256") != examples_digest(examples):
        raise DataError(
            f"not the data this run scored: {len(examples)} examples whose digest differs from d_noisy in "
            f"{run_dir / FINGERPRINT} ({recorded.get('n')} examples)",
            path=path,
        )
    if [ex.id for ex in examples] != [str(row["id"]) for row in rows]:
        raise DataError(f"its ids are not those of scores.jsonl, in order; {RERUN}", path=run_dir / "scores.jsonl")
    return examples, read.layout, path.suffix or ".jsonl"


def _read_part(path: Path, data_format: str | None) -> tuple[list[Example], Layout | None]:
    """The examples of a kept/removed file and its layout; an empty file (nothing kept or removed) is no error."""
    from forgetfilter.data.formats import read_examples

    kind = file_type(path)
    if kind == "parquet":
        import pyarrow.parquet as pq

        if pq.read_metadata(path).num_rows == 0:
            return [], Layout("parquet", arrow_schema=pq.read_schema(path))
    elif path.stat().st_size < 4096:  # "", "[]", a header-less empty CSV or a JSON wrapper around no records
        text = path.read_text(encoding="utf-8-sig")
        if not text.strip():
            return [], Layout(kind)
        if kind == "json":
            value = parse_json(text)
            if value == [] or (isinstance(value, dict) and value.get("data") == []):
                return [], Layout(kind, wrapper={**value, "data": None} if isinstance(value, dict) else None)
    read = read_examples(path, format=data_format)
    return list(read.examples), read.layout


def _in_scores_order(
    rows: list[dict[str, Any]], scores_path: Path, parts: dict[str, list[Example]], run_dir: Path, suffix: str
) -> list[Example]:
    """The examples of kept and removed in the order of scores.jsonl, checked against its ``removed`` column."""
    where: dict[str, tuple[str, Example]] = {}
    for name, examples in parts.items():
        for ex in examples:
            if ex.id in where:
                raise DataError(f"id {ex.id!r} is in both kept{suffix} and removed{suffix}; {RERUN}", path=run_dir)
            where[ex.id] = (name, ex)
    ordered = []
    for number, row in enumerate(rows, start=1):
        name, ex = where.pop(str(row["id"]), (None, None))
        if ex is None:
            raise DataError(f"id {row['id']!r} is in no kept/removed file; {RERUN}", path=scores_path, line=number)
        if (name == "removed") != bool(row["removed"]):
            said = "removed" if row["removed"] else "kept"
            raise DataError(
                f"id {row['id']!r} is {said} here but in {name}{suffix}; {RERUN}", path=scores_path, line=number
            )
        ordered.append(ex)
    if where:
        extra, (name, _) = next(iter(where.items()))
        raise DataError(
            f"{len(where)} examples are not in scores.jsonl, e.g. id {extra!r}; {RERUN}",
            path=run_dir / f"{name}{suffix}",
        )
    return ordered


def _stored_scores(run_dir: Path, ids: list[str]) -> dict[str, dict[str, Any]]:
    """``scores_m0.json``, ``scores_m1.json`` and ``scores_m2.json`` by model, those the run wrote, each checked to
    score these examples first (then its canaries, when the run had them)."""
    stored: dict[str, dict[str, Any]] = {}
    for model in ("m0", "m1", "m2"):
        path = run_dir / f"scores_{model}.json"
        if path.is_file():
            record = _read_json(path)
            if not isinstance(record.get("signals"), dict) or not isinstance(record.get("ids"), list):
                raise DataError(f"no 'ids' and 'signals' in it; {RERUN}", path=path)
            if record["ids"][: len(ids)] != ids:
                raise DataError(f"its ids are not those of scores.jsonl; {RERUN}", path=path)
            stored[model] = record
    return stored


def _m0_and_canaries(stored: dict[str, dict[str, Any]], n: int) -> tuple[dict[str, list[Any]] | None, dict | None]:
    """The signals under M0 of the ``n`` examples (when the run scored M0) and the canaries' signals under M0, M1 and
    M2 (scored after the data, ids ``canary:...``), when the run had canaries; None where absent."""

    def part(model: str, canary: bool) -> dict[str, list[Any]]:
        return {k: (v[n:] if canary else v[:n]) for k, v in stored[model]["signals"].items()}

    reference = part("m0", False) if "m0" in stored else None
    has_canaries = "m1" in stored and len(stored["m1"]["ids"]) > n
    canaries = {m: part(m, True) for m in stored} if has_canaries else None
    return reference, canaries


def _generations(stored: dict[str, Any] | None, ids: list[str]) -> list[str] | None:
    """The greedy answers stored with a model's raw signals (``_stored_scores``), when they are there for exactly
    these examples."""
    if stored is None:
        return None
    texts = stored["signals"].get("generations")
    stored_ids = stored["ids"]
    canaries = stored_ids[len(ids) :]  # a run with canaries scored them after the data
    if texts is None or len(texts) != len(stored_ids):
        return None
    if not all(str(i).startswith("canary:") for i in canaries):
        return None
    return [str(t) for t in texts[: len(ids)]]
