"""``forgetfilter experiment`` end to end on the tiny random model: every method, shared sessions trained once,
resume, interleaved rounds, and the report files."""

import base64
import hashlib
import json
import re
from collections import Counter

import pytest
from typer.testing import CliRunner

from forgetfilter.cli import app

runner = CliRunner()
FAST = "{epochs: 1, batch_size: 4, grad_accum: 1, lr: 0.01}"
CONFIG = f"""
kind: toxicity
data: {{n: 16, n_safe: 6}}
eval: {{n: 4, batch_size: 4, max_new_tokens: 2}}
filter: {{dtype: float32, curve_every: 2, curve_per_role: 2, s1: {FAST}, s1_plus: {FAST}}}
interleaved: {{rounds: 2, n_eval: 2, noisy: {FAST}, safe: {{max_steps: 1, batch_size: 4, lr: 0.01}}}}
"""
METHODS = [
    "m0", "no_filter", "sequential", "replay", "self_correction", "forgetfilter",
    "forgetfilter_self_correction", "classifier_filter", "random_filter", "oracle",
]  # fmt: skip


def _invoke(config, out, model_dir, data_dir, *extra):
    args = ["experiment", str(config), "--out", str(out), "--model", str(model_dir), f"data.data_dir={data_dir}"]
    return runner.invoke(app, [*args, *extra])


@pytest.fixture(scope="module")
def study(tmp_path_factory, tiny_model_dir, data_dir):
    """One run of the whole study, with every training session's name recorded."""
    import forgetfilter.training as training

    base = tmp_path_factory.mktemp("experiment")
    config = base / "tiny.yaml"
    config.write_text(CONFIG)
    sessions: list[str] = []
    real = training.train_session

    def counting(*args, desc="train", **kwargs):
        sessions.append(desc)
        return real(*args, desc=desc, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(training, "train_session", counting)
        result = _invoke(config, base / "run", tiny_model_dir, data_dir)
    assert result.exit_code == 0, result.output
    rows = {r["method"]: r for r in json.loads((base / "run" / "results.json").read_text())}
    return {"config": config, "run": base / "run", "sessions": sessions, "rows": rows, "output": result.output}


def _jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_every_method_has_a_row_with_safety_and_task_metrics(study):
    rows = study["rows"]
    assert list(rows) == METHODS
    for row in rows.values():
        assert 0.0 <= row["metrics"]["toxicity"]["toxicity_mean"] <= 1.0
        assert row["metrics"]["toxicity"]["toxicity_n"] == 4.0 and row["metrics"]["task"]["squad_n"] == 2.0
    assert "| forgetfilter |" in study["output"] and "report.html" in study["output"]


def test_shared_sessions_are_trained_once(study):
    counts = Counter(study["sessions"])
    assert counts["s1"] == 1 and counts["s1_plus"] == 1  # M1 serves no_filter, self_correction, sequential, scores
    assert max(counts.values()) == 1, counts
    assert {"forgetfilter", "classifier_filter", "random_filter", "oracle", "replay"} <= set(counts)
    assert not any(name.startswith("probe_r1") for name in counts)  # round 1's probe is the unfiltered round 1
    assert "probe_r2_s1" in counts and "probe_r2_s1_plus" in counts
    run = study["run"]
    stages = json.loads((run / "filter" / "stages.json").read_text())
    assert set(stages) == {"precision", "score_m0", "s1", "score_m1", "s1_plus", "score_m2"}
    for method, adapter in (
        ("no_filter", "filter/s1"),
        ("sequential", "filter/s1_plus"),
        ("oracle", "sessions/oracle"),
    ):
        metrics = json.loads((run / "eval" / method / "metrics.json").read_text())
        assert metrics["run"]["adapter"] == str(run / adapter / "adapter")


def test_filter_selections_and_accounting(study, data_dir):
    from forgetfilter.data.formats import read_examples
    from forgetfilter.evaluate.toxicity import get_scorer

    run, rows = study["run"], study["rows"]
    noisy = read_examples(run / "data" / "d_noisy.jsonl").examples
    unsafe = {ex.id for ex in noisy if ex.role == "unsafe"}
    removed = {m: set(json.loads((run / "selections" / f"{m}.json").read_text())["removed_ids"]) for m in
               ("forgetfilter", "classifier_filter", "random_filter", "oracle")}  # fmt: skip
    assert removed["oracle"] == unsafe and rows["oracle"]["precision"] == 1.0 and rows["oracle"]["recall"] == 1.0
    assert len(removed["random_filter"]) == len(removed["forgetfilter"]) == rows["random_filter"]["n_removed"]
    flagged = get_scorer("profanity")([ex.response for ex in noisy])
    assert removed["classifier_filter"] == {ex.id for ex, s in zip(noisy, flagged, strict=True) if s > 0.5}
    filter_removed = {json.loads(line)["id"] for line in (run / "filter" / "removed.jsonl").read_text().splitlines()}
    assert removed["forgetfilter"] == filter_removed
    for method in ("forgetfilter", "classifier_filter", "random_filter", "oracle"):
        assert rows[method]["n_train"] == 16 - len(removed[method])
    assert rows["no_filter"]["n_train"] == 16 and rows["sequential"]["n_train"] == 22 and rows["m0"]["n_train"] == 0


def test_self_correction_sees_the_cue_and_the_same_prompts(study):
    from forgetfilter.experiments.cues import default_cue

    run, cue = study["run"], default_cue("toxicity")
    plain = _jsonl(run / "eval" / "no_filter" / "generations_toxicity.jsonl")
    cued = _jsonl(run / "eval" / "self_correction" / "generations_toxicity.jsonl")
    assert [r["id"] for r in plain] == [r["id"] for r in cued]
    assert all(r["prompt"].startswith(cue + "\n") for r in cued) and not any(cue in r["prompt"] for r in plain)
    task = _jsonl(run / "eval" / "forgetfilter_self_correction" / "generations_task.jsonl")
    assert len(task) == 4 and all(cue in r["prompt"] for r in task)  # the cue is on every prompt at inference


def test_interleaved_rounds_give_one_safety_value_per_session(study):
    points = _jsonl(study["run"] / "interleaved" / "points.jsonl")
    keys = [(p["arm"], p["round"], p["after"]) for p in points]
    expected = [(a, r, s) for r in (1, 2) for a in ("no_filter", "forgetfilter") for s in ("noisy", "safe")]
    assert keys == expected
    assert all(isinstance(p["toxicity_mean"], float) for p in points)
    for p in points:
        if p["arm"] == "forgetfilter" and p["after"] == "noisy":
            assert p["n_trained"] + p["n_removed"] == 8  # each round's slice is half of D_noisy
    assert [p["n_trained"] for p in points if p["arm"] == "no_filter" and p["after"] == "noisy"] == [8, 8]


def test_report_files_and_recorded_versions(study):
    run = study["run"]
    for name in ("results.md", "results.csv", "results.json", "report.html", "config.resolved.yaml", "versions.json"):
        assert (run / name).stat().st_size > 0, name
    pngs = sorted(p.name for p in run.glob("*.png"))
    assert pngs == ["curves.png", "forgetting_hist.png", "interleaved.png", "methods.png"]
    images = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", (run / "report.html").read_text())
    assert sorted(base64.b64decode(i) for i in images) == sorted((run / p).read_bytes() for p in pngs)
    assert (run / "results.csv").read_text().count("\n") == 1 + len(METHODS)
    versions = json.loads((run / "versions.json").read_text())
    digest = hashlib.sha256((run / "data" / "d_noisy.jsonl").read_bytes()).hexdigest()
    assert versions["data"]["d_noisy"]["sha256"] == digest
    assert "model.safetensors" in versions["model"]["files"] and versions["code"]["forgetfilter"]
    assert "eval_inputs/cue/eval_toxicity.jsonl" in versions["data"]
    md = (run / "results.md").read_text()
    first = md.split("## ")[1]  # the first section: can this run show the paper's claims at all?
    assert first.startswith("Can this run show the paper's claims?")
    assert "- premise " in first and "harm " in first and "on toxicity: no filter is" in first
    claims = md.split("## ")[2]  # the second: each claim of the paper with this run's figure and a verdict
    assert claims.startswith("The paper's claims in this run") and "| the paper says |" in claims
    for text in ("finetuning on D_noisy", "ForgetFilter keeps task performance", "relearns unsafe behaviour"):
        assert text in claims, text
    assert "interleaved toxicity: forgetfilter/round2/eval_noisy − no_filter/round2/eval_noisy" in claims


def test_rerun_resumes_without_training_or_evaluating(study, tiny_model_dir, data_dir, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a finished stage ran again")

    run = study["run"]
    before = {name: (run / name).read_text() for name in ("results.json", "stages.json")}
    monkeypatch.setattr("forgetfilter.training.train_session", refuse)
    monkeypatch.setattr("forgetfilter.signals.compute_signals", refuse)
    monkeypatch.setattr("forgetfilter.evaluate.suite.evaluate", refuse)
    result = _invoke(study["config"], run, tiny_model_dir, data_dir)
    assert result.exit_code == 0, result.output
    assert {name: (run / name).read_text() for name in before} == before


def test_rerun_with_another_config_is_refused(study, tiny_model_dir, data_dir):
    result = _invoke(study["config"], study["run"], tiny_model_dir, data_dir, "data.n=20")
    assert result.exit_code == 2
    assert "holds a run with a different config (data.n: 16 -> 20)" in result.output.replace("\n", "")


REPORT_FILES = ("results.md", "results.csv", "results.json", "report.html")


def _records_copy(run, dest):
    """The run's records as bench/keep_records.py keeps them would do; a plain copy without the report files."""
    import shutil

    shutil.copytree(run, dest)
    for name in REPORT_FILES:
        (dest / name).unlink()
    for png in dest.glob("*.png"):
        png.unlink()
    return dest


def test_report_rebuilds_the_finished_run_from_its_records(study, tmp_path):
    copy = _records_copy(study["run"], tmp_path / "copy")
    result = runner.invoke(app, ["report", str(copy)])
    assert result.exit_code == 0, result.output
    rebuilt = {r["method"]: r for r in json.loads((copy / "results.json").read_text())}
    assert rebuilt == study["rows"]
    original = (study["run"] / "results.md").read_text().replace(str(study["run"]), str(copy))  # data paths named
    assert (copy / "results.md").read_text() == original
    assert (copy / "results.csv").read_text() == (study["run"] / "results.csv").read_text()
    assert "| forgetfilter |" in result.output and "partial" not in result.output


def test_report_of_a_stopped_run_says_what_is_missing_first(study, tmp_path):
    import shutil

    copy = _records_copy(study["run"], tmp_path / "copy")
    shutil.rmtree(copy / "eval" / "oracle")
    shutil.rmtree(copy / "interleaved" / "forgetfilter" / "round2" / "eval_safe")
    (copy / "interleaved" / "points.jsonl").unlink()  # a run stopped before the study's end wrote none
    result = runner.invoke(app, ["report", str(copy)])
    assert result.exit_code == 0, result.output
    rows = json.loads((copy / "results.json").read_text())
    assert [r["method"] for r in rows] == [m for m in METHODS if m != "oracle"]
    first = (copy / "results.md").read_text().split("## ")[1]
    assert "partial run**: not evaluated yet: oracle" in first
    assert "partial run**: 1 interleaved sessions not evaluated yet" in first
    assert "not evaluated yet: oracle" in result.output
    table = (copy / "results.md").read_text().split("## Interleaved training")[1]
    assert table.count("| no_filter |") == 4 and table.count("| forgetfilter |") == 3


def test_report_of_an_interleaved_only_run(study, tmp_path):
    import shutil

    import yaml

    copy = _records_copy(study["run"], tmp_path / "copy")
    shutil.rmtree(copy / "eval")
    config = yaml.safe_load((copy / "config.resolved.yaml").read_text())
    config["methods"] = []
    (copy / "config.resolved.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    result = runner.invoke(app, ["report", str(copy)])
    assert result.exit_code == 0, result.output
    assert json.loads((copy / "results.json").read_text()) == []
    assert "no method evaluated" in result.output and "interleaved: 8 sessions evaluated" in result.output
    assert (copy / "interleaved.png").is_file() and not (copy / "methods.png").exists()


def test_report_refuses_a_folder_that_is_not_a_run(tmp_path):
    result = runner.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2
    assert f"{tmp_path} is not an experiment run folder: no config.resolved.yaml in it" in result.output.replace(
        "\n", ""
    )


def _filter_records(study, dest):
    """The study's RUN/filter without its adapters (as kept records hold it)."""
    import shutil

    shutil.copytree(study["run"] / "filter", dest, ignore=shutil.ignore_patterns("s1", "s1_plus"))
    return dest


def test_filter_from_reuses_the_selection_without_the_filter_sessions(study, tiny_model_dir, data_dir, tmp_path):
    import forgetfilter.training as training

    source = _filter_records(study, tmp_path / "records")
    sessions: list[str] = []
    real = training.train_session

    def counting(*args, desc="train", **kwargs):
        sessions.append(desc)
        return real(*args, desc=desc, **kwargs)

    def refuse(*args, **kwargs):
        raise AssertionError("the filter scored examples again")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(training, "train_session", counting)
        patch.setattr("forgetfilter.signals.compute_signals", refuse)
        args = (f"filter_from={source}", "methods=[forgetfilter,random_filter]", "interleaved.rounds=0")
        result = _invoke(study["config"], tmp_path / "run", tiny_model_dir, data_dir, *args)
    assert result.exit_code == 0, result.output
    assert sorted(sessions) == ["forgetfilter", "random_filter"]
    new, old = tmp_path / "run" / "selections", study["run"] / "selections"
    for name in ("forgetfilter", "random_filter"):
        assert json.loads((new / f"{name}.json").read_text()) == json.loads((old / f"{name}.json").read_text())
    reused = json.loads((tmp_path / "run" / "filter" / "reused_from.json").read_text())
    assert reused["source"] == str(source.resolve())
    assert (tmp_path / "run" / "filter" / "summary.json").read_bytes() == (source / "summary.json").read_bytes()
    assert "selection reused from" in result.output
    assert f"ForgetFilter selection reused from {source} (filter/reused_from.json)" in (
        tmp_path / "run" / "results.md"
    ).read_text().replace("\n", "")


def test_train_seed_retrains_a_method_under_another_seed_against_the_same_selection(
    study, tiny_model_dir, data_dir, tmp_path
):
    import forgetfilter.training as training

    source = _filter_records(study, tmp_path / "records")
    seeds: dict[str, int] = {}
    real = training.train_session

    def recording(model, tokenizer, examples, settings, *args, desc="train", **kwargs):
        seeds[desc] = settings.seed
        return real(model, tokenizer, examples, settings, *args, desc=desc, **kwargs)

    args = (f"filter_from={source}", "methods=[forgetfilter]", "interleaved.rounds=0")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(training, "train_session", recording)
        result = _invoke(study["config"], tmp_path / "run", tiny_model_dir, data_dir, *args, "train_seed=7")
    assert result.exit_code == 0, result.output
    assert seeds == {"forgetfilter": 7}
    new, old = tmp_path / "run", study["run"]
    assert (new / "selections/forgetfilter.json").read_bytes() == (old / "selections/forgetfilter.json").read_bytes()
    trained = (new / "sessions/forgetfilter/adapter/adapter_model.safetensors").read_bytes()
    assert trained != (old / "sessions/forgetfilter/adapter/adapter_model.safetensors").read_bytes()
    # the same folder under another training seed would mix two runs: refused before anything trains
    again = _invoke(study["config"], tmp_path / "run", tiny_model_dir, data_dir, *args, "train_seed=8")
    assert again.exit_code == 2
    assert "different config (train_seed: 7 -> 8)" in again.output.replace("\n", "")


def test_filter_from_of_other_data_is_refused_before_training(study, tiny_model_dir, data_dir, tmp_path):
    source = _filter_records(study, tmp_path / "records")
    args = (f"filter_from={source}", "methods=[forgetfilter]", "data.n=20")
    result = _invoke(study["config"], tmp_path / "run", tiny_model_dir, data_dir, *args)
    assert result.exit_code == 2
    assert f"filter_from: {source} was run on other data or settings (d_noisy" in result.output.replace("\n", "")
    assert not (tmp_path / "run" / "sessions").exists()


@pytest.mark.parametrize(
    ("remove", "methods", "message"),
    [
        ("scores.jsonl", "[forgetfilter]", "has no scores.jsonl: not a finished ForgetFilter run"),
        (None, "[no_filter,forgetfilter,sequential]", "methods no_filter, sequential evaluate the filter's own models"),
    ],
)
def test_filter_from_errors(study, tiny_model_dir, data_dir, tmp_path, remove, methods, message):
    source = _filter_records(study, tmp_path / "records")
    if remove:
        (source / remove).unlink()
    result = _invoke(study["config"], tmp_path / "run", tiny_model_dir, data_dir, f"filter_from={source}",
                     f"methods={methods}")  # fmt: skip
    assert result.exit_code == 2
    assert message in result.output.replace("\n", "")
