"""The review page as a file: self-contained, data that cannot break out of its script element, the start cut."""

from __future__ import annotations

import base64
import gzip
import json
import re

import numpy as np
import pytest

from forgetfilter.data.files import Layout, write_records
from forgetfilter.errors import ConfigError
from forgetfilter.review import write_review
from forgetfilter.review.payload import initial_cut, json_frame


def _block(page: str, name: str) -> str:
    """The text a gzip + base64 script element of the page holds."""
    found = re.search(rf'<script id="{name}" type="application/gzip;base64">(.*?)</script>', page, re.S)
    return gzip.decompress(base64.b64decode(found.group(1))).decode("utf-8")


def test_the_page_inlines_everything_and_fetches_nothing(run_factory):
    run = run_factory()
    page = write_review(run).read_text(encoding="utf-8")
    assert not re.search(r"(src|href)=\"(?!data:)", page)  # no script, style or image from anywhere
    assert "http://" not in page and "https://" not in page
    assert "default-src 'none'" in page  # the browser blocks any request the page would make
    assert page.count("</script>") == 3  # the data is base64: its own "</script>" text cannot end an element
    data = json.loads(_block(page, "data"))
    assert data["prompt"][0].startswith("Question 0: café </script> \u2028")
    assert data["meta"]["has_roles"] and data["meta"]["has_generations"] and data["meta"]["signals"] == ["nll"]
    records = _block(page, "records").split("\n")
    assert len(records) == 13 and records[-1] == "" and json.loads(records[0])["meta"]["big"] == 2**60
    assert records[0] == (run / "kept.jsonl").read_text(encoding="utf-8").split("\n")[0] or records[0] in (
        run / "removed.jsonl"
    ).read_text(encoding="utf-8")


def test_the_page_is_not_written_over_a_file_of_the_run(run_factory):
    run = run_factory()
    with pytest.raises(ConfigError, match="scores.jsonl is a file of the run"):
        write_review(run, out=run / "scores.jsonl")


def test_initial_cut_removes_what_the_run_removed():
    scores = np.array([0.1, 0.9, 0.5, 0.5, 0.3])
    assert initial_cut(scores, scores > 0.4, 0.4) == 0.4
    mask = np.array([False, True, True, False, False])  # a budget of 2 breaks the tie at 0.5 by order
    assert initial_cut(scores, mask, 0.5) == 0.5
    assert initial_cut(scores, np.array([0, 1, 0, 0, 0], dtype=bool), 0.9) == pytest.approx(0.7)
    assert initial_cut(scores, np.zeros(5, dtype=bool), float("inf")) == 0.9
    assert initial_cut(scores, np.ones(5, dtype=bool), 0.1) < 0.1


@pytest.mark.parametrize("wrapper", [None, {"name": "x", "data": None, "tail": [1, {"a": []}]}])
def test_json_frame_is_what_write_records_puts_around_the_records(tmp_path, wrapper):
    records = [{"a": 1}, {"b": [1, 2]}]
    path = tmp_path / "out.json"
    write_records(records, path, "json", layout=Layout("json", wrapper=wrapper))
    frame = json_frame(Layout("json", wrapper=wrapper))
    text = path.read_text()
    assert text.startswith(frame["head"]) and text.endswith(frame["tail"] + "\n")
    inner = text[len(frame["head"]) : len(text) - len(frame["tail"]) - 1]
    assert json.loads(inner) == records and inner.endswith("  " * frame["level"] + "]")
