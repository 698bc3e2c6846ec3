"""Read raw records from JSON, JSONL, CSV and parquet files, with the line or record number of each."""

from __future__ import annotations

import csv
import io
import json
import math
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


@dataclass(frozen=True)
class Layout:
    """How a file held its records, so filtered output is written back the same way: ``wrapper`` is the JSON
    object around a ``"data"`` list (with that list left out), ``arrow_schema`` the column types of a parquet file."""

    kind: str
    wrapper: dict[str, Any] | None = None
    arrow_schema: Any = None


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


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text} is out of the range of a 64-bit float")
    return value


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(text: str) -> Any:
    """``json.loads`` that refuses what could not be written back as read: NaN/Infinity, numbers beyond float
    range, lone surrogates; and turns nesting too deep for Python into a ValueError (not a RecursionError)."""
    try:
        value = json.loads(text, parse_float=_finite_float, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError("JSON nested too deeply to read") from None
    if "\\ud" in text.lower():  # an escaped surrogate: fine in a pair, not alone
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("a string holds a lone surrogate (\\ud800-\\udfff escape without its pair)") from None
        except RecursionError:
            raise ValueError("JSON nested too deeply to read") from None
    return value


def _read_csv(path: Path, text: str) -> list[RawRecord]:
    """Rows as dicts keyed by the header; a duplicated or empty header name or a row of the wrong width is an
    error naming its line (csv.DictReader would drop a column or keep the extra fields under a None key)."""
    csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))  # long responses are normal data, not an error
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
        seen: set[str] = set()
        for name in header:
            if not name or name in seen:
                problem = "an empty column name" if not name else f"column {name!r} twice"
                raise DataError(f"the header has {problem}", path=path, line=1)
            seen.add(name)
        records = []
        for row in reader:
            if not row:
                continue
            if len(row) != len(header):
                raise DataError(
                    f"{len(row)} fields where the header has {len(header)}", path=path, line=reader.line_num
                )
            records.append(RawRecord(dict(zip(header, row, strict=True)), len(records), reader.line_num))
    except csv.Error as exc:
        raise DataError(f"malformed CSV: {exc}", path=path, line=reader.line_num) from None
    return records


def read_records(path: Path, kind: str, rejected: list[tuple[str, str, Any]] | None) -> tuple[list[RawRecord], Layout]:
    """Raw records of a file and its layout; malformed JSON lines go to ``rejected`` when it is given, else raise."""
    if kind == "parquet":
        return _read_parquet(path)
    text = read_text(path)
    if kind == "jsonl":
        return _read_jsonl(path, text, rejected), Layout(kind)
    if kind == "csv":
        return _read_csv(path, text), Layout(kind)
    try:
        data = parse_json(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"malformed JSON: {exc.msg} (column {exc.colno})", path=path, line=exc.lineno) from None
    except ValueError as exc:
        raise DataError(str(exc), path=path) from None
    wrapper = None
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        wrapper = {**data, "data": None}  # keeps the key order and every other top-level key
        data = data["data"]
    if not isinstance(data, list):
        raise DataError(f"expected a JSON list of records, found {type(data).__name__}", path=path)
    return [RawRecord(value, i) for i, value in enumerate(data)], Layout(kind, wrapper=wrapper)


def _read_jsonl(path: Path, text: str, rejected: list[tuple[str, str, Any]] | None) -> list[RawRecord]:
    records = []
    # JSON Lines are separated by \n only: str.splitlines() would also split inside strings at U+2028, U+2029,
    # U+0085 and other characters that are valid unescaped in JSON
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        try:
            records.append(RawRecord(parse_json(line), len(records), number))
        except ValueError as exc:
            if isinstance(exc, json.JSONDecodeError):
                reason = f"malformed JSON line: {exc.msg} (column {exc.colno})"
            else:
                reason = str(exc)
            if rejected is None:
                raise DataError(reason, path=path, line=number) from None
            rejected.append((f"line {number}", reason, line))
    return records


def _read_parquet(path: Path) -> tuple[list[RawRecord], Layout]:
    """Rows as Python values (pyarrow's own conversion: int64 stays int, floats exact, timestamps datetime)."""
    import pyarrow.parquet as pq

    if not path.is_file():
        raise DataError("file not found", path=path)
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for a corrupt file
        raise DataError(f"cannot read parquet: {exc}", path=path) from None
    if table.num_rows == 0:
        raise DataError("file is empty (no rows)", path=path)
    rows = table.to_pylist()
    return [RawRecord(row, i) for i, row in enumerate(rows)], Layout("parquet", arrow_schema=table.schema)


def write_records(
    records: list[Any], path: Path, kind: str, *, sort_keys: bool = False, layout: Layout | None = None
) -> None:
    """Write records as JSON, JSONL, CSV or parquet (by ``kind``), in ``layout`` when it is the input's."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if layout is not None and layout.kind != kind:
        layout = None
    if kind == "jsonl":
        lines = [json.dumps(r, ensure_ascii=False, sort_keys=sort_keys) + "\n" for r in records]
        path.write_text("".join(lines), encoding="utf-8")
    elif kind == "json":
        data: Any = records if layout is None or layout.wrapper is None else {**layout.wrapper, "data": records}
        path.write_text(json.dumps(data, ensure_ascii=False, indent=2, sort_keys=sort_keys) + "\n", encoding="utf-8")
    elif kind == "csv":
        fields = list(dict.fromkeys(key for r in records for key in r))
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields)
            writer.writeheader()
            writer.writerows(records)
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = layout.arrow_schema if layout is not None else None
        pq.write_table(pa.Table.from_pylist(records, schema=schema), path)
