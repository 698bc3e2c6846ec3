"""forgetfilter recut: a finished run decided again from its saved scores, into a new folder, without a model."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from forgetfilter.cli import app
from forgetfilter.data.formats import read_examples
from forgetfilter.errors import ConfigError, DataError
from forgetfilter.recut import RECUT_FROM, recut_run
from forgetfilter.saved_run import read_run
from forgetfilter.selection import forgetting

runner = CliRunner()


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture
def run(tiny_run: Path, tmp_path: Path) -> Path:
    """A copy of the tiny real run (decided by count=3 on nll), without its adapters and checkpoints."""
    copy = tmp_path / "run"
    shutil.copytree(tiny_run, copy, ignore=shutil.ignore_patterns("s1", "s1_plus", "*.safetensors"))
    return copy


def test_recut_decides_from_the_saved_scores_and_leaves_the_run_alone(run, tmp_path):
    before = _digests(run)
    original = read_run(run).result
    assert original.mask.sum() == 3
    result = recut_run(run, tmp_path / "five", count=5)
    assert _digests(run) == before  # the run's own files are never written
    scores = forgetting(original.before["nll"], original.after["nll"], "nll")
    np.testing.assert_allclose(result.scores, scores)
    top = set(np.argsort(-scores, kind="stable")[:5])
    assert {i for i, m in enumerate(result.mask) if m} == top
    back = read_run(tmp_path / "five").result  # the new folder is a finished run
    assert back.mask.tolist() == result.mask.tolist() and back.threshold.method == "count"
    kept = json.loads((tmp_path / "five" / "kept.json").read_text())
    removed = json.loads((tmp_path / "five" / "removed.json").read_text())
    assert kept["name"] == "tiny" and len(kept["data"]) + len(removed["data"]) == 8  # the input's own wrapper
    assert json.loads((tmp_path / "five" / "config.json").read_text())["count"] == 5
    assert json.loads((tmp_path / "five" / RECUT_FROM).read_text())["settings"] == {"count": 5}
    for name in ("fingerprint.json", "stages.json", "scores_m1.json", "scores_m2.json"):
        assert (tmp_path / "five" / name).read_bytes() == (run / name).read_bytes()


def test_a_threshold_method_replaces_the_runs_budget(run, tmp_path):
    result = recut_run(run, tmp_path / "otsu", threshold_method="otsu")
    assert result.threshold.method == "otsu" and result.threshold.budget is None
    config = json.loads((tmp_path / "otsu" / "config.json").read_text())
    assert config["count"] is None and config["threshold_method"] == "otsu"
    assert result.mask.tolist() == (result.scores > result.threshold.phi).tolist()


def test_recut_again_into_its_own_folder_gives_the_same_bytes(run, tmp_path):
    recut_run(run, tmp_path / "out", fraction=0.5)
    first = _digests(tmp_path / "out")
    recut_run(run, tmp_path / "out", fraction=0.5)
    assert _digests(tmp_path / "out") == first


def test_kept_records_without_kept_and_removed_files_need_the_checked_input(run, tmp_path, tiny_run):
    full = recut_run(run, tmp_path / "full", count=4)
    for name in ("kept.json", "removed.json"):
        (run / name).unlink()
    with pytest.raises(DataError, match="no kept"):
        recut_run(run, tmp_path / "a", count=4)
    assert not (tmp_path / "a").exists()  # checked before anything is written
    data = tiny_run.parent / "noisy.json"
    again = recut_run(run, tmp_path / "b", data=data, count=4)
    assert again.mask.tolist() == full.mask.tolist()
    assert (tmp_path / "b" / "kept.json").read_bytes() == (tmp_path / "full" / "kept.json").read_bytes()
    other = json.loads(data.read_text())
    other["data"][2]["output"] = "a different answer"
    (tmp_path / "other.json").write_text(json.dumps(other))
    with pytest.raises(DataError, match="not the data this run scored") as err:
        recut_run(run, tmp_path / "c", data=tmp_path / "other.json", count=4)
    assert "other.json" in str(err.value)


def test_bad_settings_and_folders_are_refused_before_writing(run, tmp_path, tiny_run):
    with pytest.raises(ConfigError, match="cannot change token_selection"):
        recut_run(run, tmp_path / "x", token_selection="answer")
    rows = [json.loads(line) for line in (run / "scores.jsonl").read_text().splitlines()]
    assert "rouge_m1" in rows[0]
    recut_run(run, tmp_path / "rouge", signal="rouge", threshold_method="otsu")  # saved: decided again
    stripped = [{k: v for k, v in row.items() if "rouge" not in k} for row in rows]  # a run that scored no rouge
    (run / "scores.jsonl").write_text("".join(json.dumps(row) + "\n" for row in stripped))
    with pytest.raises(DataError, match="saved no rouge scores") as err:
        recut_run(run, tmp_path / "x", signal="rouge", threshold_method="otsu")
    assert "scores.jsonl" in str(err.value)
    with pytest.raises(ConfigError, match="canary needs the run's canaries"):
        recut_run(run, tmp_path / "x", threshold_method="canary")
    with pytest.raises(ConfigError, match="rise is a cut on the log_nll scale"):
        recut_run(run, tmp_path / "x", threshold_method="rise")
    with pytest.raises(ConfigError, match="at most one of phi, fraction and count"):
        recut_run(run, tmp_path / "x", phi=0.1, count=2)
    assert not (tmp_path / "x").exists()
    with pytest.raises(ConfigError, match="is the run being re-decided"):
        recut_run(run, run, count=2)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="holds other files"):
        recut_run(run, tmp_path / "busy", count=2)
    assert [p.name for p in (tmp_path / "busy").iterdir()] == ["notes.txt"]
    recut_run(run, tmp_path / "into", count=2)
    shutil.copyfile(tiny_run.parent / "noisy.json", tmp_path / "into" / "kept.json")  # the input kept in the output
    with pytest.raises(ConfigError, match="is an input of this run"):
        recut_run(run, tmp_path / "into", data=tmp_path / "into" / "kept.json", count=2)


def test_an_experiment_reuses_a_recut_folder_with_matching_settings(run, tmp_path, tiny_run, tiny_run_config):
    from forgetfilter.experiments.reuse import load_reused_filter

    recut_run(run, tmp_path / "otsu", threshold_method="otsu")
    noisy = list(read_examples(tiny_run.parent / "noisy.json").examples)
    safe = list(read_examples(tiny_run.parent / "safe.jsonl").examples)
    config = tiny_run_config  # the tiny run's settings, with the recut's cut (otsu, no count)
    selection = load_reused_filter(tmp_path / "otsu", config, noisy, safe)
    assert selection.mask.tolist() == read_run(tmp_path / "otsu").result.mask.tolist()
    with pytest.raises(ConfigError, match="forgetfilter recut"):
        load_reused_filter(run, config, noisy, safe)  # the run itself decided by count=3


def test_cli_recut_prints_the_report_and_fails_with_one_error_line(run, tmp_path):
    result = runner.invoke(app, ["recut", str(run), "--out", str(tmp_path / "out"), "--count", "2"])
    assert result.exit_code == 0, result.output
    assert "| signal |" in result.stdout and "recut_from.json" in result.stderr
    assert read_run(tmp_path / "out").result.mask.sum() == 2
    result = runner.invoke(app, ["recut", str(run), "--out", str(tmp_path / "bad"), "--threshold-method", "rise"])
    assert result.exit_code == 2 and "error:" in result.stderr and "log_nll scale" in result.stderr
    assert "Traceback" not in result.output and not (tmp_path / "bad").exists()
