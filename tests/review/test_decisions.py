"""Decisions files: read with errors naming file and line, and `apply` writing the kept/removed files they give."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from forgetfilter.cli import app
from forgetfilter.decisions import apply_decisions, decisions_text, read_decisions
from forgetfilter.errors import ConfigError, DataError
from forgetfilter.saved_run import read_run

runner = CliRunner()
IDS = ["a1", "b2", "c3"]


def _file(tmp_path, text):
    path = tmp_path / "decisions.jsonl"
    path.write_text(text)
    return path


def test_read_decisions_gives_the_mask_in_the_order_of_the_ids(tmp_path):
    text = '{"id": "c3", "decision": "remove"}\n\n{"decision": "keep", "id": "a1"}\n{"id": "b2", "decision": "keep"}'
    assert read_decisions(_file(tmp_path, text), IDS).tolist() == [False, False, True]
    assert read_decisions(_file(tmp_path, decisions_text(IDS, [True, False, True])), IDS).tolist() == [1, 0, 1]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"id": "a1", "decision": "keep"}\n{"id": "a1"', r"line 2: malformed JSON line"),
        ('["a1", "keep"]', r"line 1: expected \{\"id\": ..., \"decision\": \"keep\" or \"remove\"\}, found list"),
        ('{"id": "a1", "decison": "keep"}', r"line 1: unknown key 'decison'; did you mean 'decision'\?"),
        ('{"id": "a1"}', r"line 1: missing 'decision'"),
        ('{"id": 7, "decision": "keep"}', r"line 1: 'id' must be a string, found int 7"),
        ('{"id": "a1", "decision": "removed"}', r"line 1: decision is 'removed'; expected 'keep' or 'remove'; did you"),
        ('{"id": "a1", "decision": true}', r"line 1: decision is True; expected 'keep' or 'remove'"),
        ('{"id": "b22", "decision": "keep"}', r"line 1: id 'b22' is not an example of this run; did you mean 'b2'\?"),
        ('{"id": "a1", "decision": "keep"}\n{"id": "a1", "decision": "remove"}', r"line 2: id 'a1' again \(first on"),
        (
            '{"id": "a1", "decision": "keep"}',
            r"decisions.jsonl: 2 of the run's 3 examples have no decision \('b2', 'c3'\)",
        ),
        ("\n\n", r"decisions.jsonl: no decisions in file"),
    ],
)
def test_bad_decisions_name_the_file_line_and_problem(tmp_path, text, message):
    with pytest.raises(DataError, match=message):
        read_decisions(_file(tmp_path, text), IDS)


def test_apply_with_the_runs_own_decisions_rewrites_its_kept_and_removed_files(run_factory, tmp_path):
    for suffix in (".jsonl", ".json", ".csv", ".parquet"):
        run = run_factory(f"run{suffix[1:]}", suffix=suffix)
        result = read_run(run).result
        decisions = _file(tmp_path, decisions_text([ex.id for ex in result.examples], result.mask))
        paths = apply_decisions(run, decisions)
        for name in ("kept", "removed"):
            assert paths[name] == run / "reviewed" / f"{name}{suffix}"
            assert paths[name].read_bytes() == (run / f"{name}{suffix}").read_bytes(), (suffix, name)
        summary = json.loads(paths["summary"].read_text())
        assert summary["n_removed"] == 4 and summary["kept_to_removed"] == summary["removed_to_kept"] == 0


def test_apply_refuses_to_write_over_its_inputs_or_files_it_did_not_write(run_factory, tmp_path):
    run = run_factory()
    ids = [ex.id for ex in read_run(run).result.examples]
    decisions = _file(tmp_path, decisions_text(ids, np.zeros(len(ids), dtype=bool)))
    with pytest.raises(ConfigError, match=r"kept.jsonl is an input of apply and would be overwritten; give another"):
        apply_decisions(run, decisions, out_dir=run)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "kept.jsonl").write_text("{}\n")
    with pytest.raises(ConfigError, match="holds kept/removed files that apply did not write"):
        apply_decisions(run, decisions, out_dir=tmp_path / "elsewhere")
    inside = run / "reviewed" / "decisions.jsonl"
    inside.parent.mkdir()
    inside.write_text(decisions.read_text())
    apply_decisions(run, inside)  # the decisions file may live in the output folder
    apply_decisions(run, inside)  # and apply may write over its own earlier output
    assert (run / "reviewed" / "kept.jsonl").read_text().count("\n") == 12


def test_cli_apply_and_review_report_and_fail_with_one_error_line(run_factory, tmp_path):
    run = run_factory()
    result = runner.invoke(app, ["review", str(run)])
    assert result.exit_code == 0, result.output
    assert (run / "review.html").is_file() and "Next: export decisions.jsonl" in result.stderr
    ids = [ex.id for ex in read_run(run).result.examples]
    mask = np.zeros(len(ids), dtype=bool)
    mask[:2] = True
    decisions = _file(tmp_path, decisions_text(ids, mask))
    result = runner.invoke(app, ["apply", str(run), "--decisions", str(decisions), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "kept 10, removed 2 of 12" in result.stdout and (tmp_path / "out" / "kept.jsonl").is_file()
    decisions.write_text('{"id": "zz", "decision": "keep"}\n')
    result = runner.invoke(app, ["apply", str(run), "--decisions", str(decisions)])
    assert result.exit_code == 2 and "error:" in result.stderr and "line 1: id 'zz' is not an example" in result.stderr
    result = runner.invoke(app, ["review", str(tmp_path / "nothing")])
    assert result.exit_code == 2 and "not a finished filter run" in result.stderr
