"""ExperimentConfig: the paper's study for one safety kind. Dataclasses hold the defaults; YAML sets values;
``key=value`` overrides (dotted keys, the same names as the YAML) win; unknown keys are an error."""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from forgetfilter.config import FilterConfig
from forgetfilter.config_io import load, to_plain
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
    model: str | None = None  # named model (qwen2.5-0.5b...), hub id, folder, .gguf; None = SmolLM2
    seed: int = 0  # data mix, random filter and evaluation prompts
    methods: tuple[str, ...] = tuple(METHODS)
    cue: str | None = None  # moral self-correction cue; None = the kind's default (experiments.cues)
    filter_from: str | None = None  # an earlier run's RUN/filter (weights not needed): reuse its selection
    train_seed: int | None = None  # LoRA init and batch order of every method's own finetune; None = filter.s1.seed
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
        try:
            self.filter.check_cut()
        except ConfigError as error:
            raise ConfigError(f"filter: {error}") from None
        if self.filter_from is not None and (needs := [m for m in self.methods if METHODS[m].model in ("m1", "m2")]):
            raise ConfigError(
                f"methods {', '.join(needs)} evaluate the filter's own models (M1, M2), which filter_from does not "
                "train; drop them or filter_from"
            )
        if self.train_seed is not None and self.train_seed < 0:
            raise ConfigError(f"train_seed must be >= 0 (or null for filter.s1.seed), got {self.train_seed}")
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
        return to_plain(self)


def _check_choice(key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        close = difflib.get_close_matches(str(value), choices, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"{key}: unknown value {value!r} (choose from {', '.join(choices)}){hint}")


def load_experiment_config(path: str | Path, overrides: list[str] | None = None) -> ExperimentConfig:
    """Read a YAML experiment config, apply ``key=value`` overrides and validate; errors name the file."""
    return load(ExperimentConfig, path, overrides)
