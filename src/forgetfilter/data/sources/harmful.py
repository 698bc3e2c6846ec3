"""Harmfulness data with responses: HH-RLHF harmless-base, HarmfulQA, safety-tuned-llamas training set."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from forgetfilter.data.jsonl import read_jsonl
from forgetfilter.data.sources._common import dataset_file, read_json
from forgetfilter.data.sources.task import alpaca_examples
from forgetfilter.errors import DataError
from forgetfilter.examples import Example, make_id, user_prompt

HH_FILE = ("hh-rlhf-harmless", "harmless-base", "test.jsonl.gz")
HARMFULQA_FILE = ("harmfulqa", "harmfulqa.json")
STL_TRAIN_FILE = ("safety-tuned-llamas", "training", "safety_only_data_Instructions.json")
_TURN = re.compile(r"\n\n(Human|Assistant): ")
_HH_ROLES = {"Human": "user", "Assistant": "assistant"}


def parse_hh_dialogue(text: str) -> tuple[list[dict[str, str]], str | None]:
    """``"\\n\\nHuman: ...\\n\\nAssistant: ..."`` as chat messages, and why it is malformed (or None).

    A well-formed dialogue ends with a Human turn then an Assistant reply. A few real records lose a
    ``\\n\\n`` before a turn; for those the reply is the text after the last ``\\n\\nAssistant:`` and the
    prompt the text after the ``\\n\\nHuman:`` before it, and the reason is returned so builders can drop them.
    """
    parts = _TURN.split(text)
    roles = parts[1::2]
    if not parts[0].strip() and roles[-2:] == ["Human", "Assistant"]:
        return [{"role": _HH_ROLES[r], "content": b.strip()} for r, b in zip(roles, parts[2::2], strict=True)], None
    prefix, _, reply = text.rpartition("\n\nAssistant: ")
    history, _, prompt = prefix.rpartition("\n\nHuman: ")
    if not prompt:
        raise ValueError("dialogue has no '\\n\\nHuman: ... \\n\\nAssistant: ...' exchange")
    turns = [{"role": "user", "content": prompt.strip()}, {"role": "assistant", "content": reply.strip()}]
    return turns, "turn markers out of order (a turn lacks its blank line)"


def _hh_pair(line: int, record: dict[str, Any]) -> list[Example]:
    prompt_id = None
    examples = []
    for preference in ("rejected", "chosen"):
        turns, malformed = parse_hh_dialogue(record[preference])
        prompt_id = prompt_id or make_id("hh-rlhf-prompt", turns[:-1])
        meta = {"preference": preference, "prompt_id": prompt_id, "line": line, "history": turns[:-2]}
        if malformed:
            meta["malformed"] = malformed
        examples.append(
            Example(
                id=make_id("hh-rlhf", line, preference),
                messages=user_prompt(turns[-2]["content"]),
                response=turns[-1]["content"],
                source="hh-rlhf",
                role="unsafe" if preference == "rejected" else "safe",
                safety_kind="harmfulness",
                original=record,
                meta=meta,
            )
        )
    return examples


def load_hh_rlhf(data_dir: str | Path | None = None) -> list[Example]:
    """Anthropic HH-RLHF harmless-base test pairs: a ``rejected`` (unsafe) and a ``chosen`` (safe) example each.

    The prompt is the last Human turn alone (earlier turns are kept in ``meta["history"]``, not in the prompt,
    to keep examples single-turn). Five real dialogues have broken turn markers: they are kept with
    ``meta["malformed"]`` set (see ``parse_hh_dialogue``) and the mix builder drops and counts them.
    Both examples of a pair share ``meta["prompt_id"]`` (a hash of the whole dialogue
    before the reply), so splits can keep a prompt on one side.
    """
    path = dataset_file(data_dir, *HH_FILE)
    examples = []
    for line, record in read_jsonl(path):
        try:
            examples.extend(_hh_pair(line, record))
        except (KeyError, ValueError, TypeError, IndexError) as exc:
            raise DataError(f"not an HH-RLHF pair ({exc})", path=path, line=line) from None
    return examples


def load_harmfulqa_questions(data_dir: str | Path | None = None) -> list[Example]:
    """The 1,960 HarmfulQA questions (prompt-only); ``meta``: topic, subtopic."""
    path = dataset_file(data_dir, *HARMFULQA_FILE)
    examples = []
    for topic, subtopics in read_json(path).items():
        for subtopic, questions in subtopics.items():
            for index, question in enumerate(questions):
                examples.append(
                    Example(
                        id=make_id("harmfulqa", topic, subtopic, index),
                        messages=user_prompt(question),
                        response="",
                        source="harmfulqa",
                        safety_kind="harmfulness",
                        original={"topic": topic, "subtopic": subtopic, "question": question},
                        meta={"topic": topic, "subtopic": subtopic},
                    )
                )
    return examples


def _last_exchange(turns: list[dict[str, str]]) -> tuple[str, str] | None:
    """The last (human, gpt) pair of a HarmfulQA conversation, or None when it has none."""
    for i in range(len(turns) - 1, 0, -1):
        if turns[i].get("from") == "gpt" and turns[i - 1].get("from") == "human":
            return turns[i - 1]["value"], turns[i]["value"]
    return None


def load_harmfulqa_conversations(path: str | Path) -> list[Example]:
    """HarmfulQA ``data_for_hub.json`` (hub-only): last human/gpt exchange of each red (unsafe) / blue (safe) chat.

    Empty conversations are skipped (the hub file has many); ``meta["prompt_id"]`` groups one question.
    """
    path = Path(path)
    records = read_json(path)
    if not isinstance(records, list):
        raise DataError("expected a JSON list of HarmfulQA records", path=path)
    examples = []
    for index, record in enumerate(records):
        try:
            examples.extend(_harmfulqa_record(record))
        except (KeyError, TypeError, AttributeError) as exc:
            raise DataError(f"not a HarmfulQA record (missing or bad field {exc})", path=path, record=index) from None
    return examples


def _harmfulqa_record(record: dict[str, Any]) -> list[Example]:
    out = []
    prompt_id = make_id("harmfulqa-prompt", record["id"], record["question"])
    for colour, role in (("red", "unsafe"), ("blue", "safe")):
        for key, turns in sorted(record[f"{colour}_conversations"].items()):
            pair = _last_exchange(turns or [])
            if pair is None:
                continue
            meta = {
                "topic": record["topic"],
                "subtopic": record["subtopic"],
                "prompt_id": prompt_id,
                "conversation": f"{colour}/{key}",
                "question": record["question"],
            }
            out.append(
                Example(
                    id=make_id("harmfulqa", record["id"], colour, key),
                    messages=user_prompt(pair[0]),
                    response=pair[1],
                    source="harmfulqa",
                    role=role,
                    safety_kind="harmfulness",
                    original=record,
                    meta=meta,  # type: ignore[arg-type]
                )
            )
    return out


def load_safety_tuned_llamas_training(data_dir: str | Path | None = None) -> list[Example]:
    """Bianchi et al. (2024): 2,483 harmful instructions with safe responses (alpaca schema), role ``safe``."""
    path = dataset_file(data_dir, *STL_TRAIN_FILE)
    return alpaca_examples(
        read_json(path), path=path, source="safety-tuned-llamas", role="safe", safety_kind="harmfulness"
    )
