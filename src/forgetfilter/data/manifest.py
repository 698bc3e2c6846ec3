"""Write a built mix: native JSONL files and a ``manifest.json`` with counts and checksums (no timestamps)."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forgetfilter.data.formats import native_record

if TYPE_CHECKING:
    from forgetfilter.data.mix import Mix


def _jsonl(records: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records).encode("utf-8")


def file_summary(examples: list[Any], data: bytes) -> dict[str, Any]:
    """Counts by role and by source, and the sha256 of the written bytes."""
    return {
        "examples": len(examples),
        "by_role": dict(sorted(Counter(str(e.role) for e in examples).items())),
        "by_source": dict(sorted(Counter(e.source for e in examples).items())),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def write_mix(mix: Mix, out: Path) -> dict[str, Any]:
    """``d_noisy.jsonl``, ``d_safe.jsonl``, ``eval_<name>.jsonl`` and ``manifest.json``; byte-identical per seed."""
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, examples in mix.files.items():
        data = _jsonl([native_record(e) for e in examples])
        (out / f"{name}.jsonl").write_bytes(data)
        files[f"{name}.jsonl"] = file_summary(examples, data)
    manifest = {
        "kind": mix.kind,
        "params": mix.params,
        "files": files,
        "dropped": mix.dropped,
        "rounding": "unsafe = floor(n*r + 0.5); rest split equally into safe/squad/alpaca, "
        "remainder to safe then squad; mixed splits unsafe/safe/d_safe equally over kinds",
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return manifest
