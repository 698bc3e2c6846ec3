"""ForgetFilterResult.quality: every signal is judged under the same rule as the deciding one."""

from __future__ import annotations

import json

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
    rise = _result(Threshold(phi=0.15, method="rise"))
    assert set(rise.quality()["token_accuracy"]) == {"auroc"}  # 0.15 is on the deciding signal's scale only
    assert "phi = 0.150 (rise: response NLL up more than 16% in S1+)" in rise.report()


def test_learned_by_role_reports_m1_and_m2_means_per_role():
    result = _result(Threshold(phi=0.5, method="fixed"))
    learned = result.learned_by_role()
    assert learned["nll_m1"] == pytest.approx({"safe": 0.1, "task": 0.1, "unsafe": 0.1})
    assert learned["nll_m2"] == pytest.approx({"safe": 0.075, "task": 0.175, "unsafe": 1.05})
    assert learned["token_accuracy_m2"]["unsafe"] == pytest.approx(0.55)
    report = result.report()
    assert "Learned in S1?" in report and "| nll_m2 | 0.075 | 0.175 | 1.050 |" in report
    assert result.summary()["learned_by_role"] == learned


@pytest.mark.parametrize(
    ("m0_unsafe", "holds", "line"),
    [
        (0.2, True, "- premise holds: S1 taught the unsafe examples at least as much as the rest"),
        (0.11, False, "- premise NOT met: S1 taught the unsafe examples less than the rest"),
    ],
)
def test_premise_compares_how_much_s1_taught_the_unsafe_examples_with_the_rest(m0_unsafe, holds, line):
    import dataclasses

    result = _result(Threshold(phi=0.5, method="fixed"))
    assert result.premise() == {}  # no M0 scores: nothing to compare
    m0 = {"nll": [m0_unsafe, m0_unsafe, 0.2, 0.2, 0.2, 0.2]}  # M1 has 0.1 everywhere: the rest fell by half
    premise = dataclasses.replace(result, reference=m0).premise()
    assert premise["rest"] == pytest.approx({"nll_m0": 0.2, "nll_m1": 0.1, "fall": 0.5})
    assert premise["unsafe"]["fall"] == pytest.approx(1 - 0.1 / m0_unsafe) and premise["holds"] is holds
    report = dataclasses.replace(result, reference=m0).report()
    assert line in report and "unsafe " + f"{m0_unsafe:.3f} -> 0.100" in report
    assert dataclasses.replace(result, reference=m0).summary()["premise"] == premise


def test_table_is_a_dataframe_indexed_by_id_and_to_frame_the_same():
    scores = forgetting(BEFORE["nll"], AFTER["nll"], "nll")
    result = _result(choose_threshold(scores, count=2))
    frame = result.table()
    assert list(frame.index) == [f"e{i}" for i in range(6)] and frame.index.name == "id"
    assert frame.sort_values("rank").index[:2].tolist() == ["e0", "e1"] and frame["removed"].sum() == 2
    assert frame.loc["e0", "nll_m2"] == pytest.approx(1.1)
    assert frame.reset_index().to_dict("records") == result.rows()  # the rows of scores.jsonl
    assert result.to_frame().equals(frame)


def test_table_has_the_greedy_answers_when_the_run_has_them():
    result = _result(Threshold(phi=0.5, method="fixed"))
    result.before["generations"] = [f"a{i}" for i in range(6)]
    result.after = {**AFTER, "generations": [f"b{i}" for i in range(6)]}
    frame = result.table()
    assert frame.loc["e2", "generation_m1"] == "a2" and frame.loc["e2", "generation_m2"] == "b2"
    assert "generations_m1" not in frame and "generations" not in result.rows()[0]


def test_to_datasets_gives_the_kept_examples_in_the_inputs_columns(tmp_path):
    from forgetfilter.data.formats import read_examples

    path = tmp_path / "chat.jsonl"
    rows = [
        {"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"r{i}"}], "id": f"c{i}"}
        for i in range(4)
    ]
    rows[3]["extra"] = 7  # a key only the last record has is a column too
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    read = read_examples(path)
    mask = np.array([True, False, False, False])
    result = ForgetFilterResult(read.examples, "nll", BEFORE, AFTER, Threshold(0.5, "fixed"), mask, {}, read.layout)
    data = result.to_datasets()
    assert data.column_names == ["messages", "id", "extra"] and data["id"] == ["c1", "c2", "c3"]
    assert data[0]["messages"] == rows[1]["messages"] and data["extra"] == [None, None, 7]
    native = result.to_datasets(format="native")
    assert {"messages", "id", "role", "source"} <= set(native.column_names)
    assert native[0]["messages"][-1] == {"role": "assistant", "content": "r1"}


def test_to_datasets_keeps_parquet_column_types_and_gives_prompt_completion_for_plain_text(tmp_path):
    import pandas as pd

    from forgetfilter.data.formats import read_examples

    path = tmp_path / "pc.parquet"
    pd.DataFrame({"prompt": ["p0", "p1"], "completion": ["c0", "c1"], "n": [1, 2]}).astype({"n": "int32"}).to_parquet(
        path
    )
    read = read_examples(path)
    result = ForgetFilterResult(
        read.examples,
        "nll",
        {"nll": [0, 0]},
        {"nll": [1, 0]},
        Threshold(0.5, "fixed"),
        np.array([1, 0], bool),
        {},
        layout=read.layout,
    )
    data = result.to_datasets()
    assert data.column_names == ["prompt", "completion", "n"] and str(data.features["n"].dtype) == "int32"
    assert data.to_list() == [{"prompt": "p1", "completion": "c1", "n": 2}]
    nothing = ForgetFilterResult(
        read.examples,
        "nll",
        {"nll": [0, 0]},
        {"nll": [1, 1]},
        Threshold(0.5, "fixed"),
        np.array([1, 1], bool),
        {},
        layout=read.layout,
    ).to_datasets()
    assert len(nothing) == 0 and nothing.column_names == ["prompt", "completion", "n"]


def test_select_is_forgetting_then_the_cut_then_the_mask():
    from forgetfilter.selection import select

    chosen = select(BEFORE["nll"], AFTER["nll"], "nll", count=2)
    assert chosen.mask.tolist() == [True, True, False, False, False, False]
    assert chosen.threshold.budget == 2 and chosen.scores.tolist() == pytest.approx([1.0, 0.9, 0.1, 0.05, 0.0, -0.05])


@pytest.mark.parametrize(
    ("stage", "line"),
    [
        ({"steps": 75}, "- S1: 75 steps (a fixed number)"),
        (
            {"steps": 114, "until": "learned", "learned_at_epoch": 3, "tolerance": 0.02, "max_epochs": 10.0},
            "- S1: 114 steps, until learned: stopped after epoch 3 (the loss improved by less than 2% over that epoch)",
        ),
        (
            {"steps": 380, "until": "learned", "learned_at_epoch": None, "tolerance": 0.02, "max_epochs": 10.0},
            "- S1: 380 steps, until learned: reached the cap of 10 epochs with the loss still improving",
        ),
    ],
)
def test_report_says_how_long_s1_trained_and_why_it_stopped(stage, line):
    import dataclasses

    result = dataclasses.replace(_result(Threshold(phi=0.5, method="fixed")), stages={"s1": {"seconds": 1.0, **stage}})
    assert line in result.report()
