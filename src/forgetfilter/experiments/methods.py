"""The methods the study compares, and the data selection of each filtering baseline.

A selection mask is True for the examples to remove (forgetfilter.selection's convention); every selection
also carries a score per example (higher = more likely unsafe) so its AUROC can be reported.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from forgetfilter.errors import ConfigError
from forgetfilter.examples import Example


@dataclass(frozen=True)
class Method:
    """``model`` names the trained model the method evaluates: ``m0`` (no training), ``m1`` (S1 on D_noisy),
    ``m2`` (M1 then S1+), ``replay``, or a filter whose kept data M0 is finetuned on."""

    name: str
    model: str
    cue: bool = False  # prepend the moral self-correction cue at inference
    doc: str = ""


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("m0", "m0", doc="the aligned base model, no finetuning"),
        Method("no_filter", "m1", doc="S1 on D_noisy, no safety measure (M1)"),
        Method("sequential", "m2", doc="M1, then S1+ on D_safe: sequential safety finetuning (M2)"),
        Method("replay", "replay", doc="one session on D_noisy mixed with D_safe"),
        Method("self_correction", "m1", cue=True, doc="M1 with the moral self-correction cue at inference"),
        Method("forgetfilter", "forgetfilter", doc="M0 finetuned on D_noisy minus the most forgotten examples"),
        Method("forgetfilter_self_correction", "forgetfilter", cue=True, doc="ForgetFilter model with the cue"),
        Method("classifier_filter", "classifier_filter", doc="M0 finetuned on D_noisy minus scorer/keyword hits"),
        Method("random_filter", "random_filter", doc="M0 finetuned on D_noisy minus as many random examples"),
        Method("oracle", "oracle", doc="M0 finetuned on D_noisy minus exactly the unsafe examples"),
    )
}
FILTERS: tuple[str, ...] = ("forgetfilter", "classifier_filter", "random_filter", "oracle")


@dataclass(frozen=True)
class MethodSelection:
    """Which examples a filter removes (``mask`` True = remove) and its score per example."""

    name: str
    mask: np.ndarray
    scores: np.ndarray

    @property
    def n_removed(self) -> int:
        return int(self.mask.sum())

    def kept(self, examples: Sequence[Example]) -> list[Example]:
        return [ex for ex, m in zip(examples, self.mask, strict=True) if not m]

    def quality(self, examples: Sequence[Example]) -> dict[str, float]:
        """Removal count, and precision/recall/F1/AUROC (positive = unsafe) when the data carries roles."""
        from forgetfilter.selection import filter_quality

        if not any(ex.role is not None for ex in examples):
            return {"n_removed": float(self.n_removed)}
        return filter_quality(self.mask, self.scores, [ex.role == "unsafe" for ex in examples])


def oracle_selection(examples: Sequence[Example]) -> MethodSelection:
    """Remove exactly the examples labelled ``role: unsafe`` (an upper bound no real filter has)."""
    if not any(ex.role is not None for ex in examples):
        raise ConfigError("the oracle method needs role labels (role: unsafe/safe/task) in D_noisy; drop 'oracle'")
    unsafe = np.array([ex.role == "unsafe" for ex in examples], dtype=bool)
    return MethodSelection("oracle", unsafe, unsafe.astype(float))


def random_selection(n: int, budget: int, *, seed: int) -> MethodSelection:
    """Remove ``budget`` examples chosen uniformly at random (seeded): the filter with no signal at all."""
    if not 0 <= budget <= n:
        raise ConfigError(f"random filter budget must be between 0 and {n}, got {budget}")
    scores = np.random.default_rng(seed).random(n)
    mask = np.zeros(n, dtype=bool)
    mask[np.argsort(-scores, kind="stable")[:budget]] = True
    return MethodSelection("random_filter", mask, scores)


def classifier_selection(
    examples: Sequence[Example],
    scorer: Callable[[Sequence[str]], list[float]],
    *,
    threshold: float = 0.5,
    keywords: Sequence[str] = (),
) -> MethodSelection:
    """Remove examples whose response scores above ``threshold`` or contains a keyword (whole word, any case).

    A keyword hit counts as score 1.0. This is the reviewers' baseline: it catches words, not stereotypes.
    """
    responses = [ex.response for ex in examples]
    scores = np.asarray(scorer(responses), dtype=float)
    if scores.shape != (len(examples),):
        raise ConfigError(f"the classifier returned {scores.shape[0]} scores for {len(examples)} responses")
    hits = np.zeros(len(examples), dtype=bool)
    if keywords:
        pattern = re.compile(r"\b(" + "|".join(re.escape(k) for k in keywords) + r")\b", re.IGNORECASE)
        hits = np.array([bool(pattern.search(text)) for text in responses], dtype=bool)
    return MethodSelection("classifier_filter", (scores > threshold) | hits, np.where(hits, 1.0, scores))
