"""The review page in a real headless Chromium: it loads from file:// with no console error and no request, and
sorting, search, filters, the cut slider, toggles and the export work; the export equals `forgetfilter apply`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from forgetfilter.cli import app
from forgetfilter.decisions import read_decisions
from forgetfilter.review import write_review
from forgetfilter.saved_run import read_run

pytestmark = pytest.mark.browser
runner = CliRunner()


def _page_of(run: Path, open_page):
    write_review(run)
    return open_page(run / "review.html")


def _clean(page) -> None:
    assert page.console == [], page.console
    assert page.requests == [page.path.as_uri()], page.requests  # nothing but the page itself


def test_page_loads_from_file_without_errors_or_requests(run_factory, open_page):
    page = _page_of(run_factory(), open_page)
    _clean(page)
    assert page.page.locator("#body tr.row").count() == 12
    assert page.column("rank") == [str(i) for i in range(1, 13)]
    assert "4 of 12 would be removed" in page.page.text_content("#cut-stats")
    assert "precision 1.000, recall 1.000".lower() in page.page.text_content("#cut-stats").lower()
    assert page.page.locator("#role-hists canvas").count() == 3
    page.page.click('tr.row[data-id="ex00"] button.expand')
    detail = page.page.text_content("tr.detail")
    assert "M1 says 0" in detail and "M2 says 0" in detail and "</script>" in detail  # shown as text, not markup


def test_sort_by_any_column_both_ways(run_factory, open_page):
    page = _page_of(run_factory(), open_page)
    page.page.click('th[data-key="nll_m1"]')
    values = [float(v) for v in page.column("nll_m1")]
    assert values == sorted(values, reverse=True)
    page.page.click('th[data-key="nll_m1"]')
    assert [float(v) for v in page.column("nll_m1")] == sorted(values)
    page.page.click('th[data-key="id"]')
    assert page.column("id") == sorted(page.column("id"))
    page.page.click('th[data-key="forgetting"]')
    assert page.column("rank") == [str(i) for i in range(1, 13)]
    _clean(page)


def test_search_role_and_score_filters(run_factory, open_page):
    run = run_factory()
    page = _page_of(run, open_page)
    page.page.fill("#search", "HARSH words")
    page.page.wait_for_selector("#page-info:has-text('filtered')")
    assert sorted(page.column("id")) == ["ex00", "ex03", "ex06", "ex09"]
    page.page.fill("#search", "")
    page.page.wait_for_selector("#page-info:not(:has-text('filtered'))")
    page.page.select_option("#role", "task")
    assert sorted(page.column("id")) == ["ex01", "ex04", "ex07", "ex10"]
    page.page.select_option("#role", "all")
    scores = read_run(run).result.scores
    page.page.fill("#min", "0.5")
    page.page.fill("#max", "1.2")
    page.page.press("#max", "Enter")
    page.page.locator("#min").dispatch_event("change")
    expected = int(((scores >= 0.5) & (scores <= 1.2)).sum())
    assert page.page.locator("#body tr.row").count() == expected
    assert all(0.5 <= float(v) <= 1.2 for v in page.column("forgetting"))


def test_slider_moves_the_cut_and_counts_what_it_would_remove(run_factory, open_page):
    run = run_factory()
    page = _page_of(run, open_page)
    scores = read_run(run).result.scores
    slider = page.page.locator("#cut-slider")
    for position in ("0", "500", "1000"):
        slider.fill(position)
        cut = float(page.page.get_attribute("#cut-value", "data-exact"))  # the box shows 6 digits
        assert f"{int((scores > cut).sum())} of 12 would be removed" in page.page.text_content("#cut-stats")
    page.page.fill("#cut-value", "0.6")
    page.page.press("#cut-value", "Enter")
    assert f"{int((scores > 0.6).sum())} of 12 would be removed" in page.page.text_content("#cut-stats")
    page.page.click("#use-cut")
    assert page.page.locator("#body tr.removed").count() == int((scores > 0.6).sum())
    _clean(page)


def _export(page, folder: Path, button: str) -> dict[str, Path]:
    """Click an export button and save every download it starts."""
    saved: dict[str, Path] = {}
    page.page.on("download", lambda d: saved.setdefault(d.suggested_filename, d.path()))
    with page.page.expect_download():
        page.page.click(button)
    page.page.wait_for_timeout(300)  # the other downloads of "export all"
    folder.mkdir(parents=True, exist_ok=True)
    for name, path in list(saved.items()):
        saved[name] = Path(path).replace(folder / name) if Path(path).exists() else folder / name
    return saved


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_toggle_and_export_give_the_files_apply_writes(run_factory, open_page, tmp_path, suffix):
    run = run_factory(suffix=suffix)
    page = _page_of(run, open_page)
    page.page.click('tr.row[data-id="ex03"] button.toggle')  # a removed unsafe example kept
    page.page.click('tr.row[data-id="ex04"] button.toggle')  # a kept task example removed
    assert "2 changed" in page.page.text_content("#decision-stats")
    files = _export(page, tmp_path / "downloads", "#export-all")
    expected = {"kept.jsonl", "removed.jsonl", "decisions.jsonl"}
    expected |= {"kept.json", "removed.json"} if suffix == ".json" else set()
    assert set(files) == expected
    ids = [ex.id for ex in read_run(run).result.examples]
    mask = read_decisions(files["decisions.jsonl"], ids)
    assert sorted(np.array(ids)[mask]) == ["ex00", "ex04", "ex06", "ex09"]
    result = runner.invoke(app, ["apply", str(run), "--decisions", str(files["decisions.jsonl"])])
    assert result.exit_code == 0, result.output
    assert "kept 8, removed 4 of 12" in result.stdout and "1 kept again, 1 newly removed" in result.stdout
    for name in (f"kept{suffix}", f"removed{suffix}"):
        assert (run / "reviewed" / name).read_bytes() == files[name].read_bytes(), name
    removed = [json.loads(line) for line in files["removed.jsonl"].read_text(encoding="utf-8").split("\n") if line]
    assert [r["id"] for r in removed] == ["ex00", "ex04", "ex06", "ex09"] and removed[0]["meta"]["big"] == 2**60


def test_a_parquet_run_exports_jsonl_and_apply_writes_parquet(run_factory, open_page, tmp_path):
    run = run_factory(suffix=".parquet")
    page = _page_of(run, open_page)
    page.page.click('tr.row[data-id="ex03"] button.toggle')
    files = _export(page, tmp_path / "downloads", "#export-all")
    assert set(files) == {"kept.jsonl", "removed.jsonl", "decisions.jsonl"}
    result = runner.invoke(app, ["apply", str(run), "--decisions", str(files["decisions.jsonl"])])
    assert result.exit_code == 0, result.output
    import pandas as pd

    kept = pd.read_parquet(run / "reviewed" / "kept.parquet")
    exported = [json.loads(line) for line in files["kept.jsonl"].read_text(encoding="utf-8").split("\n") if line]
    assert kept["id"].tolist() == [r["id"] for r in exported] and "ex03" in kept["id"].tolist()


def test_pages_of_a_long_run(run_factory, open_page):
    page = _page_of(run_factory(rows=250, count=40), open_page)
    assert page.page.locator("#body tr.row").count() == 100
    assert "rows 1–100 of 250" in page.page.text_content("#page-info")
    page.page.click("#next")
    assert page.column("rank")[0] == "101"
    page.page.select_option("#page-size", "500")
    assert page.page.locator("#body tr.row").count() == 250
    page.page.click("#remove-shown")
    assert "remove 250, keep 0" in page.page.text_content("#decision-stats")
    _clean(page)


def test_a_real_tiny_model_run_shows_its_greedy_answers(tiny_run, open_page):
    page = _page_of(tiny_run, open_page)
    _clean(page)
    rows = [json.loads(line) for line in (tiny_run / "scores.jsonl").read_text().splitlines()]
    assert page.page.locator("#body tr.row").count() == len(rows)
    keys = "t => t.map(x => x.dataset.key)"
    assert {"nll_m1", "nll_m2", "role"} <= set(page.page.eval_on_selector_all("#head th", keys))
    page.page.check('input[data-signal="rouge"]')  # the other signals' columns on request
    assert {"rouge_m1", "rouge_m2"} <= set(page.page.eval_on_selector_all("#head th", keys))
    page.page.click("#body tr.row >> nth=0 >> button.expand")
    assert "greedy answer on M1" in page.page.text_content("tr.detail")


def test_a_run_without_roles_shows_no_role_controls(run_factory, open_page):
    rows = [{"prompt": f"p{i}", "completion": f"c{i}"} for i in range(6)]
    page = _page_of(run_factory(rows=rows, count=2, generations=False), open_page)
    _clean(page)
    assert page.page.locator("#body tr.row").count() == 6 and page.page.locator("#role-hists canvas").count() == 0
    assert page.page.is_hidden("#role-label") and "precision" not in page.page.text_content("#cut-stats").lower()
    assert "2 of 6 would be removed" in page.page.text_content("#cut-stats")
