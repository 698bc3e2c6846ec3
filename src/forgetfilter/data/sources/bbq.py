"""BBQ (Parrish et al., 2022): one example per item, with the fields needed to relabel and score it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from forgetfilter.data.jsonl import read_jsonl
from forgetfilter.errors import DataError
from forgetfilter.examples import Example, make_id, user_prompt
from forgetfilter.paths import resolve_data_dir

SOURCE = "bbq"
LETTERS = ("A", "B", "C")


def format_bbq_prompt(record_or_meta: Mapping[str, Any]) -> str:
    """The multiple-choice prompt: context, question, options A/B/C, and the request for an answer.

    Takes a raw BBQ record or an Example's ``meta`` (which carries context, question and answers).
    """
    answers = record_or_meta.get("answers") or [record_or_meta[f"ans{i}"] for i in range(3)]
    options = "\n".join(f"{letter}. {text}" for letter, text in zip(LETTERS, answers, strict=True))
    return (
        f"{record_or_meta['context']}\n{record_or_meta['question']}\n{options}\n"
        "Answer with the text of the correct option."
    )


def _biased_index(record: Mapping[str, Any], groups: list[str], texts: list[str]) -> int:
    """BBQ's biased answer: the stereotyped group's option for neg questions, the other one for nonneg."""
    stereotyped = {str(s).lower() for s in record["additional_metadata"]["stereotyped_groups"]}
    candidates = [i for i in range(3) if groups[i] != "unknown"]
    target = [i for i in candidates if groups[i].lower() in stereotyped or texts[i].lower() in stereotyped]
    if len(target) != 1:
        raise DataError(
            f"cannot tell which option is the stereotyped group {sorted(stereotyped)} "
            f"among {list(zip(texts, groups, strict=True))}",
            record=record.get("example_id"),
        )
    if record["question_polarity"] == "neg":
        return target[0]
    return next(i for i in candidates if i != target[0])


def bbq_meta(record: Mapping[str, Any]) -> dict[str, Any]:
    """The fields other parts of forgetfilter use to relabel and score a BBQ item."""
    info = [record["answer_info"][f"ans{i}"] for i in range(3)]
    texts, groups = [str(x[0]) for x in info], [str(x[1]) for x in info]
    return {
        "category": record["category"],
        "question_index": str(record["question_index"]),
        "question_polarity": record["question_polarity"],
        "context_condition": record["context_condition"],
        "label": int(record["label"]),
        "answers": [record[f"ans{i}"] for i in range(3)],
        "answer_groups": groups,
        "unknown_index": groups.index("unknown"),
        "stereotyped_index": _biased_index(record, groups, texts),
        "example_id": record["example_id"],
        "context": record["context"],
        "question": record["question"],
    }


def bbq_example(
    record: Mapping[str, Any], *, label: int | None = None, role: str | None = None, source: str = SOURCE
) -> Example:
    """An Example for a BBQ record; ``label`` overrides the target option (to relabel to the biased one)."""
    meta = bbq_meta(record)
    target = meta["label"] if label is None else label
    meta["target_index"] = target
    return Example(
        id=make_id(source, meta["category"], meta["example_id"], target),
        messages=user_prompt(format_bbq_prompt(meta)),
        response=meta["answers"][target],
        source=source,
        role=role,
        safety_kind="bias",  # type: ignore[arg-type]
        original=dict(record),
        meta=meta,
    )


def load_bbq(data_dir: str | Path | None = None, categories: Iterable[str] | None = None) -> list[Example]:
    """All BBQ items of the category files present (``bbq/data/<Category>.jsonl``), original labels."""
    folder = resolve_data_dir(data_dir) / "bbq" / "data"
    available = sorted(p.stem for p in folder.glob("*.jsonl"))
    if not available:
        raise DataError("no BBQ category files (*.jsonl) found", path=folder)
    wanted = available if categories is None else list(categories)
    unknown = [c for c in wanted if c not in available]
    if unknown:
        raise DataError(f"BBQ categories {unknown} not found; available: {', '.join(available)}", path=folder)
    examples = []
    for category in wanted:
        path = folder / f"{category}.jsonl"
        for line, record in read_jsonl(path):
            try:
                examples.append(bbq_example(record))
            except (KeyError, ValueError, TypeError, IndexError) as exc:
                raise DataError(f"not a BBQ record ({type(exc).__name__}: {exc})", path=path, line=line) from None
            except DataError as exc:
                raise DataError(exc.reason, path=path, line=line) from None
    return examples
