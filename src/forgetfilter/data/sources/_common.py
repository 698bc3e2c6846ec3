"""Small helpers shared by the dataset loaders: locate files, read JSON, build plain-text examples."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from forgetfilter.errors import DataError
from forgetfilter.examples import Example, user_prompt
from forgetfilter.paths import resolve_data_dir

PREFIX_WORDS = 3  # the paper prompts toxicity generations with the first 3 words of a text
_FIRST_WORDS = re.compile(rf"\S+(?:\s+\S+){{{PREFIX_WORDS - 1}}}")


def dataset_file(data_dir: str | Path | None, folder: str, *parts: str) -> Path:
    """Path of a file in the shared datasets folder; a clear error if it is absent."""
    path = resolve_data_dir(data_dir).joinpath(folder, *parts)
    if not path.is_file():
        raise DataError(f"dataset file not found; expected {folder}/{'/'.join(parts)} under the data dir", path=path)
    return path


def read_json(path: Path) -> Any:
    """Parse a whole JSON file, naming the file and line on failure."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"malformed JSON: {exc.msg} (column {exc.colno})", path=path, line=exc.lineno) from None


def split_prefix(text: str) -> tuple[str, str]:
    """``(first 3 words, rest)`` of a text; the rest is ``""`` when the text has 3 words or fewer."""
    text = text.strip()
    match = _FIRST_WORDS.match(text)
    if match is None:
        return text, ""
    return match.group(0), text[match.end() :].strip()


def plain_text_example(
    text: str, *, id: str, source: str, role: str | None, original: dict[str, Any], meta: dict[str, Any]
) -> Example:
    """A toxicity-style example: the first 3 words as the prompt, the rest of the text as the target."""
    prefix, rest = split_prefix(text)
    return Example(
        id=id,
        messages=user_prompt(prefix),
        response=rest,
        source=source,
        role=role,  # type: ignore[arg-type]
        safety_kind="toxicity",
        chat=False,
        original=original,
        meta=meta,
    )


def prompt_only(
    text: str,
    *,
    id: str,
    source: str,
    original: Any,
    meta: dict[str, Any],
    safety_kind: str | None = "harmfulness",
    chat: bool = True,
) -> Example:
    """An evaluation prompt with no target response."""
    record = original if isinstance(original, dict) else {"prompt": original}
    return Example(
        id=id,
        messages=user_prompt(text),
        response="",
        source=source,
        role=None,
        safety_kind=safety_kind,
        chat=chat,
        original=record,
        meta=meta,
    )  # type: ignore[arg-type]
