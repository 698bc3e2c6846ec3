"""Harmful-prompt evaluation sets (prompt-only examples): AdvBench, CatQA, DangerousQA, safety-tuned-llamas."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

from forgetfilter.data.sources._common import dataset_file, prompt_only, read_json
from forgetfilter.errors import DataError
from forgetfilter.examples import Example, make_id
from forgetfilter.paths import resolve_data_dir

CATQA_LANGUAGES = ("english", "chinese", "vietnamese")
# Sets of harmful instructions; I-Alpaca and I-PhysicalSafetySafe are benign controls (loadable by name).
STL_HARMFUL_SETS = ("I-CoNa", "I-Controversial", "I-MaliciousInstructions", "I-PhysicalSafetyUnsafe", "Q-Harm")


def load_advbench(data_dir: str | Path | None = None) -> list[Example]:
    """AdvBench harmful behaviours (520); ``meta["target"]`` is the affirmative prefix of the attack."""
    path = dataset_file(data_dir, "advbench", "harmful_behaviors.csv")
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    if rows and "goal" not in rows[0]:
        raise DataError(f"expected a 'goal' column, found {list(rows[0])}", path=path)
    return [
        prompt_only(
            row["goal"],
            id=make_id("advbench", i),
            source="advbench",
            original=row,
            meta={"target": row.get("target", ""), "index": i},
        )
        for i, row in enumerate(rows)
    ]


def load_catqa(data_dir: str | Path | None = None, language: str = "english") -> list[Example]:
    """CatQA (550 per language); ``meta``: category, subcategory (trailing colon removed)."""
    if language not in CATQA_LANGUAGES:
        raise DataError(f"unknown CatQA language {language!r}; known: {', '.join(CATQA_LANGUAGES)}")
    path = dataset_file(data_dir, "catqa", f"catqa_{language}.json")
    examples = []
    for category, subcategories in read_json(path).items():
        for subcategory, questions in subcategories.items():
            sub = subcategory.rstrip(":")
            for i, question in enumerate(questions):
                meta = {"category": category, "subcategory": sub, "language": language}
                examples.append(
                    prompt_only(
                        question,
                        id=make_id("catqa", language, category, sub, i),
                        source="catqa",
                        original={"category": category, "subcategory": subcategory, "question": question},
                        meta=meta,
                    )
                )
    return examples


def load_dangerousqa(data_dir: str | Path | None = None) -> list[Example]:
    """DangerousQA: 200 harmful questions."""
    path = dataset_file(data_dir, "dangerousqa", "dangerousqa.json")
    return [
        prompt_only(q, id=make_id("dangerousqa", i), source="dangerousqa", original={"question": q}, meta={"index": i})
        for i, q in enumerate(read_json(path))
    ]


def load_safety_tuned_llamas_eval(
    data_dir: str | Path | None = None, names: Iterable[str] | None = None
) -> list[Example]:
    """safety-tuned-llamas evaluation sets (default: the harmful ones); ``meta``: set name, tag, harmful."""
    folder = resolve_data_dir(data_dir) / "safety-tuned-llamas" / "evaluation"
    available = sorted(p.stem for p in folder.glob("*.json"))
    wanted = list(STL_HARMFUL_SETS if names is None else names)
    unknown = [n for n in wanted if n not in available]
    if unknown:
        raise DataError(f"safety-tuned-llamas sets {unknown} not found; available: {', '.join(available)}", path=folder)
    examples = []
    for name in wanted:
        data = read_json(folder / f"{name}.json")
        tags = data.get("tags") or [None] * len(data["instructions"])
        for i, (text, tag) in enumerate(zip(data["instructions"], tags, strict=True)):
            meta = {"set": name, "tag": tag, "harmful": name in STL_HARMFUL_SETS, "index": i}
            examples.append(
                prompt_only(
                    text,
                    id=make_id("safety-tuned-llamas-eval", name, i),
                    source="safety-tuned-llamas-eval",
                    original={"set": name, "instruction": text, "tag": tag},
                    meta=meta,
                )
            )
    return examples
