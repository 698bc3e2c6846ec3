"""Recompute suite metrics from saved ``generations_<suite>.jsonl`` files, without the model."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from forgetfilter.data.jsonl import read_jsonl
from forgetfilter.errors import DataError
from forgetfilter.evaluate.bias import BBQItem, bbq_scores, parse_choice
from forgetfilter.evaluate.harmfulness import harmfulness_scores
from forgetfilter.evaluate.registry import SUITES
from forgetfilter.evaluate.task import alpaca_scores, squad_scores
from forgetfilter.evaluate.toxicity import get_scorer, toxicity_summary


def _bias(rows: list[dict[str, Any]]) -> dict[str, float]:
    items = [BBQItem(r["label"], r["unknown_index"], r["biased_index"], r["condition"], r["category"]) for r in rows]
    preds = [parse_choice(r["generation"], r["options"], unknown_index=r["unknown_index"]) for r in rows]
    return bbq_scores(preds, items)


def _toxicity(rows: list[dict[str, Any]], scorer: str) -> dict[str, float]:
    scores = get_scorer(scorer)([r["generation"] for r in rows])
    metrics = toxicity_summary(scores)
    groups: dict[str, list[float]] = defaultdict(list)
    for row, score in zip(rows, scores, strict=True):
        groups[row["group"]].append(score)
    for name, values in sorted(groups.items()):
        metrics.update(toxicity_summary(values, prefix=f"toxicity_{name}"))
    return metrics


def _task(rows: list[dict[str, Any]]) -> dict[str, float]:
    squad = [r for r in rows if "gold" in r]
    alpaca = [r for r in rows if "reference" in r]
    return {
        **squad_scores([r["generation"] for r in squad], [r["gold"] for r in squad]),
        **alpaca_scores([r["generation"] for r in alpaca], [r["reference"] for r in alpaca]),
    }


def rescore(out_dir: str | Path, *, scorer: str = "profanity") -> dict[str, dict[str, float]]:
    """Metrics of every ``generations_<suite>.jsonl`` in ``out_dir``, recomputed from the saved texts.

    Use it to audit a run or to re-score with a changed parser or another toxicity ``scorer``.
    """
    folder = Path(out_dir)
    results: dict[str, dict[str, float]] = {}
    for suite in SUITES:
        path = folder / f"generations_{suite}.jsonl"
        if not path.is_file():
            continue
        rows = [record for _, record in read_jsonl(path)]
        try:
            if suite == "bias":
                results[suite] = _bias(rows)
            elif suite == "toxicity":
                results[suite] = _toxicity(rows, scorer)
            elif suite == "harmfulness":
                texts = [r["generation"] for r in rows]
                results[suite] = harmfulness_scores(texts, get_scorer(scorer)(texts))
            else:
                results[suite] = _task(rows)
        except KeyError as exc:
            raise DataError(f"row lacks field {exc}; was it written by forgetfilter evaluate?", path=path) from None
    if not results:
        raise DataError("no generations_<suite>.jsonl files to rescore", path=folder)
    return results
