"""Checks of single config values, shared by the config dataclasses: each names the key, the value and the fix.

They run when a config is built, so a bad value stops a run before any model is loaded.
"""

from __future__ import annotations

import math
from typing import Any

from forgetfilter.errors import ConfigError


def check_int(name: str, value: Any, *, minimum: int, optional: bool = False) -> None:
    """``value`` is an int >= ``minimum`` (None allowed when ``optional``); bools and floats are refused."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")


def check_number(
    name: str,
    value: Any,
    *,
    above: float | None = None,
    at_least: float | None = None,
    at_most: float | None = None,
    below: float | None = None,
    optional: bool = False,
) -> None:
    """``value`` is a finite real number within the given bounds (None allowed when ``optional``)."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    bounds = []
    if above is not None and not value > above:
        bounds.append(f"> {above}")
    if at_least is not None and not value >= at_least:
        bounds.append(f">= {at_least}")
    if at_most is not None and not value <= at_most:
        bounds.append(f"<= {at_most}")
    if below is not None and not value < below:
        bounds.append(f"< {below}")
    if bounds or (math.isinf(value) and name != "phi"):
        expected = " and ".join(bounds) if bounds else "finite"
        raise ConfigError(f"{name} must be {expected}, got {value}")


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        import difflib

        close = difflib.get_close_matches(str(value), choices, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}{hint}")


def check_bool(name: str, value: Any, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be true or false, got {value!r}")
