"""User data files: detect the schema, read Examples with clear errors, write filtered data back in kind."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from forgetfilter.data.files import Layout, RawRecord, file_type, read_records, write_records
from forgetfilter.data.schemas import SCHEMAS, to_example
from forgetfilter.errors import DataError
from forgetfilter.examples import Example

FORMATS: tuple[str, ...] = tuple(SCHEMAS)
DEFAULT_SOURCE = "user"  # source (and id prefix) of records without one; independent of the file name
NATIVE = "native"  # forgetfilter's own JSONL: chat → ``messages``, plain text → ``prompt``/``completion``


@dataclass
class ReadResult:
    """Examples read from a file, records rejected with ``skip_invalid`` (where, reason, raw), the schema name
    and the file's layout (pass it to ``write_examples`` to write filtered data back in the same shape)."""

    examples: list[Example]
    rejected: list[tuple[str, str, Any]] = field(default_factory=list)
    format: str = ""
    file_type: str = ""
    layout: Layout | None = None


def check_format(name: str) -> str:
    """The schema name, or a DataError listing the known ones with a suggestion."""
    if name in SCHEMAS:
        return name
    close = difflib.get_close_matches(name, FORMATS, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise DataError(f"unknown format {name!r}; known formats: {', '.join(FORMATS)}{hint}")


def detect_format(record: Any, *, path: Path, where: str) -> str:
    """The schema whose identifying keys the record has (each record is detected on its own)."""
    if isinstance(record, dict):
        for name, (keys, _) in SCHEMAS.items():
            if all(k in record for k in keys):
                return name
        found = sorted(record)
    else:
        found = type(record).__name__
    known = "; ".join(f"{n} ({'+'.join(k)})" for n, (k, _) in SCHEMAS.items())
    raise ValueError(
        f"cannot detect the format: the record has {found}; known formats: {known}. Rename the fields or pass --format"
    )


def _where(raw: RawRecord) -> str:
    return f"line {raw.line}" if raw.line is not None else f"record {raw.index}"


def _error(path: Path, raw: RawRecord, reason: str) -> DataError:
    return DataError(reason, path=path, line=raw.line, record=None if raw.line is not None else raw.index)


def read_examples(path: str | Path, *, format: str | None = None, skip_invalid: bool = False) -> ReadResult:
    """Read a JSON/JSONL/CSV/parquet file of alpaca, sharegpt, messages, prompt/completion or prompt/response
    records. Bad records raise DataError naming file, line and problem; ``skip_invalid`` collects them instead.
    """
    path = Path(path)
    schema = check_format(format) if format is not None else None
    kind = file_type(path)
    rejected: list[tuple[str, str, Any]] = []
    raws, layout = read_records(path, kind, rejected if skip_invalid else None)
    if not raws:
        raise DataError("no records in file", path=path)
    examples: list[Example] = []
    found: list[str] = []
    seen: dict[str, RawRecord] = {}
    for raw in raws:
        try:
            name = schema or detect_format(raw.value, path=path, where=_where(raw))
            example = to_example(raw.value, name, default_source=DEFAULT_SOURCE)
        except ValueError as exc:
            _fail(path, raw, str(exc), rejected, skip_invalid)
            continue
        if example.id in seen:
            reason = f"duplicate id {example.id!r} (first at {_where(seen[example.id])})"
            _fail(path, raw, reason, rejected, skip_invalid)
            continue
        seen[example.id] = raw
        found.append(name)
        examples.append(example)
    return ReadResult(examples, rejected, schema or "+".join(dict.fromkeys(found)), kind, layout)


def _fail(path: Path, raw: RawRecord, reason: str, rejected: list[tuple[str, str, Any]], skip: bool) -> None:
    if not skip:
        raise _error(path, raw, reason)
    rejected.append((_where(raw), reason, raw.value))


def native_record(example: Example) -> dict[str, Any]:
    """forgetfilter's JSONL record: TRL-ready ``messages`` (chat) or ``prompt``/``completion`` (plain text)."""
    record: dict[str, Any] = {
        "id": example.id,
        "role": example.role,
        "safety_kind": example.safety_kind,
        "source": example.source,
        "meta": dict(example.meta),
    }
    if example.chat:
        record["messages"] = [*map(dict, example.messages), {"role": "assistant", "content": example.response}]
    else:
        record["prompt"] = "".join(m["content"] for m in example.messages)
        record["completion"] = example.response
    return record


def output_records(examples: Iterable[Example], *, format: str | None = None) -> list[dict[str, Any]]:
    """The records to write for ``examples``: each one's ``original`` record with ``format=None`` (the user's own
    schema), or ``native_record`` for examples without one and for every example with ``format="native"``."""
    if format not in (None, NATIVE):
        raise DataError(f"unknown output format {format!r}; use None (the input's own schema) or {NATIVE!r}")
    return [dict(e.original) if format is None and e.original else native_record(e) for e in examples]


def write_examples(
    examples: Iterable[Example], path: str | Path, *, format: str | None = None, layout: Layout | None = None
) -> Path:
    """Write examples to JSON/JSONL/CSV/parquet (by extension).

    ``format=None`` writes each example's ``original`` record (the user's own schema, so output drops into
    TRL/axolotl); examples without one, or all with ``format="native"``, are written as ``native_record``.
    ``layout`` (``ReadResult.layout`` of the input) keeps a JSON ``{"data": [...]}`` wrapper and parquet column
    types, so an input written back unfiltered is the same table (also when no row is left).
    """
    path = Path(path)
    examples = list(examples)
    records = output_records(examples, format=format)
    originals = format is None and all(e.original for e in examples)
    write_records(records, path, file_type(path), sort_keys=format == NATIVE, layout=layout if originals else None)
    return path
