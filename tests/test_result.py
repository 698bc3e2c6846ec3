"""ForgetFilterResult.quality: every signal is judged under the same rule as the deciding one."""

from __future__ import annotations

import numpy as np
import pytest

from forgetfilter.examples import Example, user_prompt
from forgetfilter.result import ForgetFilterResult
from forgetfilter.selection import Threshold, choose_threshold, filter_mask, forgetting

ROLES = ["unsafe", "unsafe", "task", "task", "safe", "safe"]
BEFORE = {"nll": [0.1, 0.1, 0.1, 0.1, 0.1, 0.1], "token_accuracy": [0.9, 0.9, 0.9, 0.9, 0.9, 0.9]}
# nll separates perfectly (unsafe +1.0); token accuracy ranks one task example above the unsafe ones
AFTER = {"nll": [1.1, 1.0, 0.2, 0.15, 0.1, 0.05], "token_accuracy": [0.5, 0.6, 0.2, 0.9, 0.9, 0.9]}


def _result(threshold: Threshold) -> ForgetFilterResult:
    examples = [Example(f"e{i}", user_prompt(f"q{i}"), f"r{i}", "t", role=r) for i, r in enumerate(ROLES)]
    scores = forgetting(BEFORE["nll"], AFTER["nll"], "nll")
    return ForgetFilterResult(examples, "nll", BEFORE, AFTER, threshold, filter_mask(scores, threshold), {})


def test_auto_threshold_gives_each_signal_its_own_cut():
    scores = forgetting(BEFORE["nll"], AFTER["nll"], "nll")
    quality = _result(choose_threshold(scores, method="otsu")).quality()
    assert quality["nll"]["f1"] == pytest.approx(1.0)
    acc = quality["token_accuracy"]
    own = forgetting(BEFORE["token_accuracy"], AFTER["token_accuracy"], "token_accuracy")
    expected_mask = filter_mask(own, choose_threshold(own, method="otsu"))
    assert acc["n_removed"] == expected_mask.sum()
    assert acc["phi"] == pytest.approx(choose_threshold(own, method="otsu").phi)
    assert acc["auroc"] == pytest.approx(6 / 8)  # 6 of 8 unsafe-vs-rest pairs: task e2 (+0.7) beats both


def test_budget_applies_to_every_signal_and_fixed_phi_gives_auroc_only():
    scores = forgetting(BEFORE["nll"], AFTER["nll"], "nll")
    budget = _result(choose_threshold(scores, count=2)).quality()
    assert budget["token_accuracy"]["n_removed"] == 2
    assert budget["token_accuracy"]["precision"] == pytest.approx(0.5)  # removes e2 (task) and e0 (unsafe)
    fixed = _result(choose_threshold(scores, phi=0.5)).quality()
    assert set(fixed["token_accuracy"]) == {"auroc"}
    assert np.isfinite(fixed["token_accuracy"]["auroc"])


def test_learned_by_role_reports_m1_and_m2_means_per_role():
    result = _result(Threshold(phi=0.5, method="fixed"))
    learned = result.learned_by_role()
    assert learned["nll_m1"] == pytest.approx({"safe": 0.1, "task": 0.1, "unsafe": 0.1})
    assert learned["nll_m2"] == pytest.approx({"safe": 0.075, "task": 0.175, "unsafe": 1.05})
    assert learned["token_accuracy_m2"]["unsafe"] == pytest.approx(0.55)
    report = result.report()
    assert "Learned in S1?" in report and "| nll_m2 | 0.075 | 0.175 | 1.050 |" in report
    assert result.summary()["learned_by_role"] == learned


def test_to_frame_is_the_table_indexed_by_id():
    scores = forgetting(BEFORE["nll"], AFTER["nll"], "nll")
    frame = _result(choose_threshold(scores, count=2)).to_frame()
    assert list(frame.index) == [f"e{i}" for i in range(6)]
    assert frame.sort_values("rank").index[:2].tolist() == ["e0", "e1"] and frame["removed"].sum() == 2
    assert frame.loc["e0", "nll_m2"] == pytest.approx(1.1)


def test_select_is_forgetting_then_the_cut_then_the_mask():
    from forgetfilter.selection import select

    chosen = select(BEFORE["nll"], AFTER["nll"], "nll", count=2)
    assert chosen.mask.tolist() == [True, True, False, False, False, False]
    assert chosen.threshold.budget == 2 and chosen.scores.tolist() == pytest.approx([1.0, 0.9, 0.1, 0.05, 0.0, -0.05])
