"""Review decisions: a JSONL file with one ``{"id": ..., "decision": "keep"|"remove"}`` line per example of a run
(what the review page exports), and the kept/removed files it gives in the input's own schema."""

from __future__ import annotations

import difflib
import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from forgetfilter.data.files import parse_json
from forgetfilter.errors import ConfigError, DataError

DECISIONS: tuple[str, ...] = ("keep", "remove")
KEYS: tuple[str, ...] = ("id", "decision")
REVIEWED = "reviewed"  # apply's output folder inside the run folder, unless told another
WRITTEN_BY = "forgetfilter apply"


def decisions_text(ids: Sequence[str], mask: Sequence[bool]) -> str:
    """The decisions file of ``mask`` (True = remove), in the order of ``ids``.

    >>> decisions_text(["a", "b"], [False, True])
    '{"id": "a", "decision": "keep"}\\n{"id": "b", "decision": "remove"}\\n'
    """
    return "".join(json.dumps({"id": i, "decision": DECISIONS[bool(m)]}) + "\n" for i, m in zip(ids, mask, strict=True))


def read_decisions(path: str | Path, ids: Sequence[str]) -> np.ndarray:
    """The removal mask (True = remove) that the decisions file gives, aligned to ``ids``.

    Every id needs exactly one line; errors name the file and line: malformed JSON, a key other than id and
    decision, an unknown id, an id given twice, a decision other than keep/remove, and ids left without one.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("decisions file not found", path=path)
    position = {example_id: i for i, example_id in enumerate(ids)}
    mask = np.zeros(len(ids), dtype=bool)
    seen: dict[str, int] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8-sig").split("\n"), start=1):
        if not line.strip():
            continue
        example_id, decision = _parse_line(line, path, number)
        if example_id not in position:
            close = difflib.get_close_matches(example_id, list(position), n=1) if len(position) <= 20000 else []
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise DataError(f"id {example_id!r} is not an example of this run{hint}", path=path, line=number)
        if example_id in seen:
            raise DataError(f"id {example_id!r} again (first on line {seen[example_id]})", path=path, line=number)
        seen[example_id] = number
        mask[position[example_id]] = decision == "remove"
    if not seen:
        raise DataError("no decisions in file", path=path)
    if len(seen) < len(ids):
        missing = [i for i in ids if i not in seen]
        shown = ", ".join(repr(i) for i in missing[:3]) + (", ..." if len(missing) > 3 else "")
        raise DataError(
            f"{len(missing)} of the run's {len(ids)} examples have no decision ({shown}); give each one a line",
            path=path,
        )
    return mask


def _parse_line(line: str, path: Path, number: int) -> tuple[str, str]:
    def fail(reason: str) -> DataError:
        return DataError(reason, path=path, line=number)

    try:
        value = parse_json(line)
    except ValueError as exc:
        raise fail(f"malformed JSON line: {exc}") from None
    if not isinstance(value, dict):
        raise fail(f'expected {{"id": ..., "decision": "keep" or "remove"}}, found {type(value).__name__}')
    for key in value:
        if key not in KEYS:
            close = difflib.get_close_matches(str(key), KEYS, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise fail(f"unknown key {key!r}; {hint}a decision line has only 'id' and 'decision'")
    missing = [k for k in KEYS if k not in value]
    if missing:
        raise fail(f"missing {' and '.join(repr(k) for k in missing)}")
    if not isinstance(value["id"], str):
        raise fail(f"'id' must be a string, found {type(value['id']).__name__} {value['id']!r}")
    if value["decision"] not in DECISIONS:
        close = difflib.get_close_matches(str(value["decision"]), DECISIONS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise fail(f"decision is {value['decision']!r}; expected 'keep' or 'remove'{hint}")
    return value["id"], value["decision"]


def apply_decisions(
    run_dir: str | Path, decisions: str | Path, *, out_dir: str | Path | None = None, data_format: str | None = None
) -> dict[str, Path]:
    """Write the kept and removed examples that a decisions file gives, in the run's input schema and file type,
    to ``out_dir`` (default ``RUN/reviewed``) with ``summary.json`` (counts, and what the review changed).

    Never writes over the run's files, the decisions file, or kept/removed files it did not write itself.
    """
    from forgetfilter.data.formats import write_examples
    from forgetfilter.saved_run import read_run

    saved = read_run(run_dir, data_format=data_format)
    result = saved.result
    mask = read_decisions(decisions, [ex.id for ex in result.examples])
    out = Path(out_dir) if out_dir is not None else saved.path / REVIEWED
    paths = {
        "kept": out / f"kept{saved.suffix}",
        "removed": out / f"removed{saved.suffix}",
        "summary": out / "summary.json",
    }
    _check_outputs(paths, [*saved.sources, Path(decisions)])
    out.mkdir(parents=True, exist_ok=True)
    for name, flagged in (("kept", False), ("removed", True)):
        part = [ex for ex, m in zip(result.examples, mask, strict=True) if bool(m) == flagged]
        write_examples(part, paths[name], format=None, layout=result.layout)
    summary = review_summary(result.examples, result.mask, mask)
    digest = hashlib.sha256(Path(decisions).read_bytes()).hexdigest()
    summary = {
        "written_by": WRITTEN_BY,
        "run": str(saved.path),
        "decisions": str(decisions),
        "sha256": digest,
        **summary,
    }
    paths["summary"].write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return paths


def review_summary(examples: Sequence[Any], run_mask: Sequence[bool], mask: Sequence[bool]) -> dict[str, Any]:
    """Counts of the reviewed decision ``mask`` against the run's: kept, removed, and what changed, by role."""
    run, new = np.asarray(run_mask, dtype=bool), np.asarray(mask, dtype=bool)
    roles = [ex.role or "unknown" for ex in examples]
    return {
        "n_examples": len(new),
        "n_kept": int((~new).sum()),
        "n_removed": int(new.sum()),
        "kept_to_removed": int((new & ~run).sum()),
        "removed_to_kept": int((~new & run).sum()),
        "removed_by_role": dict(sorted(Counter(r for r, m in zip(roles, new, strict=True) if m).items())),
        "kept_by_role": dict(sorted(Counter(r for r, m in zip(roles, new, strict=True) if not m).items())),
    }


def _check_outputs(paths: dict[str, Path], inputs: Sequence[Path]) -> None:
    resolved = {p.resolve() for p in inputs}
    for path in paths.values():
        if path.resolve() in resolved:
            raise ConfigError(f"{path} is an input of apply and would be overwritten; give another --out")
    if any(paths[k].exists() for k in ("kept", "removed")) and not _written_by_apply(paths["summary"]):
        folder = paths["kept"].parent
        raise ConfigError(f"{folder} holds kept/removed files that apply did not write; give another --out")


def _written_by_apply(summary: Path) -> bool:
    try:
        return json.loads(summary.read_text(encoding="utf-8")).get("written_by") == WRITTEN_BY
    except (OSError, ValueError, AttributeError):
        return False
