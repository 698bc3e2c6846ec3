"""Render an example's prompt and response into model text, the same way for training and scoring."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from forgetfilter.examples import Example, Message

PLAIN_TEMPLATE_ROLES = {"system": "System", "user": "User", "assistant": "Assistant"}


def render_prompt(tokenizer: Any, messages: Sequence[Message], *, chat: bool = True) -> str:
    """The text the model sees before the response.

    Chat examples go through the tokenizer's chat template with a generation prompt (a plain
    ``User: ...\\nAssistant:`` layout when the model has none); plain-text examples are their prefix.
    """
    if not chat:
        return "".join(m["content"] for m in messages)
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)
    lines = [f"{PLAIN_TEMPLATE_ROLES.get(m['role'], m['role'])}: {m['content']}" for m in messages]
    return "\n".join(lines) + "\nAssistant:"


def response_suffix(tokenizer: Any, *, chat: bool = True) -> str:
    """Text appended after a response so the model learns to stop (end-of-turn / eos)."""
    if chat and getattr(tokenizer, "chat_template", None) and "<|im_end|>" in tokenizer.chat_template:
        return "<|im_end|>"
    return tokenizer.eos_token or ""


def render_example(tokenizer: Any, example: Example) -> tuple[str, str]:
    """``(prompt_text, response_text)``; the response text carries the end-of-turn marker."""
    prompt = render_prompt(tokenizer, example.messages, chat=example.chat)
    separator = " " if not example.chat and prompt and not prompt.endswith((" ", "\n")) else ""
    return prompt, separator + example.response + response_suffix(tokenizer, chat=example.chat)
