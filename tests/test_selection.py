import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forgetfilter.errors import ConfigError
from forgetfilter.selection import (
    DEFAULT_RISE,
    Threshold,
    choose_threshold,
    filter_mask,
    filter_quality,
    forgetting,
    gmm_threshold,
    otsu_threshold,
    robust_otsu_threshold,
    select,
    tukey_fences,
)


def test_forgetting_direction_per_signal():
    assert forgetting([0.2, 0.5], [1.2, 0.6], "nll").round(3).tolist() == [1.0, 0.1]
    assert forgetting([0.9, 0.5], [0.1, 0.5], "token_accuracy").round(3).tolist() == [0.8, 0.0]
    assert forgetting([1.0], [0.25], "rouge").tolist() == [0.75]


def test_forgetting_rejects_unknown_signal_and_length_mismatch():
    with pytest.raises(ConfigError, match="unknown signal 'bleu'"):
        forgetting([1], [1], "bleu")
    with pytest.raises(ConfigError, match="differ in length: 2 vs 1"):
        forgetting([1, 2], [1], "nll")


def test_fixed_phi_mask():
    t = choose_threshold([0.1, 0.5, 0.9], phi=0.4)
    assert t == Threshold(phi=0.4, method="fixed")
    assert filter_mask([0.1, 0.5, 0.9], t).tolist() == [False, True, True]


def test_the_default_cut_is_a_rise_in_log_nll_that_ignores_the_mix():
    # log_nll forgetting = log(NLL_M2 / NLL_M1): 0.25 = NLL up 28%; the cut is the same whatever the other scores
    assert choose_threshold([0.0, 0.1, 0.2]) == Threshold(phi=DEFAULT_RISE, method="rise") and DEFAULT_RISE == 0.25
    before = [1.0, 1.0, 1.0, 1.0]
    after = [0.5, 1.2, 1.4, 3.0]  # log ratios -0.69, 0.182, 0.336, 1.10
    assert select(before, after, "log_nll").mask.tolist() == [False, False, True, True]
    assert select(before, after, "log_nll", rise=0.15).mask.tolist() == [False, True, True, True]
    assert select(before + [9.0] * 50, after + [9.0] * 50, "log_nll").mask.sum() == 2  # Otsu would move
    with pytest.raises(ConfigError, match="with signal nll set threshold_method to otsu"):
        select(before, after, "nll")
    assert select(before, after, "nll", count=1).mask.tolist() == [False, False, False, True]


def test_budget_removes_exactly_k_even_with_ties():
    scores = [0.3, 0.3, 0.3, 0.1]
    t = choose_threshold(scores, count=2)
    assert t.budget == 2 and filter_mask(scores, t).tolist() == [True, True, False, False]
    t = choose_threshold(scores, fraction=0.5)
    assert filter_mask(scores, t).sum() == 2
    assert filter_mask(scores, choose_threshold(scores, count=0)).sum() == 0


def test_threshold_argument_errors():
    with pytest.raises(ConfigError, match="at most one of phi, fraction and count"):
        choose_threshold([1.0], phi=0.1, count=1)
    with pytest.raises(ConfigError, match="between 0 and 3"):
        choose_threshold([1.0, 2.0, 3.0], count=5)
    with pytest.raises(ConfigError, match="fraction must be between 0 and 1, got 1.5"):
        choose_threshold([1.0], fraction=1.5)
    with pytest.raises(ConfigError, match="unknown threshold method 'kmeans'"):
        choose_threshold([1.0, 2.0], method="kmeans")
    with pytest.raises(ConfigError, match="no forgetting scores"):
        choose_threshold([])


@pytest.mark.parametrize("method", ["otsu", "robust_otsu", "gmm"])
def test_auto_threshold_separates_two_clusters(method):
    rng = np.random.default_rng(0)
    low, high = rng.normal(0.0, 0.1, 300), rng.normal(1.0, 0.1, 100)
    scores = np.concatenate([low, high])
    t = choose_threshold(scores, method=method)
    assert 0.3 < t.phi < 0.7
    mask = filter_mask(scores, t)
    assert mask[:300].sum() <= 2 and mask[300:].sum() >= 98


def test_otsu_on_constant_scores_removes_nothing():
    assert filter_mask([0.5] * 4, Threshold(otsu_threshold(np.full(4, 0.5)), "otsu")).sum() == 0
    assert filter_mask([0.5] * 4, choose_threshold([0.5] * 4, method="robust_otsu")).sum() == 0
    assert math.isfinite(gmm_threshold(np.array([0.0, 0.0, 1.0, 1.0])))


def test_robust_otsu_is_not_pulled_into_a_far_tail():
    # two overlapping clusters (the harmfulness forgetting of docs/signal-study.md section 20) plus five far
    # outliers: plain Otsu splits the outliers from the rest, the clipped one still splits the clusters
    rng = np.random.default_rng(1)
    low, high = rng.normal(0.3, 0.2, 300), rng.normal(0.9, 0.2, 300)
    scores = np.concatenate([low, high, [4.0, 5.0, 6.0, 6.5, 7.0]])
    plain, robust = choose_threshold(scores, method="otsu"), choose_threshold(scores, method="robust_otsu")
    assert filter_mask(scores, plain).sum() <= 10
    removed = filter_mask(scores, robust)
    assert 0.4 < robust.phi < 0.8 and robust.method == "robust_otsu"
    assert removed[300:600].sum() >= 240 and removed[:300].sum() <= 60 and removed[600:].all()


SCORES = st.lists(st.floats(-10, 10, allow_nan=False, width=32), min_size=1, max_size=80).map(np.array)


@settings(max_examples=200, deadline=None)
@given(scores=SCORES)
def test_robust_otsu_keeps_something_and_is_otsu_without_outliers(scores):
    robust = robust_otsu_threshold(scores)
    low, high = tukey_fences(scores)
    assert math.isfinite(robust) and (scores <= robust).any()  # never removes every example
    if len(np.unique(scores)) > 1 and (scores > high).any():
        assert (scores > robust).any()  # high outliers are always removed
    if ((scores >= low) & (scores <= high)).all():
        assert robust == otsu_threshold(scores)


def test_robust_otsu_when_most_scores_tie():
    # IQR 0: the fences collapse onto the tied value, and only what lies above it is removed
    scores = np.r_[np.zeros(80), [0.5, 1.0, 2.0]]
    assert filter_mask(scores, choose_threshold(scores, method="robust_otsu")).tolist() == [False] * 80 + [True] * 3


def test_filter_quality_hand_computed():
    mask = [True, True, False, False, True]
    unsafe = [True, False, True, False, True]
    q = filter_quality(mask, [0.9, 0.8, 0.1, 0.2, 0.7], unsafe)
    assert q["precision"] == pytest.approx(2 / 3)
    assert q["recall"] == pytest.approx(2 / 3)
    assert q["f1"] == pytest.approx(2 / 3)
    # AUROC: unsafe scores {0.9, 0.1, 0.7} vs safe {0.8, 0.2}: pairs won: (0.9>0.8), (0.9>0.2), (0.7>0.2) = 3 of 6
    assert q["auroc"] == pytest.approx(3 / 6)
    assert math.isnan(filter_quality([True], [1.0], [True])["auroc"])


def test_gmm_cut_lies_between_the_components_when_the_high_one_is_wider():
    rng = np.random.default_rng(0)
    scores = np.concatenate([rng.normal(0.0, 0.1, 500), rng.normal(1.5, 1.0, 100)])
    phi = gmm_threshold(scores)
    removed = int((scores > phi).sum())
    assert 0.1 < phi < 1.5 and 60 <= removed <= 150  # the old cut took the far-left tail: 599 removed


def test_canary_cut_is_the_benign_quantile_and_keeps_the_false_positive_rate():
    rng = np.random.default_rng(0)
    benign, unsafe = rng.normal(0.0, 0.1, 1000), rng.normal(1.0, 0.1, 300)
    null = rng.normal(0.0, 0.1, 200)  # canaries: drawn like the benign examples
    t = choose_threshold(np.concatenate([benign, unsafe]), method="canary", null=null, fpr=0.05)
    assert t.method == "canary" and t.phi == np.quantile(null, 0.95, method="higher")
    mask = filter_mask(np.concatenate([benign, unsafe]), t)
    assert 0.02 < mask[:1000].mean() < 0.08 and mask[1000:].all()
    assert (null > t.phi).mean() <= 0.05


def test_canary_cut_needs_canaries_and_a_rate_in_range():
    with pytest.raises(ConfigError, match="needs canaries"):
        choose_threshold([0.1, 0.2], method="canary")
    with pytest.raises(ConfigError, match="canary_fpr must be between 0 and 1"):
        choose_threshold([0.1, 0.2], method="canary", null=[0.1], fpr=1.5)


def test_docstring_examples_hold():
    import doctest

    import forgetfilter.selection

    result = doctest.testmod(forgetfilter.selection)
    assert result.attempted >= 2 and result.failed == 0  # forgetting() and robust_otsu_threshold()
