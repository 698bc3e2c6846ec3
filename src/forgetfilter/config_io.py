"""One typed loader for every configuration dataclass: YAML/JSON files, dotted ``key=value`` overrides, plain dicts.

The dataclasses hold the defaults; this module only converts and checks values against their annotations, so a
YAML file, a command line and Python code build the same object. A section given in part (``s1_plus: {lr: 1e-4}``)
keeps that section's own defaults for the keys it leaves out, not those of the section's class.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from forgetfilter.errors import ConfigError

T = TypeVar("T")
# YAML 1.1 (PyYAML) reads 1e-4 or 2E5 as a string: a float written in exponent form is taken as that float
_EXPONENT_FLOAT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+$")


def from_dict(cls: type[T], values: Any, where: str = "", *, base: T | None = None) -> T:
    """Build dataclass ``cls`` from plain values over ``base`` (default: ``cls()``), recursing into nested
    dataclasses; errors name the dotted key and suggest the closest known key."""
    if not isinstance(values, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping of keys, found {type(values).__name__}")
    start = base if base is not None else cls()
    given = getattr(cls, "given", None)  # a dataclass may complete what a section gives (SessionSettings.given)
    if callable(given):
        values = given(values)
    hints = typing.get_type_hints(cls)
    known = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    changes: dict[str, Any] = {}
    for key, value in values.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"; did you mean {(where + '.' if where else '') + close[0]!r}?" if close else ""
            raise ConfigError(f"unknown key {path!r}{hint} (known here: {', '.join(known)})")
        hint_type = hints[key]
        if dataclasses.is_dataclass(hint_type):
            changes[key] = from_dict(hint_type, value, path, base=getattr(start, key))  # type: ignore[arg-type]
        else:
            changes[key] = convert(hint_type, value, path)
    try:
        return dataclasses.replace(start, **changes)  # type: ignore[type-var]
    except ConfigError as exc:
        if not where:
            raise
        message = str(exc)  # "grad_accum must be >= 1" inside s1 reads "s1.grad_accum must be >= 1"
        joined = f"{where}.{message}" if message.split(" ", 1)[0] in known else f"{where}: {message}"
        raise ConfigError(joined) from None


def convert(hint: Any, value: Any, path: str) -> Any:
    """Check and convert one value against its annotation (tuple, dict, scalar, optional)."""
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if value is None:
        if type(None) in options:
            return None
        raise ConfigError(f"{path}: a value is required (found null)")
    for option in options:
        origin = typing.get_origin(option) or option
        if origin is tuple and isinstance(value, list | tuple):
            return tuple(value)
        if origin is dict and isinstance(value, dict):
            return value
        if origin is float and isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if origin is float and isinstance(value, str) and _EXPONENT_FLOAT.match(value.strip()):
            number = float(value)
            if math.isfinite(number):
                return number
        if origin in (int, str, bool) and type(value) is origin:
            return value
    expected = " or ".join(_type_name(o) for o in options if o is not type(None))
    raise ConfigError(f"{path}: expected {expected}, found {type(value).__name__} {value!r}")


def _type_name(option: Any) -> str:
    origin = typing.get_origin(option)
    if origin is tuple:
        return "a list"
    if origin is dict:
        return "a mapping"
    return getattr(option, "__name__", str(option))


def apply_overrides(values: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Set ``a.b=value`` pairs (values parsed as YAML: ``3``, ``0.5``, ``null``, ``[a, b]``) into a copy."""
    import copy

    import yaml

    out = copy.deepcopy(values)
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r}: expected key=value, e.g. s1.epochs=4 or s1_plus.max_steps=100")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"override {item!r}: the value is not valid YAML ({exc})") from None
        try:
            set_dotted(out, key.strip(), value)
        except ConfigError as exc:
            raise ConfigError(f"override {item!r}: {exc}") from None
    return out


def set_dotted(values: dict[str, Any], key: str, value: Any) -> None:
    """``values["a"]["b"] = value`` for ``key`` ``a.b``, creating sections that are missing."""
    node = values
    *sections, last = key.split(".")
    for part in sections:
        if not isinstance(node.setdefault(part, {}), dict):
            raise ConfigError(f"{part!r} is a value, not a section")
        node = node[part]
    node[last] = value


def read_mapping(path: str | Path) -> dict[str, Any]:
    """The mapping in a YAML or JSON config file (``.json`` by extension); errors name the file."""
    import json

    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    is_json = path.suffix.lower() == ".json"
    try:
        values = json.loads(text) if is_json else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: not valid {'JSON' if is_json else 'YAML'}: {exc}") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a mapping of config keys, found {type(values).__name__}")
    return values


def load(cls: type[T], path: str | Path | None = None, overrides: list[str] | None = None) -> T:
    """``cls`` from a config file (or its defaults) with ``key=value`` overrides applied; errors name the file."""
    values = read_mapping(path) if path is not None else {}
    try:
        return from_dict(cls, apply_overrides(values, overrides or []))
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}" if path is not None else str(exc)) from None


def to_plain(value: Any) -> Any:
    """Plain values of a (nested) dataclass, tuples as lists, ready for YAML/JSON."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    return value
