"""Task data: SQuAD v1.1 (extractive QA) and Alpaca (instruction following)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from forgetfilter.data.sources._common import dataset_file, read_json
from forgetfilter.errors import DataError
from forgetfilter.examples import Example, make_id, user_prompt

SQUAD_FILE = ("squad", "dev-v1.1.json")
ALPACA_FILE = ("alpaca", "random_9k.json")


def squad_prompt(context: str, question: str) -> str:
    """The QA prompt: the paragraph, then the question."""
    return f"{context}\n\nQuestion: {question}\nAnswer:"


def load_squad(data_dir: str | Path | None = None) -> list[Example]:
    """One example per SQuAD question; the target is the first gold answer.

    ``meta``: ``answers`` (all gold answers), ``title`` (the article, for article-level splits), ``qa_id``.
    """
    path = dataset_file(data_dir, *SQUAD_FILE)
    examples = []
    for article in read_json(path)["data"]:
        for p_index, paragraph in enumerate(article["paragraphs"]):
            for qa in paragraph["qas"]:
                answers = [a["text"] for a in qa["answers"]]
                if not answers:
                    raise DataError("question has no gold answer", path=path, record=qa["id"])
                original = {"title": article["title"], "context": paragraph["context"], **qa}
                meta = {"answers": answers, "title": article["title"], "qa_id": qa["id"], "paragraph": p_index}
                examples.append(
                    Example(
                        id=make_id("squad", qa["id"]),
                        messages=user_prompt(squad_prompt(paragraph["context"], qa["question"])),
                        response=answers[0],
                        source="squad",
                        role="task",
                        original=original,
                        meta=meta,
                    )
                )
    return examples


def alpaca_prompt(instruction: str, input_text: str = "") -> str:
    """Instruction, plus the input after a blank line when there is one."""
    return f"{instruction}\n\n{input_text}" if input_text.strip() else instruction


def alpaca_examples(
    records: list[Any], *, path: Path, source: str, role: str | None, safety_kind: str | None = None
) -> list[Example]:
    """Examples from alpaca-schema records (``instruction``, optional ``input``, ``output``).

    Records with an empty output are kept with ``response == ""``; builders drop them and count them.
    """
    examples = []
    for index, record in enumerate(records):
        if (
            not isinstance(record, dict)
            or not isinstance(record.get("instruction"), str)
            or not isinstance(record.get("output"), str)
        ):
            raise DataError("expected an object with string 'instruction' and 'output'", path=path, record=index)
        prompt = alpaca_prompt(record["instruction"], str(record.get("input") or ""))
        examples.append(
            Example(
                id=make_id(source, prompt, record["output"]),
                messages=user_prompt(prompt),
                response=record["output"],
                source=source,
                role=role,
                safety_kind=safety_kind,
                original=dict(record),  # type: ignore[arg-type]
                meta={"index": index},
            )
        )
    return examples


def load_alpaca(path_or_data_dir: str | Path | None = None) -> list[Example]:
    """Alpaca records from a JSON list file, or from ``alpaca/random_9k.json`` in a datasets folder."""
    given = Path(path_or_data_dir) if path_or_data_dir is not None else None
    path = given if given is not None and given.is_file() else dataset_file(given, *ALPACA_FILE)
    return alpaca_examples(read_json(path), path=path, source="alpaca", role="task")
