"""read_run: a finished run folder back into a ForgetFilterResult, with errors naming the file that disagrees."""

from __future__ import annotations

import json

import numpy as np
import pytest

from forgetfilter.errors import DataError
from forgetfilter.saved_run import read_run


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".csv", ".parquet"])
def test_a_run_reads_back_in_input_order_with_its_decisions(run_factory, suffix):
    run = run_factory(suffix=suffix)
    saved = read_run(run)
    result = saved.result
    rows = [json.loads(line) for line in (run / "scores.jsonl").read_text().splitlines()]
    assert [ex.id for ex in result.examples] == [r["id"] for r in rows] == [f"ex{i:02d}" for i in range(12)]
    assert result.mask.tolist() == [r["removed"] for r in rows] and result.mask.sum() == 4
    assert np.allclose(result.scores, [r["forgetting"] for r in rows])
    assert result.signal == "nll" and result.threshold.budget == 4 and saved.suffix == suffix
    assert result.before["generations"][3] == "M1 says 3" and result.after["generations"][3] == "M2 says 3"
    assert result.rows() == rows  # the same scores.jsonl again
    if suffix == ".json":
        assert result.layout.wrapper == {"name": "demo", "data": None, "version": 2}


def test_nothing_removed_or_nothing_kept_reads_back(run_factory):
    assert read_run(run_factory("none", count=0)).result.mask.sum() == 0
    assert read_run(run_factory("all", count=12, suffix=".json")).result.mask.sum() == 12
    assert read_run(run_factory("pq", count=0, suffix=".parquet")).result.mask.sum() == 0


def test_generations_are_left_out_when_the_run_has_none(run_factory):
    result = read_run(run_factory(generations=False)).result
    assert "generations" not in result.before and "generation_m1" not in result.table()


def test_a_folder_that_is_no_run_or_was_changed_is_an_error_naming_the_file(run_factory, tmp_path):
    with pytest.raises(DataError, match="no scores.jsonl: not a finished filter run"):
        read_run(tmp_path)
    run = run_factory()
    kept = run / "kept.jsonl"
    lines = kept.read_text().split("\n")  # not splitlines(): the records hold U+2028
    kept.write_text("\n".join(lines[1:]))
    with pytest.raises(DataError, match=r"scores.jsonl, line 2: id 'ex01' is in no kept/removed file; the run folder"):
        read_run(run)
    (run / "removed.jsonl").write_text((run / "removed.jsonl").read_text() + lines[0] + "\n")
    with pytest.raises(DataError, match=r"line 2: id 'ex01' is kept here but in removed.jsonl"):
        read_run(run)
    (run / "kept.json").write_text("[]")
    (run / "removed.json").write_text("[]")
    with pytest.raises(DataError, match="holds kept.json and kept.jsonl"):
        read_run(run)
