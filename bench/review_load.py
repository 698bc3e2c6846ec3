"""How long the review page takes to build and to load in headless Chromium, at N rows.

Makes a run folder of ``--rows`` examples (the records of ``--data`` repeated under new ids, made-up default
signals: log_nll, nll, token_accuracy; no model) with the real writer, writes its review page, then opens it from
file:// ``--repeats`` times in a fresh page and times: load (navigation start to the page's "ready": data parsed,
histograms drawn, first table page rendered), a search, a sort, a slider move and the kept.jsonl export.

    python bench/review_load.py --data runs/bias-data/d_noisy.jsonl --rows 100000
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from machine import RESULTS_MD, append_section, command_line, describe_machine, markdown_table

from forgetfilter.data.files import file_type, read_records
from forgetfilter.data.formats import read_examples
from forgetfilter.result import ForgetFilterResult, write_outputs
from forgetfilter.selection import choose_threshold, filter_mask, forgetting


def synthetic_run(data: Path, rows: int, run_dir: Path, *, seed: int = 0) -> Path:
    """A run folder of ``rows`` examples: the records of ``data`` cycled under new ids, unsafe ones forgotten more."""
    raws, _ = read_records(data, file_type(data), None)
    records = [{**raws[i % len(raws)].value, "id": f"r{i:07d}"} for i in range(rows)]
    source = run_dir.parent / f"{run_dir.name}-input.jsonl"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    read = read_examples(source)
    rng = np.random.default_rng(seed)
    unsafe = np.array([ex.role == "unsafe" for ex in read.examples], dtype=float)
    nll_m1 = rng.uniform(0.3, 1.5, rows)
    nll_m2 = nll_m1 + rng.uniform(0, 0.6, rows) + 0.5 * unsafe
    acc_m1 = rng.uniform(0.6, 1.0, rows)
    before = {"log_nll": nll_m1.tolist(), "nll": nll_m1.tolist(), "token_accuracy": acc_m1.tolist()}
    after = {"log_nll": nll_m2.tolist(), "nll": nll_m2.tolist(), "token_accuracy": (acc_m1 - 0.1 * unsafe).tolist()}
    scores = forgetting(before["log_nll"], after["log_nll"], "log_nll")
    threshold = choose_threshold(scores, method="otsu")
    result = ForgetFilterResult(
        read.examples, "log_nll", before, after, threshold, filter_mask(scores, threshold), {}, read.layout
    )
    run_dir.mkdir(parents=True, exist_ok=True)
    write_outputs(result, run_dir, suffix=".jsonl")
    source.unlink()
    return run_dir


def time_page(page_path: Path, chromium: str, repeats: int) -> list[dict[str, float]]:
    """Per repeat, in ms: load (navigation to ready, as the page measures it, and as seen from here), a search,
    a sort by forgetting, a slider move and the kept.jsonl export; each in a fresh browser context."""
    from playwright.sync_api import sync_playwright

    out = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        for _ in range(repeats):
            context = browser.new_context(accept_downloads=True, viewport={"width": 1400, "height": 900})
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
            started = time.perf_counter()
            page.goto(page_path.as_uri(), timeout=600_000)
            page.wait_for_selector("body[data-ready]", state="attached", timeout=600_000)
            wall = (time.perf_counter() - started) * 1000
            timings = {"load_wall_ms": wall, "ready_ms": page.evaluate("window.reviewReady.sinceNavigation")}
            timings["search_ms"] = _timed(page, lambda p: p.fill("#search", "the"), "#rows")
            _timed(page, lambda p: p.fill("#search", ""), "#rows")
            timings["sort_ms"] = _timed(page, lambda p: p.click('th[data-key="forgetting"]'), "#rows")
            timings["slider_ms"] = _timed(page, lambda p: p.locator("#cut-slider").fill("300"), "#cut-stats")
            started = time.perf_counter()
            with page.expect_download() as download:
                page.click("#export-kept-jsonl")
            download.value.path()
            timings["export_kept_ms"] = (time.perf_counter() - started) * 1000
            if errors:
                raise SystemExit(f"the page raised: {errors}")
            out.append(timings)
            context.close()
        browser.close()
    return out


def _timed(page: Any, action: Any, selector: str) -> float:
    """ms from ``action`` to the next redraw of ``selector`` (its ``data-renders`` count goes up) on screen."""
    count = int(page.get_attribute(selector, "data-renders") or 0)
    started = time.perf_counter()
    action(page)
    page.wait_for_selector(f'{selector}[data-renders="{count + 1}"]', state="attached")
    page.evaluate("new Promise(r => requestAnimationFrame(() => r()))")  # the frame that shows the change
    return (time.perf_counter() - started) * 1000


def chromium_version(executable: str) -> str:
    try:
        return subprocess.run([executable, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="records to repeat (any forgetfilter input)")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    parser.add_argument("--keep", type=Path, default=None, help="keep the run folder here (default: a temp folder)")
    parser.add_argument("--out-md", type=Path, default=RESULTS_MD)
    args = parser.parse_args(argv)

    from forgetfilter.review import write_review

    folder = Path(tempfile.mkdtemp(prefix="review-load-")) if args.keep is None else args.keep
    try:
        started = time.perf_counter()
        run = synthetic_run(args.data, args.rows, folder / "run")
        made = time.perf_counter() - started
        started = time.perf_counter()
        page_path = write_review(run)
        build = time.perf_counter() - started
        size = page_path.stat().st_size / 2**20
        timings = time_page(page_path, args.chromium, args.repeats)
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    keys = ["ready_ms", "load_wall_ms", "search_ms", "sort_ms", "slider_ms", "export_kept_ms"]
    best = {k: min(t[k] for t in timings) for k in keys}
    worst = {k: max(t[k] for t in timings) for k in keys}
    rows = [[k.removesuffix("_ms"), f"{best[k]:.0f}", f"{worst[k]:.0f}"] for k in keys]
    body = markdown_table(["step", f"best of {args.repeats} (ms)", "worst (ms)"], rows)
    body += (
        f"\n\n{args.rows} rows; page {size:.1f} MiB; `forgetfilter review` built it in {build:.1f} s "
        f"(the synthetic run took {made:.1f} s). ready = navigation start to the page's ready mark (data parsed, "
        "histograms drawn, first 100 rows shown); load_wall = goto() to ready as timed from Python."
    )
    print(body)
    machine = {**describe_machine(), "browser": chromium_version(args.chromium)}
    append_section(args.out_md, "Review page load", command_line(__file__, argv), machine, body)
    return {"rows": args.rows, "size_mib": size, "build_s": build, "best": best, "worst": worst}


if __name__ == "__main__":
    main()
