"""Read JSON Lines files: one record per line, every fault named by file and line."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from forgetfilter.errors import DataError


def read_jsonl(path: Path, *, required: tuple[str, ...] = ()) -> list[tuple[int, dict[str, Any]]]:
    """``(line_number, record)`` for each non-blank line (``.gz`` is decompressed); each record must be a JSON object
    with the ``required`` fields."""
    opener = gzip.open if path.suffix == ".gz" else open
    rows = []
    with opener(path, "rt", encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"malformed JSON line: {exc.msg}", path=path, line=number) from None
            if not isinstance(record, dict):
                raise DataError(f"expected a JSON object, got {type(record).__name__}", path=path, line=number)
            missing = [f for f in required if f not in record]
            if missing:
                raise DataError(f"record lacks {', '.join(missing)}", path=path, line=number)
            rows.append((number, record))
    return rows
