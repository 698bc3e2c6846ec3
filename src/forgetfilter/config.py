"""FilterConfig: the single source of defaults for a ForgetFilter run (Python, YAML and CLI share its names)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from forgetfilter.errors import ConfigError
from forgetfilter.models import LoraSettings
from forgetfilter.selection import DEFAULT_RISE, THRESHOLD_METHODS, check_rise
from forgetfilter.training import SessionSettings

# The default of each nested section; S1 trains until D_noisy is learned (FilterConfig.s1); S1+ is 4 epochs without
# accumulation (FilterConfig.s1_plus). A section given as a dict, e.g. FilterConfig(s1_plus={"max_steps": 100}),
# starts from these; one that gives epochs or max_steps trains for steps (SessionSettings.given).
# The fixed cuts: at most one is set, and one given replaces a recorded or configured cut of any kind.
CUT_KEYS = ("phi", "fraction", "count")

_DEFAULT_SECTIONS: dict[str, Any] = {
    "lora": LoraSettings,
    "s1": lambda: SessionSettings(until="learned"),
    "s1_plus": lambda: SessionSettings(epochs=4.0, grad_accum=1),
}


@dataclass(frozen=True)
class FilterConfig:
    """Everything a ForgetFilter run needs besides the data.

    ``signal`` decides the filter; every signal in ``signals`` is computed and reported.
    Threshold: at most one of ``phi`` (fixed), ``fraction`` or ``count`` (removal budget); with none,
    ``threshold_method``: ``rise`` (log_nll above ``rise``), or a cut from the shape of the forgetting distribution
    (``otsu``, ``robust_otsu``, ``gmm``) or from canaries (``canary``); none needs labels.
    """

    model: str | None = None  # named model (named_models.py), hub id, folder, .gguf; None = SmolLM2
    # Defaults chosen on the bias mix, seed 0 (docs/signal-study.md): the log-ratio of the mean NLL over every
    # response token separated unsafe examples as well as the paper's generation ROUGE (AUROC 0.914 vs 0.913) at
    # a fraction of the cost; dropping shared response prefixes ("answer") lost the decisive first token.
    signal: str = "log_nll"
    signals: tuple[str, ...] = ("log_nll", "nll", "token_accuracy")
    token_selection: str = "all"  # all: every response token; answer: skip shared response prefixes and end-of-turn
    phi: float | None = None
    fraction: float | None = None
    count: int | None = None
    threshold_method: str = "rise"  # rise (log_nll only) | otsu | robust_otsu | gmm (shape) | canary
    rise: float = DEFAULT_RISE  # threshold_method rise: remove log_nll forgetting above this (NLL up e^rise - 1)
    # Known-benign canaries: this many D_safe examples are left out of S1+ and mixed into S1; their forgetting is
    # what benign data does, and threshold_method canary removes above its (1 - canary_fpr) quantile.
    canaries: int = 0
    canary_fpr: float = 0.05
    lora: LoraSettings = field(default_factory=LoraSettings)
    # S1: until the training loss on D_noisy improves by less than 2% over an epoch (at most 10 epochs): an example
    # M1 never learned cannot be forgotten. On the bias mix it stopped after 3-4 epochs and raised log_nll AUROC
    # from 0.84-0.87 to 0.89-0.91 on the report seeds, for 1.5-1.9x the S1 time (docs/signal-study.md section 8)
    s1: SessionSettings = field(default_factory=_DEFAULT_SECTIONS["s1"])
    # S1+: 4 epochs at batch 8 without accumulation (150 steps on 300 safe examples): more optimizer steps for
    # the same compute, since the unsafe/other gap grows with the number of S1+ steps (docs/signal-study.md)
    s1_plus: SessionSettings = field(default_factory=_DEFAULT_SECTIONS["s1_plus"])
    score_m0: bool = True  # score D_noisy under M0 too: how much S1 taught, and the no-training baseline
    score_batch_size: int = 16
    max_new_tokens: int = 32  # greedy tokens for the rouge signal
    curve_every: int = 0  # score a per-role sample every k optimizer steps of S1 and S1+ (0: no curves)
    curve_per_role: int = 40
    dtype: str = "auto"  # base weights: auto = bf16 where a probe shows this machine computes it faster, else fp32
    device: str | None = None

    def __post_init__(self) -> None:
        from forgetfilter.signals import TOKEN_SELECTIONS, check_signal
        from forgetfilter.validate import check_bool, check_choice, check_int, check_number

        if isinstance(self.signals, str) or not isinstance(self.signals, tuple | list) or not self.signals:
            raise ConfigError(f"signals must be a non-empty list of signal names, got {self.signals!r}")
        object.__setattr__(self, "signals", tuple(self.signals))
        for signal in (self.signal, *self.signals):
            check_signal(signal)
        check_number("phi", self.phi, optional=True)
        check_number("fraction", self.fraction, at_least=0, at_most=1, optional=True)
        check_int("count", self.count, minimum=0, optional=True)
        given = self.fixed_cuts()
        if len(given) > 1:
            raise ConfigError(f"give at most one of phi, fraction and count (got {' and '.join(given)})")
        check_choice("threshold_method", self.threshold_method, THRESHOLD_METHODS)
        check_number("rise", self.rise)
        check_int("canaries", self.canaries, minimum=0)
        check_number("canary_fpr", self.canary_fpr, above=0, below=1)
        if self.threshold_method == "canary" and not self.canaries:
            raise ConfigError("threshold_method canary needs canaries: set canaries to a number of D_safe examples")
        for name, settings, kind in (
            ("lora", self.lora, LoraSettings),
            ("s1", self.s1, SessionSettings),
            ("s1_plus", self.s1_plus, SessionSettings),
        ):
            if isinstance(settings, dict):  # a partial section keeps this field's own defaults (S1+ differs from S1)
                from forgetfilter.config_io import from_dict

                settings = from_dict(kind, settings, name, base=_DEFAULT_SECTIONS[name]())
                object.__setattr__(self, name, settings)
            if not isinstance(settings, kind):
                raise ConfigError(f"{name} must be a mapping of {kind.__name__} keys, got {settings!r}")
        check_bool("score_m0", self.score_m0)
        check_int("score_batch_size", self.score_batch_size, minimum=1)
        check_int("max_new_tokens", self.max_new_tokens, minimum=1)
        check_int("curve_every", self.curve_every, minimum=0)
        check_int("curve_per_role", self.curve_per_role, minimum=1)
        if self.signal not in self.signals:
            object.__setattr__(self, "signals", (*self.signals, self.signal))
        from forgetfilter.precision import canonical_dtype

        object.__setattr__(self, "dtype", canonical_dtype(self.dtype))
        if self.token_selection not in TOKEN_SELECTIONS:
            raise ConfigError(f"token_selection must be one of {', '.join(TOKEN_SELECTIONS)}")

    def fixed_cuts(self) -> list[str]:
        """The fixed cuts set (keys of CUT_KEYS); one replaces the label-free threshold_method."""
        return [name for name in CUT_KEYS if getattr(self, name) is not None]

    def check_cut(self) -> None:
        """Refuse a cut that cannot apply to the deciding signal (rise is on the log_nll scale); checked once the
        config is final, before any model loads, so ``FilterConfig(signal="nll")`` may still get a cut later."""
        check_rise(self.threshold_method, self.signal, phi=self.phi, fraction=self.fraction, count=self.count)

    def to_dict(self) -> dict[str, Any]:
        """Plain values (tuples as lists), ready for YAML/JSON; ``from_dict`` reads them back."""
        from forgetfilter.config_io import to_plain

        return to_plain(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> FilterConfig:
        """Build from plain values (YAML/JSON), checked against the annotations; unknown keys are an error naming
        them; a section given in part keeps that section's defaults (``s1_plus: {lr: 1e-4}`` stays 4 epochs)."""
        from forgetfilter.config_io import from_dict

        return from_dict(cls, values)


def signal_settings(config: FilterConfig) -> dict[str, Any]:
    """The scoring keywords of ``signals.compute_signals`` as a run with ``config`` uses them."""
    return {
        "token_selection": config.token_selection,
        "batch_size": config.score_batch_size,
        "max_length": config.s1.max_length,
        "max_new_tokens": config.max_new_tokens,
    }
