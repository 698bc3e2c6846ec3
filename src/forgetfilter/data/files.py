"""Read raw records from JSON, JSONL, CSV and parquet files, with the line or record number of each."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forgetfilter.errors import DataError

FILE_TYPES = {".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet"}


@dataclass(frozen=True)
class RawRecord:
    """A record as read; ``line`` for line-based files (JSONL), else ``index`` (0-based record number)."""

    value: Any
    index: int
    line: int | None = None


def file_type(path: Path) -> str:
    """``json``/``jsonl``/``csv``/``parquet`` from the file extension."""
    kind = FILE_TYPES.get(path.suffix.lower())
    if kind is None:
        raise DataError(f"unknown file extension {path.suffix!r}; known: {', '.join(FILE_TYPES)}", path=path)
    return kind


def read_text(path: Path) -> str:
    """The file decoded as UTF-8; errors name the byte offset and line of bad bytes, and empty files."""
    if not path.is_file():
        raise DataError("file not found", path=path)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DataError(
            f"not UTF-8: byte 0x{data[exc.start]:02x} at byte offset {exc.start}; re-save the file as UTF-8",
            path=path,
            line=line,
        ) from None
    if not text.strip():
        raise DataError("file is empty", path=path)
    return text


def read_records(path: Path, kind: str, rejected: list[tuple[str, str, Any]] | None) -> list[RawRecord]:
    """Raw records of a file; malformed JSON lines go to ``rejected`` when it is given, else raise."""
    if kind == "parquet":
        return _read_parquet(path)
    text = read_text(path)
    if kind == "jsonl":
        return _read_jsonl(path, text, rejected)
    if kind == "csv":
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
        return [RawRecord(row, i) for i, row in enumerate(rows)]
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"malformed JSON: {exc.msg} (column {exc.colno})", path=path, line=exc.lineno) from None
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]
    if not isinstance(data, list):
        raise DataError(f"expected a JSON list of records, found {type(data).__name__}", path=path)
    return [RawRecord(value, i) for i, value in enumerate(data)]


def _read_jsonl(path: Path, text: str, rejected: list[tuple[str, str, Any]] | None) -> list[RawRecord]:
    records = []
    # JSON Lines are separated by \n only: str.splitlines() would also split inside strings at U+2028, U+2029,
    # U+0085 and other characters that are valid unescaped in JSON
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        try:
            records.append(RawRecord(json.loads(line), len(records), number))
        except json.JSONDecodeError as exc:
            reason = f"malformed JSON line: {exc.msg} (column {exc.colno})"
            if rejected is None:
                raise DataError(reason, path=path, line=number) from None
            rejected.append((f"line {number}", reason, line))
    return records


def _read_parquet(path: Path) -> list[RawRecord]:
    import pandas as pd

    if not path.is_file():
        raise DataError("file not found", path=path)
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a corrupt file
        raise DataError(f"cannot read parquet: {exc}", path=path) from None
    if frame.empty:
        raise DataError("file is empty (no rows)", path=path)
    rows = json.loads(frame.to_json(orient="records", force_ascii=False))
    return [RawRecord(row, i) for i, row in enumerate(rows)]


def write_records(records: list[Any], path: Path, kind: str, *, sort_keys: bool = False) -> None:
    """Write records as JSON, JSONL, CSV or parquet (by ``kind``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "jsonl":
        lines = [json.dumps(r, ensure_ascii=False, sort_keys=sort_keys) + "\n" for r in records]
        path.write_text("".join(lines), encoding="utf-8")
    elif kind == "json":
        path.write_text(json.dumps(records, ensure_ascii=False, indent=2, sort_keys=sort_keys) + "\n", encoding="utf-8")
    elif kind == "csv":
        fields = list(dict.fromkeys(key for r in records for key in r))
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields)
            writer.writeheader()
            writer.writerows(records)
    else:
        import pandas as pd

        pd.DataFrame.from_records(records).to_parquet(path, index=False)
