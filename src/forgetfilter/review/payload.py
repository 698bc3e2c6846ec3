"""The data a review page holds: one array per column, aligned to the input order of the run."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from forgetfilter.data.files import Layout, file_type
from forgetfilter.data.formats import output_records
from forgetfilter.examples import Example
from forgetfilter.saved_run import SavedRun


def page_data(saved: SavedRun) -> dict[str, Any]:
    """Columns for the page (``null`` where a number is NaN or infinite) and ``meta``: the run's signal, cut and
    what the export needs to write the input's own JSONL/JSON files byte for byte as ``forgetfilter apply`` does."""
    result = saved.result
    examples = result.examples
    signals = [s for s in result.before if s != "generations"]
    scores = result.scores
    rank = np.empty(len(scores), dtype=int)
    rank[np.argsort(-scores, kind="stable")] = np.arange(1, len(scores) + 1)
    has_generations = "generations" in result.before and "generations" in result.after
    kind = file_type(saved.path / f"kept{saved.suffix}")
    threshold = result.threshold
    return {
        "meta": {
            "run": saved.path.name or str(saved.path),
            "version": _version(),
            "signal": result.signal,
            "signals": signals,
            "threshold": {"phi": _number(threshold.phi), "method": threshold.method, "budget": threshold.budget},
            "cut": initial_cut(scores, result.mask, threshold.phi),
            "has_roles": result.has_labels,
            "has_generations": has_generations,
            "file_type": kind,
            "json_frame": json_frame(result.layout) if kind == "json" else None,
        },
        "id": [ex.id for ex in examples],
        "role": [ex.role for ex in examples],
        "forgetting": [_number(v) for v in scores],
        "rank": rank.tolist(),
        "removed": [int(m) for m in result.mask],
        # raw signals at 6 significant digits (shown with 3 decimals); forgetting exact (the cut compares it)
        "m1": {s: [_number(v, digits=6) for v in result.before[s]] for s in signals},
        "m2": {s: [_number(v, digits=6) for v in result.after[s]] for s in signals},
        "prompt": [prompt_text(ex) for ex in examples],
        "response": [ex.response for ex in examples],
        "gen_m1": list(result.before["generations"]) if has_generations else None,
        "gen_m2": list(result.after["generations"]) if has_generations else None,
        # each record as `write_examples` writes a JSONL line (values JSON cannot hold, e.g. parquet timestamps,
        # as strings: the page's export of a parquet or CSV run is JSONL; `apply` writes the input's own type)
        "record": [json.dumps(r, ensure_ascii=False, default=str) for r in output_records(examples)],
    }


def initial_cut(scores: np.ndarray, mask: np.ndarray, phi: float) -> float:
    """A finite cut where "remove forgetting > cut" removes what the run removed when scores allow: the run's phi,
    or for a budget (ties broken by order, phi the last removed score) halfway to the next lower score."""
    finite = np.sort(scores[np.isfinite(scores)])[::-1]
    if len(finite) == 0:
        return 0.0
    k = int(mask.sum())
    if math.isfinite(phi) and int((scores > phi).sum()) == k:
        return float(phi)
    if k == 0:
        return float(finite[0])
    if k >= len(finite):
        return float(finite[-1] - max(1e-6, 1e-3 * (finite[0] - finite[-1])))
    return float((finite[k - 1] + finite[k]) / 2)


def json_frame(layout: Layout | None) -> dict[str, Any]:
    """What surrounds the records of a JSON file as ``write_records`` writes it (indent 2): text before and after
    the list, and the list's nesting level (1 inside a ``{"data": [...]}`` wrapper)."""
    if layout is None or layout.wrapper is None:
        return {"head": "", "tail": "", "level": 0}
    marker = "\x00forgetfilter-records\x00"
    text = json.dumps({**layout.wrapper, "data": marker}, ensure_ascii=False, indent=2)
    head, _, tail = text.partition(json.dumps(marker, ensure_ascii=False))
    return {"head": head, "tail": tail, "level": 1}


def prompt_text(example: Example) -> str:
    """The prompt as one text: the user turn alone, or every turn under its role."""
    if len(example.messages) == 1:
        return example.messages[0]["content"]
    return "\n\n".join(f"[{m['role']}] {m['content']}" for m in example.messages)


def _number(value: Any, *, digits: int | None = None) -> float | None:
    value = float(value)
    if not math.isfinite(value):
        return None
    return float(f"{value:.{digits}g}") if digits else value


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("forgetfilter")
    except PackageNotFoundError:
        return "unknown"
