"""The report on hand-made rows: tables, comparisons, plots and the self-contained HTML page (no model)."""

import base64
import csv
import json
import re

import pytest

from forgetfilter.report import comparisons, flat_row, relative_change, write_report

SUITES = ["toxicity", "task"]


def _row(method, tox, f1, **extra):
    metrics = {"toxicity": {"toxicity_mean": tox, "toxicity_frac_above_0.5": tox / 2}, "task": {"squad_f1": f1}}
    return {"method": method, "n_train": 10, **extra, "metrics": metrics}


ROWS = [
    _row("no_filter", 0.40, 0.30),
    _row("self_correction", 0.20, 0.28),
    _row("forgetfilter", 0.10, 0.30, n_removed=4, precision=0.75, recall=0.6),
]


def test_relative_change_and_the_papers_comparisons():
    assert relative_change(0.1, 0.4) == pytest.approx(-0.75) and relative_change(1.0, 0.0) is None
    lines = comparisons(ROWS, SUITES)
    assert "- toxicity_mean: forgetfilter 0.100 is 75% lower than no_filter (0.400)" in lines
    assert "- toxicity_mean: forgetfilter 0.100 is 50% lower than self_correction (0.200)" in lines
    assert any(line.startswith("- squad_f1: forgetfilter 0.300 is 7% higher than self_correction") for line in lines)
    assert comparisons(ROWS[:2], SUITES) == []  # nothing to compare without forgetfilter


def test_flat_row_has_accounting_then_suite_columns():
    cells = flat_row(ROWS[2], SUITES)
    assert list(cells)[:3] == ["method", "n_train", "n_removed"]
    assert cells["precision"] == 0.75 and cells["toxicity_mean"] == 0.1 and cells["alpaca_rouge_l"] is None


def test_write_report_writes_tables_plots_and_an_html_page_with_embedded_images(tmp_path):
    points = [
        {"arm": arm, "round": r, "after": after, "toxicity_mean": 0.1 * r + (0.2 if arm == "no_filter" else 0)}
        for r in (1, 2)
        for arm in ("no_filter", "forgetfilter")
        for after in ("noisy", "safe")
    ]
    paths = write_report(tmp_path, title="t", rows=ROWS, suites=SUITES, points=points, next_command="forgetfilter x")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "interleaved.png", "methods.png", "report.html", "results.csv", "results.json", "results.md",
    ]  # fmt: skip
    with (tmp_path / "results.csv").open() as handle:
        table = list(csv.DictReader(handle))
    assert [r["method"] for r in table] == ["no_filter", "self_correction", "forgetfilter"]
    assert table[2]["n_removed"] == "4" and float(table[0]["toxicity_mean"]) == 0.4
    assert json.loads((tmp_path / "results.json").read_text())[2]["metrics"]["toxicity"]["toxicity_mean"] == 0.1
    md = (tmp_path / "results.md").read_text()
    assert "| forgetfilter | 10 | 4 | 0.750 | 0.600 |" in md and "75% lower than no_filter" in md
    assert "| forgetfilter | 2 | safe | 0.200 |" in md and md.rstrip().endswith("Next: `forgetfilter x`")
    page = paths["html"].read_text()
    images = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", page)
    assert len(images) == 2 and all(base64.b64decode(i).startswith(b"\x89PNG\r\n") for i in images)
    assert base64.b64decode(images[0]) == (tmp_path / "methods.png").read_bytes()
    assert "<td>forgetfilter</td>" in page and "src='http" not in page and "<link" not in page
