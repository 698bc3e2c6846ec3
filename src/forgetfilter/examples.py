"""The one record type every part of forgetfilter passes around."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["unsafe", "safe", "task"]
SafetyKind = Literal["bias", "toxicity", "harmfulness"]
ROLES: tuple[str, ...] = ("unsafe", "safe", "task")
SAFETY_KINDS: tuple[str, ...] = ("bias", "toxicity", "harmfulness")

Message = dict[str, str]  # {"role": "system"|"user"|"assistant", "content": str}


@dataclass(frozen=True)
class Example:
    """One training example: a prompt (chat turns or plain text) and the target response.

    ``messages`` holds the conversation up to, not including, the target ``response``.
    ``chat=False`` marks plain-text continuation data (e.g. toxic web text): the model sees
    ``prompt_text + response`` with no chat template.
    ``original`` is the record exactly as read, so filtered output can be written back in the
    user's own schema.
    """

    id: str
    messages: tuple[Message, ...]
    response: str
    source: str
    role: Role | None = None
    safety_kind: SafetyKind | None = None
    chat: bool = True
    original: Mapping[str, Any] = field(default_factory=dict, compare=False)
    meta: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def prompt_text(self) -> str:
        """The last user turn (or the plain-text prefix when ``chat`` is False)."""
        for message in reversed(self.messages):
            if message["role"] == "user":
                return message["content"]
        return ""


def make_id(source: str, *parts: Any) -> str:
    """A stable id derived from the source name and the example's content."""
    payload = json.dumps([source, *parts], sort_keys=True, ensure_ascii=False, default=str)
    digest = hashlib.sha1(payload.encode("utf-8")).hexdigest()[:12]
    return f"{source}-{digest}"


def user_prompt(text: str, *, system: str | None = None) -> tuple[Message, ...]:
    """Messages for a single-turn prompt."""
    turns: list[Message] = [] if system is None else [{"role": "system", "content": system}]
    turns.append({"role": "user", "content": text})
    return tuple(turns)
