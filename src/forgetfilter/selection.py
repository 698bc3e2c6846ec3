"""Forgetting scores, thresholds and filter quality.

Convention (as cleanlab's): a forgetting score is higher when the example was forgotten more, i.e. is
more likely unsafe; a mask is True for the examples to remove.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from forgetfilter.errors import ConfigError
from forgetfilter.signals import LOWER_IS_KNOWN, check_signal

# The default cut (threshold_method "rise"): remove an example when S1+ raised its mean response NLL by more than
# e^0.25 - 1 = 28%, i.e. log_nll forgetting > 0.25. Chosen on the bias mix, seed 0, with S1 until learned (the middle
# of the range 0.15-0.35 where the mean F1 of the two choosing runs was within 0.01 of its best; 0.15 was the same
# rule's answer under the older 2-epoch S1); a ratio of NLLs, so unlike Otsu it does not move with the share of unsafe
# examples (docs/signal-study.md sections 7 and 10). Calibrated for the default S1 and S1+ (150 steps at lr 2e-4): a
# much longer or stronger S1+ raises every NLL more.
DEFAULT_RISE = 0.25

# robust_otsu clips the scores to Tukey's fences, Q1 - k IQR and Q3 + k IQR, before Otsu: k = 1.5 is Tukey's own
# convention, not fitted to any run (docs/signal-study.md section 21).
TUKEY_FENCE = 1.5

# Methods that find a cut in any signal's own scores (so result.quality can apply them to every signal) ...
AUTO_METHODS: tuple[str, ...] = ("otsu", "robust_otsu", "gmm", "canary")
# ... and every label-free method: "rise" is a fixed cut on the log_nll scale, for that signal only.
THRESHOLD_METHODS: tuple[str, ...] = ("rise", *AUTO_METHODS)


def forgetting(before: Sequence[float], after: Sequence[float], signal: str) -> np.ndarray:
    """How much each example was forgotten between M1 (``before``) and M2 (``after``); higher = more.

    >>> forgetting([0.2, 0.5], [1.2, 0.6], "nll").round(2).tolist()
    [1.0, 0.1]
    """
    check_signal(signal)
    b, a = np.asarray(before, dtype=float), np.asarray(after, dtype=float)
    if b.shape != a.shape:
        raise ConfigError(f"before and after scores differ in length: {b.shape[0]} vs {a.shape[0]}")
    return a - b if signal in LOWER_IS_KNOWN else b - a


@dataclass(frozen=True)
class Threshold:
    """The cut applied to forgetting scores: remove examples with ``score > phi``."""

    phi: float
    method: str  # fixed | fraction | count | rise | otsu | robust_otsu | gmm | canary
    budget: int | None = None  # examples to remove, for fraction/count budgets
    fpr: float | None = None  # canary: the share of known-benign canaries allowed above phi


def otsu_threshold(scores: np.ndarray) -> float:
    """Label-free cut that maximises the between-class variance of the two sides (Otsu, 1979)."""
    values = np.sort(scores)
    if values[0] == values[-1]:
        return float(values[-1])
    n = len(values)
    cumsum = np.cumsum(values)
    k = np.arange(1, n)  # left class = values[:k]
    w0, w1 = k / n, 1 - k / n
    mu0 = cumsum[:-1] / k
    mu1 = (cumsum[-1] - cumsum[:-1]) / (n - k)
    between = w0 * w1 * (mu0 - mu1) ** 2
    between[values[1:] == values[:-1]] = -1  # only cut between distinct values
    best = int(np.argmax(between))
    return float((values[best] + values[best + 1]) / 2)


def tukey_fences(scores: np.ndarray, k: float = TUKEY_FENCE) -> tuple[float, float]:
    """Tukey's fences: (Q1 - k IQR, Q3 + k IQR); values beyond them are outliers."""
    q1, q3 = np.percentile(scores, [25, 75])
    return float(q1 - k * (q3 - q1)), float(q3 + k * (q3 - q1))


def robust_otsu_threshold(scores: np.ndarray) -> float:
    """Otsu's cut on the scores clipped to Tukey's fences: a few extreme scores move the between-class variance so
    much that plain Otsu can cut off the far tail alone (20 of 600 removed on harmfulness seed 2; docs/signal-study.md
    §20); clipped, they count as large but not as huge. The cut applies to the unclipped scores.

    >>> scores = np.r_[np.zeros(60), np.ones(40), 30.0, 40.0]
    >>> otsu_threshold(scores), robust_otsu_threshold(scores)
    (15.5, 0.5)
    """
    low, high = tukey_fences(scores)
    return otsu_threshold(np.clip(scores, low, high))


def gmm_threshold(scores: np.ndarray, *, seed: int = 0) -> float:
    """Label-free cut where a 2-component Gaussian mixture gives the high component even odds, searched between
    the two means: a wider high component also wins the far-left tail, which is no place to cut."""
    from sklearn.mixture import GaussianMixture

    if scores.min() == scores.max():
        return float(scores.max())
    gmm = GaussianMixture(n_components=2, random_state=seed).fit(scores.reshape(-1, 1))
    means = gmm.means_.ravel()
    low, high = int(np.argmin(means)), int(np.argmax(means))
    grid = np.linspace(means[low], means[high], 2001)
    posterior = gmm.predict_proba(grid.reshape(-1, 1))[:, high]
    below = np.nonzero(posterior < 0.5)[0]
    if len(below) == 0:  # the high component wins even at the low mean: cut there
        return float(means[low])
    return float(grid[min(below[-1] + 1, len(grid) - 1)])


# The label-free cuts found in the shape of the scores alone (canary needs the canaries' scores, rise is a constant).
SHAPE_CUTS: dict[str, Callable[[np.ndarray], float]] = {
    "otsu": otsu_threshold,
    "robust_otsu": robust_otsu_threshold,
    "gmm": gmm_threshold,
}


def canary_threshold(null: Sequence[float], fpr: float) -> float:
    """The cut that at most a share ``fpr`` of known-benign examples' forgetting (``null``) exceeds: their
    (1 - fpr) quantile, so about ``fpr`` of the benign examples in the data are removed with them."""
    values = np.asarray(null, dtype=float)
    if len(values) == 0:
        raise ConfigError("the canary threshold needs canaries: set canaries to a number of D_safe examples")
    if not 0 < fpr < 1:
        raise ConfigError(f"canary_fpr must be between 0 and 1, got {fpr}")
    return float(np.quantile(values, 1 - fpr, method="higher"))


def check_rise(
    method: str, signal: str, *, phi: float | None = None, fraction: float | None = None, count: int | None = None
) -> None:
    """The rise cut is a value on the log_nll scale: refuse it for another deciding signal, unless a ``phi`` or a
    budget (``fraction``/``count``) replaces it."""
    if method == "rise" and signal != "log_nll" and phi is None and fraction is None and count is None:
        raise ConfigError(
            f"threshold_method rise is a cut on the log_nll scale (response NLL up by more than e^rise - 1 in S1+); "
            f"with signal {signal} set threshold_method to otsu, robust_otsu, gmm or canary, "
            "or give phi, fraction or count"
        )


def choose_threshold(
    scores: Sequence[float],
    *,
    phi: float | None = None,
    fraction: float | None = None,
    count: int | None = None,
    method: str = "rise",
    rise: float = DEFAULT_RISE,
    null: Sequence[float] | None = None,
    fpr: float = 0.05,
) -> Threshold:
    """A fixed ``phi``, a removal budget (``fraction`` or ``count``), or a label-free ``method``: ``rise`` (remove
    log_nll forgetting above ``rise``, the default), ``otsu``, ``robust_otsu`` (Otsu on scores clipped to Tukey's
    fences), ``gmm`` (all from the shape of ``scores``) or
    ``canary`` (from ``null``, the forgetting of known-benign canaries, at false-positive rate ``fpr``)."""
    values = np.asarray(scores, dtype=float)
    if len(values) == 0:
        raise ConfigError("no forgetting scores to threshold")
    if sum(x is not None for x in (phi, fraction, count)) > 1:
        raise ConfigError("give at most one of phi, fraction and count")
    if phi is not None:
        return Threshold(phi=float(phi), method="fixed")
    if fraction is not None:
        if not 0 <= fraction <= 1:
            raise ConfigError(f"fraction must be between 0 and 1, got {fraction}")
        return _budget(values, round(fraction * len(values)), "fraction")
    if count is not None:
        if not 0 <= count <= len(values):
            raise ConfigError(f"count must be between 0 and {len(values)} (the number of examples), got {count}")
        return _budget(values, count, "count")
    if method == "rise":
        return Threshold(phi=float(rise), method="rise")
    if method in SHAPE_CUTS:
        return Threshold(phi=SHAPE_CUTS[method](values), method=method)
    if method == "canary":
        return Threshold(phi=canary_threshold(null if null is not None else [], fpr), method="canary", fpr=fpr)
    raise ConfigError(f"unknown threshold method {method!r}; choose one of {', '.join(THRESHOLD_METHODS)}")


@dataclass(frozen=True)
class Selection:
    """Tier 2's answer: the forgetting score of each example, the cut chosen, and the mask (True = remove)."""

    scores: np.ndarray
    threshold: Threshold
    mask: np.ndarray


def select(
    before: Sequence[float],
    after: Sequence[float],
    signal: str,
    *,
    phi: float | None = None,
    fraction: float | None = None,
    count: int | None = None,
    method: str = "rise",
    rise: float = DEFAULT_RISE,
    canaries: tuple[Sequence[float], Sequence[float]] | None = None,
    fpr: float = 0.05,
) -> Selection:
    """From one signal under M1 (``before``) and M2 (``after``) to the examples to remove: forgetting, then a fixed
    ``phi``, a budget (``fraction``/``count``) or a label-free ``method`` (``rise``, on log_nll, by default);
    ``canaries`` = (before, after) of the known-benign canaries for ``method="canary"``. A pure function of the
    numbers.

    >>> select([0.1, 0.1, 0.1, 0.1], [0.1, 0.2, 1.5, 1.6], "nll", count=2).mask.tolist()
    [False, False, True, True]
    """
    scores = forgetting(before, after, signal)
    check_rise(method, signal, phi=phi, fraction=fraction, count=count)
    null = forgetting(*canaries, signal) if canaries is not None else None
    threshold = choose_threshold(
        scores, phi=phi, fraction=fraction, count=count, method=method, rise=rise, null=null, fpr=fpr
    )
    return Selection(scores, threshold, filter_mask(scores, threshold))


def _budget(values: np.ndarray, k: int, method: str) -> Threshold:
    phi = float("inf") if k == 0 else float(np.sort(values)[::-1][k - 1])
    return Threshold(phi=phi, method=method, budget=k)


def filter_mask(scores: Sequence[float], threshold: Threshold) -> np.ndarray:
    """Boolean mask aligned to ``scores``: True = remove. A budget removes exactly ``budget`` examples
    (ties broken by input order)."""
    values = np.asarray(scores, dtype=float)
    if threshold.budget is None:
        return values > threshold.phi
    order = np.argsort(-values, kind="stable")
    mask = np.zeros(len(values), dtype=bool)
    mask[order[: threshold.budget]] = True
    return mask


def filter_quality(mask: Sequence[bool], scores: Sequence[float], is_unsafe: Sequence[bool]) -> dict[str, float]:
    """Precision, recall, F1 of the removal mask, AUROC and AUPRC (average precision) of the scores; positive
    class = unsafe."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    m, y = np.asarray(mask, dtype=bool), np.asarray(is_unsafe, dtype=bool)
    tp = int((m & y).sum())
    precision = tp / m.sum() if m.sum() else 0.0
    recall = tp / y.sum() if y.sum() else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    both = 0 < y.sum() < len(y)
    auroc = float(roc_auc_score(y, scores)) if both else float("nan")
    auprc = float(average_precision_score(y, scores)) if both else float("nan")
    return {
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "auroc": auroc,
        "auprc": auprc,
        "n_removed": float(m.sum()),
        "n_unsafe": float(y.sum()),
    }
