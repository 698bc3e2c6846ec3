"""Turn one user record into an Example, per schema (alpaca, sharegpt, messages, prompt/completion, ...).

Each parser raises ``ValueError`` with a short reason; ``formats.read_examples`` adds the file and line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from forgetfilter.examples import ROLES, SAFETY_KINDS, Example, make_id, user_prompt

CHAT_ROLES = ("system", "user", "assistant")
SHAREGPT_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "system": "system",
    "chatgpt": "assistant",
    "bing": "assistant",
    "bard": "assistant",
}
Parsed = tuple[tuple[dict[str, str], ...], str, bool]  # (prompt messages, response, chat)


def _string(record: Mapping[str, Any], key: str, *, optional: bool = False) -> str:
    if key not in record or record[key] is None:
        if optional:
            return ""
        raise ValueError(f"missing field {key!r} (found {sorted(record)})")
    if not isinstance(record[key], str):
        raise ValueError(f"field {key!r} must be a string, found {type(record[key]).__name__}")
    return record[key]


def _turns(value: Any, key: str, role_key: str, text_key: str, roles: Mapping[str, str]) -> list[dict[str, str]]:
    if not isinstance(value, list) or not value:
        raise ValueError(f"field {key!r} must be a non-empty list of turns")
    turns = []
    for i, turn in enumerate(value):
        if not isinstance(turn, dict) or not isinstance(turn.get(text_key), str):
            raise ValueError(f"{key}[{i}] must be an object with a string {text_key!r}")
        role = roles.get(str(turn.get(role_key)).lower())
        if role is None:
            raise ValueError(f"{key}[{i}].{role_key} is {turn.get(role_key)!r}; expected one of {sorted(roles)}")
        turns.append({"role": role, "content": turn[text_key]})
    return turns


def _split_target(turns: list[dict[str, str]], key: str) -> Parsed:
    if turns[-1]["role"] != "assistant":
        raise ValueError(f"the last turn of {key!r} must be the assistant's (the target), found {turns[-1]['role']!r}")
    if not any(t["role"] == "user" for t in turns[:-1]):
        raise ValueError(f"{key!r} has no user turn before the target")
    return tuple(turns[:-1]), turns[-1]["content"], True


def parse_alpaca(record: Mapping[str, Any]) -> Parsed:
    instruction, extra = _string(record, "instruction"), _string(record, "input", optional=True)
    prompt = f"{instruction}\n\n{extra}" if extra.strip() else instruction
    return user_prompt(prompt), _string(record, "output"), True


def parse_messages(record: Mapping[str, Any]) -> Parsed:
    roles = {r: r for r in CHAT_ROLES}
    return _split_target(_turns(record.get("messages"), "messages", "role", "content", roles), "messages")


def parse_sharegpt(record: Mapping[str, Any]) -> Parsed:
    turns = _turns(record.get("conversations"), "conversations", "from", "value", SHAREGPT_ROLES)
    return _split_target(turns, "conversations")


def parse_prompt_completion(record: Mapping[str, Any]) -> Parsed:
    prompt, completion = record.get("prompt"), record.get("completion")
    if isinstance(prompt, str) or isinstance(completion, str):
        return user_prompt(_string(record, "prompt")), _string(record, "completion"), False
    roles = {r: r for r in CHAT_ROLES}
    head = _turns(prompt, "prompt", "role", "content", roles)
    tail = _turns(completion, "completion", "role", "content", roles)
    if len(tail) != 1 or tail[0]["role"] != "assistant":
        raise ValueError("conversational 'completion' must be exactly one assistant message")
    return _split_target(head + tail, "prompt")


def parse_prompt_response(record: Mapping[str, Any]) -> Parsed:
    return user_prompt(_string(record, "prompt")), _string(record, "response"), True


SCHEMAS: dict[str, tuple[tuple[str, ...], Callable[[Mapping[str, Any]], Parsed]]] = {
    # name: (keys that identify it, parser); detection tries them in this order
    "messages": (("messages",), parse_messages),
    "sharegpt": (("conversations",), parse_sharegpt),
    "prompt_completion": (("prompt", "completion"), parse_prompt_completion),
    "prompt_response": (("prompt", "response"), parse_prompt_response),
    "alpaca": (("instruction",), parse_alpaca),
}


def _label(record: Mapping[str, Any], key: str, allowed: tuple[str, ...]) -> str | None:
    value = record.get(key)
    if value is None or value == "":
        return None
    if value not in allowed:
        raise ValueError(f"field {key!r} is {value!r}; expected one of {', '.join(allowed)} (or leave it out)")
    return value


def to_example(record: Any, schema: str, *, default_source: str) -> Example:
    """An Example from one record; optional ``id``, ``role``, ``safety_kind``, ``source``, ``meta`` are honoured."""
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, found {type(record).__name__}")
    messages, response, chat = SCHEMAS[schema][1](record)
    source = record.get("source") or default_source
    if not isinstance(source, str):
        raise ValueError(f"field 'source' must be a string, found {type(source).__name__}")
    meta = record.get("meta") or {}
    if not isinstance(meta, dict):
        raise ValueError(f"field 'meta' must be an object, found {type(meta).__name__}")
    record_id = record.get("id")
    if record_id is None or record_id == "":
        record_id = make_id(source, [m for m in messages], response)
    return Example(
        id=str(record_id),
        messages=messages,
        response=response,
        source=source,
        role=_label(record, "role", ROLES),
        safety_kind=_label(record, "safety_kind", SAFETY_KINDS),  # type: ignore[arg-type]
        chat=chat,
        original=record,
        meta=meta,
    )
