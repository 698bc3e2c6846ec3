"""bench/curve_study.py: AUROC and per-role forgetting by S1+ step from curve rows."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "curve_study.py"


@pytest.fixture(scope="module")
def curve_study():
    spec = importlib.util.spec_from_file_location("curve_study", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rows() -> list[dict]:
    rows = []
    # step 0 = M1; by step 10 unsafe NLL rose by 1.0, task by 0.2, safe fell by 0.1
    for step, (du, dt, ds) in ((0, (0, 0, 0)), (10, (1.0, 0.2, -0.1)), (20, (0.1, 0.3, 0.0))):
        for i in range(3):
            rows.append({"session": "s1_plus", "step": step, "id": f"u{i}", "role": "unsafe", "nll": 1 + du + i / 100})
            rows.append({"session": "s1_plus", "step": step, "id": f"t{i}", "role": "task", "nll": 2 + dt})
            rows.append({"session": "s1_plus", "step": step, "id": f"s{i}", "role": "safe", "nll": 1.5 + ds})
    rows.append({"session": "s1", "step": 10, "id": "u0", "role": "unsafe", "nll": 9.0})  # other session: ignored
    return rows


def test_by_step_measures_forgetting_from_step_zero(curve_study):
    table = curve_study.by_step(_rows(), "nll")
    assert [step for step, _, _ in table] == [10, 20]
    step10 = table[0]
    assert step10[1] == pytest.approx(1.0)  # every unsafe example forgotten more than every other
    assert step10[2]["unsafe"] == pytest.approx(1.0)  # per-example offsets cancel
    assert step10[2]["task"] == pytest.approx(0.2)
    assert step10[2]["safe"] == pytest.approx(-0.1)
    assert table[1][1] == pytest.approx(0.5)  # step 20: unsafe beats safe examples but loses to task ones


def test_main_prints_a_markdown_table(curve_study, tmp_path, capsys, monkeypatch):
    (tmp_path / "curves.jsonl").write_text("\n".join(json.dumps(r) for r in _rows()) + "\n")
    monkeypatch.setattr("sys.argv", ["curve_study.py", str(tmp_path), "--signals", "nll"])
    curve_study.main()
    out = capsys.readouterr().out
    assert "| 10 | 1.000 |" in out


def test_levels_give_the_mean_per_role_for_each_session_and_step(curve_study):
    table = curve_study.levels(_rows(), "nll")
    assert table[0] == ("s1", 10, {"unsafe": 9.0})
    session, step, means = table[2]
    assert (session, step) == ("s1_plus", 10)
    assert means["task"] == pytest.approx(2.2) and means["safe"] == pytest.approx(1.4)
