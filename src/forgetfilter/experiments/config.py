"""ExperimentConfig: the paper's study for one safety kind. Dataclasses hold the defaults; YAML sets values;
``key=value`` overrides (dotted keys, the same names as the YAML) win; unknown keys are an error."""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from forgetfilter.config import FilterConfig
from forgetfilter.errors import ConfigError
from forgetfilter.experiments.methods import METHODS
from forgetfilter.training import SessionSettings

KINDS: tuple[str, ...] = ("bias", "toxicity", "harmfulness", "mixed")


@dataclass(frozen=True)
class DataSettings:
    """Build the paper's mix (``n``, ``unsafe_ratio``) or read existing files (``d_noisy`` + ``d_safe``)."""

    n: int = 600
    unsafe_ratio: float = 0.5
    n_safe: int | None = None  # size of D_safe; None = n // 2
    data_dir: str | None = None  # shared datasets folder; None = the default
    d_noisy: str | None = None  # an existing D_noisy file instead of building the mix
    d_safe: str | None = None
    eval_dir: str | None = None  # eval_<suite>.jsonl files; None = the built mix's (or raw datasets)


@dataclass(frozen=True)
class EvalSettings:
    """forgetfilter.evaluate.suite.evaluate settings, used for every method."""

    n: int = 100  # prompts per suite (the same prompts for every method)
    batch_size: int = 16
    max_new_tokens: int | dict[str, int] | None = None  # one budget, or per part (toxicity, bias, ...)
    scorer: str = "profanity"
    detoxify_checkpoint: str | None = None


@dataclass(frozen=True)
class ClassifierSettings:
    """The classifier-filter baseline: remove examples whose response the scorer or a keyword flags."""

    scorer: str = "profanity"
    threshold: float = 0.5  # remove when score > threshold
    keywords: tuple[str, ...] = ()  # case-insensitive whole words; a hit removes the example


@dataclass(frozen=True)
class InterleavedSettings:
    """R rounds of (noisy finetuning on a slice of D_noisy, safety finetuning on D_safe), with and without
    ForgetFilter on each slice; the safety suite is evaluated after every session."""

    rounds: int = 0  # 0 = skip the interleaved study
    noisy: SessionSettings = field(default_factory=SessionSettings)
    safe: SessionSettings = field(default_factory=lambda: SessionSettings(epochs=1.0))
    n_eval: int | None = None  # safety prompts per evaluation; None = eval.n (at most eval.n are written)


@dataclass(frozen=True)
class ExperimentConfig:
    """Everything ``forgetfilter experiment`` needs; ``filter`` is the FilterConfig of the ForgetFilter run
    (its sessions s1/s1_plus also train every other method)."""

    kind: str = "bias"
    model: str | None = None  # hub id, folder, .gguf; None = SmolLM2-135M-Instruct
    seed: int = 0  # data mix, random filter and evaluation prompts
    methods: tuple[str, ...] = tuple(METHODS)
    cue: str | None = None  # moral self-correction cue; None = the kind's default (experiments.cues)
    data: DataSettings = field(default_factory=DataSettings)
    filter: FilterConfig = field(default_factory=FilterConfig)
    eval: EvalSettings = field(default_factory=EvalSettings)
    classifier: ClassifierSettings = field(default_factory=ClassifierSettings)
    interleaved: InterleavedSettings = field(default_factory=InterleavedSettings)

    def __post_init__(self) -> None:
        _check_choice("kind", self.kind, KINDS)
        for name in self.methods:
            _check_choice("methods", name, tuple(METHODS))
        if len(set(self.methods)) != len(self.methods):
            raise ConfigError(f"methods lists a method twice: {list(self.methods)}")
        if self.filter.model is not None:
            raise ConfigError("set the model with the top-level key `model`, not filter.model")
        if (self.data.d_noisy is None) != (self.data.d_safe is None):
            raise ConfigError("data.d_noisy and data.d_safe go together: give both files or neither")
        from forgetfilter.evaluate.toxicity import SCORERS

        _check_choice("eval.scorer", self.eval.scorer, tuple(SCORERS))
        _check_choice("classifier.scorer", self.classifier.scorer, tuple(SCORERS))
        if self.eval.n < 2:
            raise ConfigError(
                f"eval.n must be >= 2 (the task suite splits it over SQuAD and Alpaca), got {self.eval.n}"
            )
        if self.interleaved.n_eval is not None and self.interleaved.n_eval < 1:
            raise ConfigError(f"interleaved.n_eval must be >= 1, got {self.interleaved.n_eval}")
        if self.interleaved.rounds < 0:
            raise ConfigError(f"interleaved.rounds must be >= 0, got {self.interleaved.rounds}")

    def filter_config(self) -> FilterConfig:
        """The FilterConfig every session and score uses (the top-level model filled in)."""
        return dataclasses.replace(self.filter, model=self.model)

    def to_dict(self) -> dict[str, Any]:
        """Plain values (tuples as lists), ready for YAML/JSON."""
        return _plain(dataclasses.asdict(self))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _check_choice(key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        close = difflib.get_close_matches(str(value), choices, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"{key}: unknown value {value!r} (choose from {', '.join(choices)}){hint}")


def from_dict(cls: type, values: Any, where: str = "") -> Any:
    """Build dataclass ``cls`` from plain values, recursing into nested dataclasses; errors name the dotted key."""
    if not isinstance(values, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping of keys, found {type(values).__name__}")
    hints = typing.get_type_hints(cls)
    known = [f.name for f in dataclasses.fields(cls)]
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"; did you mean {(where + '.' if where else '') + close[0]!r}?" if close else ""
            raise ConfigError(f"unknown key {path!r}{hint} (known here: {', '.join(known)})")
        kwargs[key] = _convert(hints[key], value, path)
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}" if where else str(exc)) from None


def _convert(hint: Any, value: Any, path: str) -> Any:
    """Check and convert one value against its annotation (dataclass, tuple, scalar, optional)."""
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, path)
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
        if origin in (int, str, bool) and type(value) is origin:
            return value
    expected = " or ".join(getattr(o, "__name__", str(o)) for o in options if o is not type(None))
    raise ConfigError(f"{path}: expected {expected}, found {type(value).__name__} {value!r}")


def apply_overrides(values: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Set ``a.b=value`` pairs (values parsed as YAML: ``3``, ``0.5``, ``null``, ``[a, b]``) into a copy."""
    import copy

    import yaml

    out = copy.deepcopy(values)
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r}: expected key=value, e.g. data.n=120 or filter.s1.epochs=1")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"override {item!r}: the value is not valid YAML ({exc})") from None
        node = out
        parts = key.strip().split(".")
        for part in parts[:-1]:
            if not isinstance(node.setdefault(part, {}), dict):
                raise ConfigError(f"override {item!r}: {part!r} is a value, not a section")
            node = node[part]
        node[parts[-1]] = value
    return out


def load_experiment_config(path: str | Path, overrides: list[str] | None = None) -> ExperimentConfig:
    """Read a YAML experiment config, apply ``key=value`` overrides and validate; errors name the file."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a mapping of config keys, found {type(values).__name__}")
    try:
        return from_dict(ExperimentConfig, apply_overrides(values, overrides or []))
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
