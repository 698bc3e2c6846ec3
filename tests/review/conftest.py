"""Run folders for the review tests: synthetic ones written by the real writer (no model) and a real tiny-model
run; pages loaded in the headless Chromium of tests/conftest.py."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from forgetfilter.data.formats import read_examples
from forgetfilter.result import ForgetFilterResult, write_outputs
from forgetfilter.selection import choose_threshold, filter_mask, forgetting


def records(n: int = 12) -> list[dict[str, Any]]:
    """Chat records with roles, one in three unsafe, with text that tests search and escaping."""
    roles = ["unsafe", "task", "safe"]
    return [
        {
            "id": f"ex{i:02d}",
            "messages": [
                {"role": "user", "content": f"Question {i}: café </script> \u2028 ok?"},
                {"role": "assistant", "content": f"Answer {i} " + ("harsh words" if i % 3 == 0 else "kind words")},
            ],
            "role": roles[i % 3],
            "meta": {"n": i, "tags": [] if i % 2 else ["a", {"b": None}], "big": 2**60 + i, "x": 1.5e-7},
        }
        for i in range(n)
    ]


def make_run(
    run_dir: Path, rows: list[dict[str, Any]], *, suffix: str = ".jsonl", count: int = 4, generations: bool = True
) -> Path:
    """A run folder as `forgetfilter filter` leaves it, from made-up signals: the unsafe role is forgotten most."""
    run_dir.mkdir(parents=True, exist_ok=True)
    data = run_dir.parent / f"{run_dir.name}-input{suffix}"
    if suffix == ".jsonl":
        data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    elif suffix == ".json":
        data.write_text(json.dumps({"name": "demo", "data": rows, "version": 2}, ensure_ascii=False), encoding="utf-8")
    else:
        import pandas as pd

        frame = pd.DataFrame(
            [
                {
                    "prompt": r["messages"][0]["content"],
                    "completion": r["messages"][1]["content"],
                    "id": r["id"],
                    "role": r["role"],
                }
                for r in rows
            ]
        )
        frame.to_csv(data, index=False) if suffix == ".csv" else frame.to_parquet(data)
    read = read_examples(data)
    rng = np.random.default_rng(0)
    n = len(read.examples)
    before = {"nll": rng.uniform(0.5, 1.0, n).tolist()}
    bump = np.array([1.0 if ex.role == "unsafe" else 0.0 for ex in read.examples])
    after = {"nll": (np.array(before["nll"]) + bump + rng.uniform(0, 0.8, n)).tolist()}
    if generations:
        before["generations"] = [f"M1 says {i}" for i in range(n)]
        after["generations"] = [f"M2 says {i}" for i in range(n)]
    scores = forgetting(before["nll"], after["nll"], "nll")
    threshold = choose_threshold(scores, count=count)
    result = ForgetFilterResult(
        read.examples, "nll", before, after, threshold, filter_mask(scores, threshold), {}, layout=read.layout
    )
    write_outputs(result, run_dir, suffix=suffix)
    ids = [ex.id for ex in read.examples]
    for model, values in (("m1", before), ("m2", after)):
        (run_dir / f"scores_{model}.json").write_text(json.dumps({"ids": ids, "settings": {}, "signals": values}))
    return run_dir


@pytest.fixture
def run_factory(tmp_path: Path) -> Callable[..., Path]:
    """``run_factory(name, rows, suffix=..., count=...)``: a run folder; ``rows`` a list of records or a number."""

    def make(name: str = "run", rows: list[dict[str, Any]] | int = 12, **kw: Any) -> Path:
        return make_run(tmp_path / name, records(rows) if isinstance(rows, int) else rows, **kw)

    return make


@pytest.fixture(scope="session")
def tiny_run_config(tiny_model_dir: Path) -> Any:
    """The FilterConfig of ``tiny_run`` (its cut, count=3, is given to the run, not set here)."""
    from forgetfilter.config import FilterConfig
    from forgetfilter.training import SessionSettings

    fast = SessionSettings(epochs=1, batch_size=4, grad_accum=1, lr=1e-2)
    return FilterConfig(
        model=str(tiny_model_dir),
        signals=("nll", "rouge"),
        signal="nll",
        threshold_method="otsu",
        s1=fast,
        s1_plus=fast,
        max_new_tokens=4,
        dtype="float32",
    )


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, tiny_run_config: Any) -> Path:
    """A real `forgetfilter filter` run on the tiny random model (JSON input in a wrapper, roles, the rouge signal
    for greedy answers on M1 and M2)."""
    from forgetfilter.api import find_unsafe_examples

    folder = tmp_path_factory.mktemp("tiny-run")
    rows = [
        {"instruction": f"Question {i}?", "input": "", "output": f"Answer {i} ok", "role": ["unsafe", "task"][i % 2]}
        for i in range(8)
    ]
    (folder / "noisy.json").write_text(json.dumps({"name": "tiny", "data": rows}))
    safe = "".join(json.dumps({"prompt": f"S{i}", "completion": f"safe {i}"}) + "\n" for i in range(4))
    (folder / "safe.jsonl").write_text(safe)
    find_unsafe_examples(
        folder / "noisy.json", folder / "safe.jsonl", config=tiny_run_config, out_dir=folder / "run", count=3
    )
    return folder / "run"


class Page:
    """A loaded review page, with what it logged and every URL it requested."""

    def __init__(self, page: Any, path: Path) -> None:
        self.page, self.path, self.console, self.requests = page, path, [], []
        page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))
        page.on("request", lambda r: self.requests.append(r.url))
        page.goto(path.as_uri())
        page.wait_for_selector("body[data-ready]", state="attached")

    def column(self, key: str) -> list[str]:
        """The text of one column's cells on the current page, top to bottom."""
        index = self.page.eval_on_selector_all("#head th", f"ths => ths.findIndex(t => t.dataset.key === '{key}')")
        return self.page.eval_on_selector_all("#body tr.row", f"rows => rows.map(r => r.cells[{index}].textContent)")


@pytest.fixture
def open_page(browser):
    """``open_page(path)`` loads a review page in a fresh context that accepts downloads."""
    contexts = []

    def load(path: Path) -> Page:
        context = browser.new_context(accept_downloads=True, viewport={"width": 1400, "height": 900})
        contexts.append(context)
        return Page(context.new_page(), path)

    yield load
    for context in contexts:
        context.close()
