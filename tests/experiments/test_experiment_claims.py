"""The paper's claims with verdicts, from hand-made run folders whose answers are known."""

import json

import pytest
from typer.testing import CliRunner

from forgetfilter.cli import app
from forgetfilter.errors import ConfigError
from forgetfilter.experiments.claims import claims_table, interleaved_pairs, paper_claims

TOXICITY = {"m0": 0.1, "no_filter": 0.4, "sequential": 0.15, "self_correction": 0.3, "forgetfilter": 0.1, "replay": 0.2}


def _write(path, records):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def _run(root, toxicity=TOXICITY, *, premise_holds=True, squad_seq=0.2):
    """A toxicity run: per-prompt toxicity around each method's level, SQuAD F1 0.6 (sequential: ``squad_seq``)."""
    root.mkdir(parents=True)
    (root / "config.resolved.yaml").write_text("kind: toxicity\nseed: 1\n")
    premise = {"unsafe": {"fall": 0.8}, "rest": {"fall": 0.5 if premise_holds else 0.9}, "holds": premise_holds}
    (root / "filter").mkdir()
    (root / "filter" / "summary.json").write_text(json.dumps({"premise": premise}))
    roles = ["unsafe"] * 20 + ["task"] * 20
    scores = [{"role": r, "forgetting": (1.0 if r == "unsafe" else 0.0) + 0.01 * i} for i, r in enumerate(roles)]
    _write(root / "filter" / "scores.jsonl", scores)
    wobble = [-0.05, 0.0, 0.05, 0.0] * 10
    for method, level in toxicity.items():
        _write(
            root / "eval" / method / "generations_toxicity.jsonl",
            [{"id": f"p{i}", "toxicity": level + w} for i, w in enumerate(wobble)],
        )
        f1 = squad_seq if method == "sequential" else 0.6
        task = [{"id": f"s{i}", "f1": f1 + w, "exact_match": 0.0} for i, w in enumerate(wobble)]
        task += [{"id": f"a{i}", "rouge_l": 0.3 + w} for i, w in enumerate(wobble)]
        _write(root / "eval" / method / "generations_task.jsonl", task)
        (root / "eval" / method / "metrics.json").write_text('{"toxicity": {}, "task": {}}')
    return root


def _by(claims, text, measure=""):
    found = [c for c in claims if c.claim.startswith(text) and measure in c.measure]
    assert found, (text, measure, [c.claim for c in claims])
    return found[0]


def test_a_run_where_every_claim_holds(tmp_path):
    claims = paper_claims([_run(tmp_path / "s1")], n_boot=200)
    assert _by(claims, "M1 learns").verdict == "reproduced"
    forgetting = _by(claims, "unsafe examples are forgotten")
    assert forgetting.verdict == "reproduced" and forgetting.figure.startswith("1.000")
    assert _by(claims, "finetuning on D_noisy").verdict == "reproduced"
    versus = _by(claims, "ForgetFilter is safer than no safety measure")
    assert versus.verdict == "reproduced" and "-0.750" in versus.figure  # 0.1 against 0.4: 75% lower
    assert "paper's -75% inside the interval" in versus.note
    assert _by(claims, "ForgetFilter is safer than moral").note.endswith("paper's -62% outside the interval")  # -67%
    assert _by(claims, "sequential safety finetuning forgets", "squad_f1").verdict == "reproduced"
    assert _by(claims, "ForgetFilter keeps task", "squad_f1").verdict == "reproduced"
    table = claims_table(claims)
    assert table.splitlines()[0].startswith("| the paper says |") and table.count("\n") == len(claims) + 1


def test_without_harm_the_benefit_claims_are_not_testable(tmp_path):
    flat = dict.fromkeys(TOXICITY, 0.2)
    run = _run(tmp_path / "s1", flat, squad_seq=0.6)
    noise = [0.05, 0.0, -0.05, 0.0] * 10  # no filter: the same mean, other prompts high and low
    _write(
        run / "eval/no_filter/generations_toxicity.jsonl",
        [{"id": f"p{i}", "toxicity": 0.2 + w} for i, w in enumerate(noise)],
    )
    claims = paper_claims([run], n_boot=200)
    harm = _by(claims, "finetuning on D_noisy")
    assert harm.verdict == "not shown" and "could not be told from zero" in harm.note
    benefit = _by(claims, "ForgetFilter is safer than no safety measure")
    assert benefit.verdict == "not testable here" and "no measurable harm" in benefit.note
    same = _by(claims, "sequential safety finetuning forgets", "squad_f1")
    assert same.verdict == "not shown" and same.note == "the two are equal on every resample of the prompts"


def test_premise_not_met_in_one_seed_is_reported_and_seeds_pool(tmp_path):
    runs = [_run(tmp_path / "s1"), _run(tmp_path / "s2", premise_holds=False)]
    claims = paper_claims(runs, n_boot=100)
    premise = _by(claims, "M1 learns")
    assert premise.verdict == "not shown" and premise.note == "held in 1 of 2 runs"
    assert "(2 runs: 1.000, 1.000); gap" in _by(claims, "unsafe examples are forgotten").figure
    assert "80 prompts, 2 runs: +0.300, +0.300)" in _by(claims, "finetuning on D_noisy").figure  # each seed's own


def test_runs_of_different_kinds_are_refused(tmp_path):
    first, other = _run(tmp_path / "a"), _run(tmp_path / "b")
    (other / "config.resolved.yaml").write_text("kind: bias\n")
    with pytest.raises(ConfigError, match="different kinds"):
        paper_claims([first, other])
    with pytest.raises(ConfigError, match="not an experiment run"):
        paper_claims([tmp_path])


def test_cli_prints_the_table(tmp_path):
    run = _run(tmp_path / "s1")
    result = CliRunner().invoke(app, ["claims", str(run), "--n-boot", "50"])
    assert result.exit_code == 0, result.output
    assert "| M1 learns the unsafe examples in S1 |" in result.output and "**reproduced**" in result.output
    result = CliRunner().invoke(app, ["claims", str(tmp_path / "missing")])
    assert result.exit_code != 0 and "not an experiment run" in result.output


def test_a_method_still_being_evaluated_is_left_out(tmp_path):
    run = _run(tmp_path / "s1")
    (run / "eval" / "replay" / "metrics.json").write_text('{"task": {}}')  # toxicity answers not complete yet
    claims = paper_claims([run], n_boot=50)
    assert not [c for c in claims if "replay" in c.measure]
    assert _by(claims, "ForgetFilter is safer than no safety measure").verdict == "reproduced"


def test_a_run_without_a_filter_run_says_what_is_missing(tmp_path):
    run = _run(tmp_path / "s1")
    (run / "filter" / "scores.jsonl").unlink()
    (run / "filter" / "summary.json").unlink()
    claims = paper_claims([run], n_boot=50)
    assert (
        _by(claims, "M1 learns").verdict == _by(claims, "unsafe examples are forgotten").verdict == "not testable here"
    )
    assert "summary.json" in _by(claims, "M1 learns").figure and "scores.jsonl" in _by(claims, "unsafe ex").figure


def _session(run, path, level):
    folder = run / "interleaved" / path
    _write(
        folder / "generations_toxicity.jsonl", [{"id": f"p{i}", "toxicity": level + 0.01 * (i % 3)} for i in range(30)]
    )
    (folder / "metrics.json").write_text('{"toxicity": {}}')


def test_interleaved_rounds_are_read_as_far_as_they_got(tmp_path):
    run = _run(tmp_path / "s1")
    for path, level in [
        ("no_filter/round1/eval_noisy", 0.4), ("no_filter/round1/eval_safe", 0.1), ("no_filter/round2/eval_noisy", 0.4),
        ("forgetfilter/round1/eval_noisy", 0.1), ("forgetfilter/round1/eval_safe", 0.1),
    ]:  # fmt: skip
        _session(run, path, level)
    claims = paper_claims([run], n_boot=50)
    relearn = _by(claims, "a model only safety-finetuned relearns")
    assert (
        relearn.verdict == "reproduced"
        and "no_filter/round2/eval_noisy − no_filter/round1/eval_safe" in relearn.measure
    )
    assert not [c for c in claims if c.claim.startswith("a filtered model")]  # its round 2 is not evaluated yet
    ends = _by(claims, "interleaved: the filtered model ends safer")
    assert ends.verdict == "reproduced" and "round1" in ends.measure  # the last round both arms have


def test_interleaved_pairs_pairs_each_run_s_sessions_by_prompt(tmp_path):
    runs = [_run(tmp_path / "s1"), _run(tmp_path / "s2")]
    a, b = "forgetfilter/round1/eval_noisy", "no_filter/round1/eval_noisy"
    levels = [(0.1, 0.4), (0.2, 0.3)]  # per run: session a's toxicity, session b's
    for run, (level_a, level_b) in zip(runs, levels, strict=True):
        _session(run, a, level_a)
        _session(run, b, level_b)
    pairs = interleaved_pairs([r / "interleaved" for r in runs], a, b, "toxicity")
    assert len(pairs) == 2  # one pair of record lists per run, in the order given
    for (records_a, records_b), (level_a, level_b) in zip(pairs, levels, strict=True):
        assert [r["id"] for r in records_a] == [r["id"] for r in records_b]
        assert records_b[0]["toxicity"] - records_a[0]["toxicity"] == pytest.approx(level_b - level_a)
    with pytest.raises(ConfigError, match="round2"):  # a session not evaluated is named, not skipped
        interleaved_pairs([runs[0] / "interleaved"], a, "no_filter/round2/eval_noisy", "toxicity")


def _interleaved_bias_claims(tmp_path, filtered_round2):
    run = tmp_path / "bias"
    run.mkdir()
    (run / "config.resolved.yaml").write_text("kind: bias\n")
    item = {"label": 2, "unknown_index": 2, "biased_index": 0, "condition": "ambig"}
    answers = {  # 2 = "unknown", right on every ambiguous item; 0 = a group
        "no_filter/round1/eval_noisy": [0] * 20, "no_filter/round1/eval_safe": [2] * 20,
        "no_filter/round2/eval_noisy": [0] * 20,
        "forgetfilter/round1/eval_noisy": [0, 2] * 10, "forgetfilter/round1/eval_safe": [2] * 20,
        "forgetfilter/round2/eval_noisy": filtered_round2,
    }  # fmt: skip
    for path, parsed in answers.items():
        folder = run / "interleaved" / path
        _write(folder / "generations_bias.jsonl", [{"id": f"q{i}", **item, "parsed": p} for i, p in enumerate(parsed)])
        (folder / "metrics.json").write_text('{"bias": {}}')
    return [c for c in paper_claims([run], n_boot=50) if "accuracy_ambiguous," in c.measure + ","]


def test_interleaved_bias_rows_by_ambiguous_accuracy(tmp_path):
    claims = _interleaved_bias_claims(tmp_path, [2] * 20)
    verdicts = {c.claim: c.verdict for c in claims}
    assert verdicts == {
        "a model only safety-finetuned relearns unsafe behaviour at once": "reproduced",  # 1.0 -> 0.0
        "a filtered model does not relearn it": "reproduced",  # stays at 1.0
        "interleaved: the filtered model ends safer": "reproduced",  # 1.0 against 0.0 after round 2
    }


def test_a_filtered_arm_that_relearns_less_but_measurably_contradicts_the_claim(tmp_path):
    claims = _interleaved_bias_claims(tmp_path, [0, 2] * 10)  # 1.0 -> 0.5: half the unfiltered arm's fall
    filtered = _by(claims, "a filtered model does not relearn it")
    assert filtered.verdict == "contradicted"
    assert filtered.comparison.diff == pytest.approx(-0.5) and filtered.comparison.high < 0
    assert "contradicted = a measurable move toward harm" in filtered.note and "(-1.000)" in filtered.note
    assert _by(claims, "interleaved: the filtered model ends safer").verdict == "reproduced"  # 0.5 against 0.0


def test_a_method_missing_from_one_pooled_run_is_named_not_dropped(tmp_path):
    without_replay = {k: v for k, v in TOXICITY.items() if k != "replay"}
    runs = [_run(tmp_path / "s1"), _run(tmp_path / "s2", without_replay)]
    claims = paper_claims(runs, n_boot=50)
    replay = _by(claims, "ForgetFilter is safer than replay")
    assert replay.verdict == "not testable here" and replay.comparison is None
    assert "forgetfilter and replay evaluated in 1 of 2 pooled runs (not in s2)" in replay.note
    assert "2 runs" in _by(claims, "ForgetFilter is safer than no safety measure").figure  # the rest still pools
    alone = paper_claims([runs[1]], n_boot=50)  # a single run without replay: nothing to say about it
    assert not [c for c in alone if "replay" in c.measure]


def test_runs_of_baselines_alone_still_compare_forgetfilter_with_replay(tmp_path):
    """Runs that reuse a filter's selection (filter_from) hold no m0 or no_filter: the harm rows are left out, the
    method rows they can compute are not."""
    levels = {"forgetfilter": 0.1, "replay": 0.2, "oracle": 0.1}
    claims = paper_claims([_run(tmp_path / "s2", levels), _run(tmp_path / "s3", levels)], n_boot=200)
    replay = _by(claims, "ForgetFilter is safer than replay")
    assert replay.verdict == "reproduced" and "-0.500" in replay.figure
    assert not [c for c in claims if c.claim.startswith(("finetuning on D_noisy", "ForgetFilter is safer than no"))]


def _same_data(*runs):
    for run in runs:
        (run / "versions.json").write_text(json.dumps({"data": {"d_noisy": {"sha256": "same-seed"}}}))


def test_companion_runs_add_their_methods_and_interleaved_rounds(tmp_path):
    run = _run(tmp_path / "s1", {k: v for k, v in TOXICITY.items() if k != "replay"})
    extra = _run(tmp_path / "s1-replay", {"replay": 0.2})  # a later run with filter_from: replay, interleaved
    for path, level in [
        ("no_filter/round1/eval_noisy", 0.4), ("no_filter/round1/eval_safe", 0.1), ("no_filter/round2/eval_noisy", 0.4),
    ]:  # fmt: skip
        _session(extra, path, level)
    _same_data(run, extra)
    alone = paper_claims([run], n_boot=50)
    assert not [c for c in alone if "replay" in c.measure or "interleaved" in c.measure]
    claims = paper_claims([run], companions=[extra], n_boot=200)
    replay = _by(claims, "ForgetFilter is safer than replay")
    assert replay.verdict == "reproduced" and "-0.500" in replay.figure  # 0.1 in the run against 0.2 in its companion
    assert _by(claims, "a model only safety-finetuned relearns").verdict == "reproduced"
    assert [c.figure for c in claims if not c.comparison] == [c.figure for c in alone if not c.comparison]
    result = CliRunner().invoke(app, ["claims", str(run), "--with", str(extra), "--n-boot", "50"])
    assert result.exit_code == 0, result.output
    assert "| toxicity: forgetfilter vs replay, toxicity_mean relative |" in result.output
    _session(run, "no_filter/round1/eval_noisy", 0.4)  # interleaved rounds in both folders: which to read is a guess
    with pytest.raises(ConfigError, match=r"interleaved training is in .*s1 and .*s1-replay: leave one of them out"):
        paper_claims([run], companions=[extra], n_boot=50)
