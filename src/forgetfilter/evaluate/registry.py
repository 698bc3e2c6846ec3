"""The evaluation suites, one record each (lm-eval's way): what a suite is judged by, which way is better, the
columns a report shows, the files that hold its prompts, its generation budgets, and its headline metric (and variants)
recomputed from per-prompt records (for paired comparisons). ``evaluate``, ``report`` and ``compare`` read only this."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

Record = dict[str, Any]


def _toxicity_mean(records: Sequence[Record]) -> float:
    import numpy as np

    return float(np.mean([r["toxicity"] for r in records]))


def _bbq(records: Sequence[Record], metric: str) -> float:
    from forgetfilter.evaluate.bias import BBQItem, bbq_scores

    items = [BBQItem(r["label"], r["unknown_index"], r["biased_index"], r["condition"]) for r in records]
    return bbq_scores([r["parsed"] for r in records], items)[metric]


BBQ_PER_PROMPT = (
    "s_amb",
    "s_amb_parsed",
    "accuracy_ambiguous",
    "accuracy_ambiguous_parsed",
)  # "_parsed": unread left out


def _parse_again(record: Record) -> Record:
    """The record with its answer parsed from its text by this checkout's parser (as ``rescore`` does), so a run
    evaluated before a parser fix is compared as it would be scored now; a record without the text is kept."""
    from forgetfilter.evaluate.bias import parse_choice

    if "generation" not in record or "options" not in record:
        return record
    parsed = parse_choice(record["generation"], record["options"], unknown_index=record["unknown_index"])
    return {**record, "parsed": parsed}


def _compliance_rate(records: Sequence[Record]) -> float:
    return sum(r["label"] == "compliance" for r in records) / len(records) if records else float("nan")


def _mean_of(records: Sequence[Record], field: str) -> float:
    """The mean of a per-item score over the records that carry it (task: SQuAD's f1, Alpaca's rouge_l)."""
    values = [r[field] for r in records if field in r]
    return sum(values) / len(values) if values else float("nan")


def _task_part(record: Record) -> str:
    return "squad" if "f1" in record else "alpaca"


def _ambiguous(record: Record) -> bool:
    return record["condition"] == "ambig"


@dataclass(frozen=True)
class Suite:
    """One evaluation suite. ``better``: ``lower``, ``higher`` or ``zero`` (closer to 0; s_AMB's sign says the
    direction of the bias). ``budgets``: greedy new tokens per part of the suite."""

    name: str
    headline: str | None  # None: a task suite, reported by all its columns
    better: str
    columns: tuple[str, ...]
    files: tuple[str, ...]  # eval_<part>.jsonl files of a data-builder eval dir
    budgets: dict[str, int] = field(default_factory=dict)
    # metrics recomputable from any subset of per-prompt records (for paired bootstraps); the headline first
    per_prompt: dict[str, Callable[[Sequence[Record]], float]] = field(default_factory=dict)
    record_fields: tuple[str, ...] = ()  # fields every per-prompt record must have for ``per_prompt``
    # the prompts ``per_prompt`` reads (s_AMB: the ambiguous items); a bootstrap resamples only these, so the
    # subset keeps its size in every resample (stratified); None: every prompt
    subset: Callable[[Record], bool] | None = None
    # per-prompt metrics besides the headline whose fall also shows harm (BBQ: answering ambiguous items with a group)
    also_safer_when_higher: tuple[str, ...] = ()
    # a key of a record: a bootstrap resamples within each key's records (task: SQuAD and Alpaca apart)
    stratum: Callable[[Record], str] | None = None
    # the stratum a per-prompt metric reads alone (squad_f1: the SQuAD prompts), for counting its prompts
    reads: dict[str, str] = field(default_factory=dict)
    # recomputes a record's per-prompt fields from its saved text with this checkout's code (BBQ: the parser)
    refresh: Callable[[Record], Record] | None = None


REGISTRY: dict[str, Suite] = {
    suite.name: suite
    for suite in (
        Suite(
            "toxicity",
            headline="toxicity_mean",
            better="lower",
            columns=("toxicity_mean", "toxicity_frac_above_0.5"),
            files=("eval_toxicity",),
            budgets={"toxicity": 32},
            per_prompt={"toxicity_mean": _toxicity_mean},
            record_fields=("toxicity",),
        ),
        Suite(
            "bias",
            headline="s_amb",
            better="zero",
            columns=(
                "s_amb",
                "s_amb_parsed",
                "s_dis",
                "accuracy_ambiguous",
                "accuracy_disambiguated",
                "unparseable_rate_ambiguous",
                "unparseable_rate",
            ),
            files=("eval_bias",),
            budgets={"bias": 16},
            per_prompt={name: partial(_bbq, metric=name) for name in BBQ_PER_PROMPT},
            record_fields=("parsed", "label", "unknown_index", "biased_index", "condition"),
            subset=_ambiguous,
            refresh=_parse_again,
            also_safer_when_higher=("accuracy_ambiguous", "accuracy_ambiguous_parsed"),
        ),
        Suite(
            "harmfulness",
            headline="harmful_compliance_rate",
            better="lower",
            columns=("harmful_compliance_rate", "refusal_rate", "incoherent_rate", "classifier_mean"),
            files=("eval_harmfulness",),
            budgets={"harmfulness": 64},
            per_prompt={"harmful_compliance_rate": _compliance_rate},
            record_fields=("label",),
        ),
        Suite(
            "task",
            headline=None,
            better="higher",
            columns=("squad_exact_match", "squad_f1", "alpaca_rouge_l"),
            files=("eval_squad", "eval_alpaca"),
            budgets={"squad": 24, "alpaca": 96},
            per_prompt={
                "squad_f1": partial(_mean_of, field="f1"),
                "alpaca_rouge_l": partial(_mean_of, field="rouge_l"),
                "squad_exact_match": partial(_mean_of, field="exact_match"),
            },
            stratum=_task_part,
            reads={"squad_f1": "squad", "alpaca_rouge_l": "alpaca", "squad_exact_match": "squad"},
        ),
    )
}
SUITES: tuple[str, ...] = tuple(REGISTRY)
HEADLINE: dict[str, str] = {s.name: s.headline for s in REGISTRY.values() if s.headline is not None}
SUITE_COLUMNS: dict[str, tuple[str, ...]] = {s.name: s.columns for s in REGISTRY.values()}
EVAL_FILES: dict[str, tuple[str, ...]] = {s.name: s.files for s in REGISTRY.values()}
DEFAULT_MAX_NEW_TOKENS: dict[str, int] = {part: n for s in REGISTRY.values() for part, n in s.budgets.items()}
