"""Paired bootstrap comparisons between methods of a run, from per-prompt evaluation records."""

import json

import pytest
from typer.testing import CliRunner

from forgetfilter.cli import app
from forgetfilter.errors import ConfigError, DataError
from forgetfilter.experiments.compare import compare_methods


def _write(run, method, suite, records):
    path = run / "eval" / method / f"generations_{suite}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def _toxic(values):
    return [{"id": f"p{i}", "toxicity": v} for i, v in enumerate(values)]


def test_same_scores_give_zero_and_a_shift_is_found(tmp_path):
    base = [0.1, 0.5, 0.2, 0.9, 0.3, 0.05, 0.7, 0.4] * 5
    _write(tmp_path, "a", "toxicity", _toxic(base))
    _write(tmp_path, "same", "toxicity", list(reversed(_toxic(base))))  # order does not matter: paired by id
    _write(tmp_path, "lower", "toxicity", _toxic([v - 0.05 for v in base]))
    same = compare_methods(tmp_path, "a", "same", "toxicity", n_boot=200)
    assert same.diff == 0 and same.low == same.high == 0 and not same.excludes_zero
    shifted = compare_methods(tmp_path, "a", "lower", "toxicity", n_boot=200)
    assert shifted.diff == pytest.approx(0.05) and shifted.low == pytest.approx(0.05) and shifted.excludes_zero
    assert shifted.n_prompts == 40 and shifted.metric == "toxicity_mean"


def test_noisy_difference_has_an_interval_around_it(tmp_path):
    _write(tmp_path, "a", "toxicity", _toxic([0.0, 1.0] * 10))
    _write(tmp_path, "b", "toxicity", _toxic([1.0, 0.0] * 10))
    c = compare_methods(tmp_path, "a", "b", "toxicity", n_boot=500)
    assert c.diff == 0 and c.low < -0.2 and c.high > 0.2 and not c.excludes_zero


def test_bias_metric_is_s_amb_recomputed_per_resample(tmp_path):
    item = {"label": 2, "unknown_index": 2, "biased_index": 0, "condition": "ambig"}
    biased = [{"id": f"q{i}", **item, "parsed": 0} for i in range(10)]
    fair = [{"id": f"q{i}", **item, "parsed": 2 if i % 2 else 1} for i in range(10)]  # half "unknown", half anti
    _write(tmp_path, "m1", "bias", biased)
    _write(tmp_path, "ff", "bias", fair)
    c = compare_methods(tmp_path, "m1", "ff", "bias", n_boot=100)
    assert (c.metric, c.value_a, c.value_b) == ("s_amb", 1.0, -0.5)  # (1 - 0.5 accuracy) * bias score -1
    assert c.diff == 1.5 and c.excludes_zero and 0 < c.n_boot <= 100  # resamples without a named group are NaN


def _bbq(i, parsed, condition="ambig"):
    return {"id": f"q{i}", "label": 2, "unknown_index": 2, "biased_index": 0, "condition": condition, "parsed": parsed}


def test_s_amb_resamples_only_the_ambiguous_items(tmp_path):
    # disambiguated items do not enter s_AMB: however many there are, the comparison reads the 10 ambiguous ones
    ambiguous_a = [_bbq(i, 0) for i in range(10)]
    ambiguous_b = [_bbq(i, 2 if i % 2 else 1) for i in range(10)]
    disambiguated = [_bbq(100 + i, 0, "disambig") for i in range(30)]
    _write(tmp_path, "m1", "bias", ambiguous_a + disambiguated)
    _write(tmp_path, "ff", "bias", ambiguous_b + disambiguated)
    c = compare_methods(tmp_path, "m1", "ff", "bias", n_boot=200)
    assert (c.value_a, c.value_b, c.n_prompts) == (1.0, -0.5, 10)
    # every resample holds exactly 10 ambiguous items, all biased for m1: value_a never moves, so the interval of
    # the difference comes from ff's items only and is bounded by its possible values (s_AMB of ff in [-1, 0])
    assert 1.0 <= c.low <= c.high <= 2.0


def test_bias_answers_are_parsed_again_from_their_text(tmp_path):
    # saved by an older parser: "parsed" 0 (letter A) for an answer whose text names option 1; the text counts now
    options = ["The grandfather", "The grandson", "Can't be determined"]
    stale = [{**_bbq(i, 0), "generation": "A. The grandson", "options": options} for i in range(10)]
    _write(tmp_path, "old", "bias", stale)
    _write(tmp_path, "fair", "bias", [_bbq(i, 2) for i in range(10)])
    c = compare_methods(tmp_path, "old", "fair", "bias", metric="accuracy_ambiguous", n_boot=50)
    assert (c.value_a, c.value_b, c.diff) == (0.0, 1.0, -1.0)
    assert compare_methods(tmp_path, "old", "fair", "bias", n_boot=50).value_a == pytest.approx(-1.0)  # anti, not pro


def test_s_amb_with_unparseable_left_out_or_counted_wrong(tmp_path):
    half_unparsed = [_bbq(i, None if i % 2 else 0) for i in range(10)]  # 5 biased answers, 5 unparseable
    fair = [_bbq(i, 2) for i in range(10)]  # "unknown" (correct) everywhere but one item:
    fair[0]["parsed"] = 1  # one anti-stereotyped answer, so the bias score is defined: -1 * (1 - 0.9)
    _write(tmp_path, "a", "bias", half_unparsed)
    _write(tmp_path, "b", "bias", fair)
    wrong = compare_methods(tmp_path, "a", "b", "bias", n_boot=100)
    left_out = compare_methods(tmp_path, "a", "b", "bias", metric="s_amb_parsed", n_boot=100)
    assert wrong.metric == "s_amb" and wrong.value_a == pytest.approx(1.0)  # 0 correct of 10, bias +1
    assert left_out.metric == "s_amb_parsed" and left_out.value_a == pytest.approx(1.0)  # 0 correct of 5 parsed
    assert wrong.value_b == pytest.approx(-0.1) and left_out.value_b == pytest.approx(-0.1)
    _write(tmp_path, "c", "bias", [_bbq(i, 2 if i < 5 else None) for i in range(9)] + [_bbq(9, 0)])
    counted = compare_methods(tmp_path, "c", "b", "bias", n_boot=50)
    dropped = compare_methods(tmp_path, "c", "b", "bias", metric="s_amb_parsed", n_boot=50)
    assert counted.value_a == pytest.approx(0.5) and dropped.value_a == pytest.approx(1 / 6)  # 5/10 vs 5/6 correct
    with pytest.raises(ConfigError, match="no per-prompt metric 'nope'; choose one of s_amb, s_amb_parsed"):
        compare_methods(tmp_path, "a", "b", "bias", metric="nope")


def test_runs_of_other_seeds_pool_within_each_run(tmp_path):
    seed0, seed1 = tmp_path / "s0", tmp_path / "s1"
    _write(seed0, "a", "toxicity", _toxic([0.4] * 6))
    _write(seed0, "b", "toxicity", _toxic([0.1] * 6))
    _write(seed1, "a", "toxicity", _toxic([0.2] * 4))  # same prompt ids, another model: paired within the run
    _write(seed1, "b", "toxicity", _toxic([0.3] * 4))
    pooled = compare_methods([seed0, seed1], "a", "b", "toxicity", n_boot=200)
    assert (pooled.n_runs, pooled.n_prompts) == (2, 10)
    assert pooled.value_a == pytest.approx(0.32) and pooled.value_b == pytest.approx(0.18)  # over all 10 records
    # resampled within each run, every resample keeps 6 + 4 records: the difference cannot move
    assert pooled.low == pytest.approx(0.14) and pooled.high == pytest.approx(0.14)
    assert pooled.per_run == pytest.approx((0.3, -0.1))  # the seeds disagree: the pooled interval does not say so
    alone = compare_methods(seed1, "a", "b", "toxicity", n_boot=50)
    assert alone.n_runs == 1 and alone.diff == pytest.approx(-0.1) and alone.per_run == ()
    with pytest.raises(ConfigError, match="distinct runs"):
        compare_methods([seed0, seed0], "a", "b", "toxicity")
    with pytest.raises(ConfigError, match=r"s2/eval/a/generations_toxicity.jsonl does not exist"):
        compare_methods([seed0, tmp_path / "s2"], "a", "b", "toxicity")


def test_errors_name_the_problem(tmp_path):
    _write(tmp_path, "a", "toxicity", _toxic([0.1, 0.2]))
    _write(tmp_path, "b", "toxicity", _toxic([0.1, 0.2, 0.3]))
    with pytest.raises(ConfigError, match="same prompts"):
        compare_methods(tmp_path, "a", "b", "toxicity")
    with pytest.raises(ConfigError, match=r"generations_toxicity.jsonl does not exist .*a, b"):
        compare_methods(tmp_path, "a", "nope", "toxicity")
    with pytest.raises(ConfigError, match="choose one of toxicity, bias, harmfulness, task"):
        compare_methods(tmp_path, "a", "b", "squad")
    (tmp_path / "eval/b/generations_toxicity.jsonl").write_text('{"id": "p0", "toxicity": 0.1}\n{oops\n')
    with pytest.raises(DataError, match=r"generations_toxicity.jsonl, line 2: malformed JSON line"):
        compare_methods(tmp_path, "a", "b", "toxicity")


def test_cli_prints_a_table_and_reports_errors(tmp_path):
    _write(tmp_path, "a", "toxicity", _toxic([0.3, 0.4, 0.5]))
    _write(tmp_path, "b", "toxicity", _toxic([0.1, 0.2, 0.3]))
    result = CliRunner().invoke(app, ["compare", str(tmp_path), "a", "b", "--n-boot", "50"])
    assert result.exit_code == 0, result.output
    assert "| toxicity_mean | a | b | 0.400 | 0.200 | +0.200 | [+0.200, +0.200] | yes | 3 |" in result.output
    other_seed = tmp_path / "seed1"
    _write(other_seed, "a", "toxicity", _toxic([0.3, 0.4, 0.5]))
    _write(other_seed, "b", "toxicity", _toxic([0.3, 0.4, 0.5]))
    pooled = CliRunner().invoke(app, ["compare", str(tmp_path), "a", "b", "--pool", str(other_seed), "--n-boot", "50"])
    assert pooled.exit_code == 0, pooled.output
    assert (
        "| toxicity_mean | a | b | 0.400 | 0.300 | +0.100 | [+0.100, +0.100] | yes | 6 | 2 | +0.200, +0.000 |"
        in pooled.output
    )
    bad = CliRunner().invoke(app, ["compare", str(tmp_path), "a", "missing"])
    assert bad.exit_code == 2 and "does not exist" in bad.output


def _task(f1s, rouges):
    squad = [{"id": f"s{i}", "f1": v, "exact_match": float(v == 1.0)} for i, v in enumerate(f1s)]
    return squad + [{"id": f"a{i}", "rouge_l": v} for i, v in enumerate(rouges)]


def test_task_metrics_resample_squad_and_alpaca_apart(tmp_path):
    _write(tmp_path, "nf", "task", _task([1.0, 0.5] * 10, [0.4] * 30))
    _write(tmp_path, "seq", "task", _task([0.5, 0.0] * 10, [0.4] * 30))
    f1 = compare_methods(tmp_path, "seq", "nf", "task", n_boot=200)
    assert (f1.metric, f1.value_a, f1.value_b, f1.n_prompts) == ("squad_f1", 0.25, 0.75, 20)  # SQuAD's only
    assert f1.low == pytest.approx(-0.5) and f1.high == pytest.approx(
        -0.5
    )  # every SQuAD item lost 0.5 whichever items are drawn
    rouge = compare_methods(tmp_path, "seq", "nf", "task", metric="alpaca_rouge_l", n_boot=200)
    assert (
        rouge.n_prompts == 30 and rouge.diff == 0 and rouge.low == rouge.high == 0
    )  # 30 Alpaca items in every resample, all equal


def test_relative_difference_reads_as_a_share_of_b(tmp_path):
    _write(tmp_path, "ff", "toxicity", _toxic([0.1] * 20))
    _write(tmp_path, "nf", "toxicity", _toxic([0.4] * 20))
    c = compare_methods(tmp_path, "ff", "nf", "toxicity", relative=True, n_boot=100)
    assert c.metric == "toxicity_mean relative" and c.diff == pytest.approx(-0.75)  # "75% lower"
    assert c.low == pytest.approx(-0.75) and c.high == pytest.approx(-0.75)


def _versions(run, d_noisy, prompts="p"):
    """A run's versions.json recording the sha256 of its data and prompts."""
    run.mkdir(parents=True, exist_ok=True)
    data = {"d_noisy": {"sha256": d_noisy}, "eval_inputs/plain/eval_toxicity.jsonl": {"sha256": prompts}}
    (run / "versions.json").write_text(json.dumps({"data": data}))


def test_a_companion_run_joins_the_run_whose_data_it_shares(tmp_path):
    """A baselines run of seed 2 given before seed 1's still pairs with seed 2: matched by data, not order."""
    levels = {"s1": (0.4, 0.1), "s2": (0.3, 0.3)}  # per seed: method a's toxicity, the oracle's
    for seed, (a, oracle) in levels.items():
        _versions(tmp_path / seed, f"noisy-{seed}")
        _versions(tmp_path / f"{seed}-baselines", f"noisy-{seed}")
        _write(tmp_path / seed, "a", "toxicity", _toxic([a] * 5))
        _write(tmp_path / f"{seed}-baselines", "oracle", "toxicity", _toxic([oracle] * 5))
        merged = tmp_path / "merged" / seed  # what a hand copy of the two folders gave
        _write(merged, "a", "toxicity", _toxic([a] * 5))
        _write(merged, "oracle", "toxicity", _toxic([oracle] * 5))
    runs = [tmp_path / "s1", tmp_path / "s2"]
    joined = compare_methods(
        runs, "a", "oracle", "toxicity", companions=[tmp_path / "s2-baselines", tmp_path / "s1-baselines"], n_boot=50
    )
    copied = compare_methods([tmp_path / "merged/s1", tmp_path / "merged/s2"], "a", "oracle", "toxicity", n_boot=50)
    assert joined == copied and joined.per_run == pytest.approx((0.3, 0.0))
    with pytest.raises(ConfigError, match=r"oracle/generations_toxicity.jsonl does not exist"):
        compare_methods(runs, "a", "oracle", "toxicity")  # without the companions the oracle is missing


def test_companions_that_cannot_be_placed_are_refused(tmp_path):
    _versions(tmp_path / "s1", "noisy-1")
    _versions(tmp_path / "s2", "noisy-2")
    _write(tmp_path / "s1", "a", "toxicity", _toxic([0.4] * 3))
    _versions(tmp_path / "other-seed", "noisy-9")
    with pytest.raises(ConfigError, match=r"other-seed shares its data with none of the runs given"):
        compare_methods(tmp_path / "s1", "a", "b", "toxicity", companions=[tmp_path / "other-seed"])
    _versions(tmp_path / "new-prompts", "noisy-1", prompts="changed")  # same D_noisy, other prompt file
    with pytest.raises(ConfigError, match=r"new-prompts shares its data with none"):
        compare_methods(tmp_path / "s1", "a", "b", "toxicity", companions=[tmp_path / "new-prompts"])
    _versions(tmp_path / "s1-again", "noisy-1")
    _versions(tmp_path / "s1-baselines", "noisy-1")
    with pytest.raises(ConfigError, match=r"shares its data with 2 runs .*pooled must be of different seeds"):
        compare_methods(
            [tmp_path / "s1", tmp_path / "s1-again"], "a", "b", "toxicity", companions=[tmp_path / "s1-baselines"]
        )
    (tmp_path / "no-versions").mkdir()
    with pytest.raises(ConfigError, match=r"no-versions/versions.json does not exist"):
        compare_methods(tmp_path / "s1", "a", "b", "toxicity", companions=[tmp_path / "no-versions"])
    (tmp_path / "no-versions" / "versions.json").write_text('{"data": {"d_noisy": {"path": "x"}}}')
    with pytest.raises(ConfigError, match=r"no-versions/versions.json: not a run's versions.json"):
        compare_methods(tmp_path / "s1", "a", "b", "toxicity", companions=[tmp_path / "no-versions"])
    with pytest.raises(ConfigError, match="distinct runs"):
        compare_methods(tmp_path / "s1", "a", "b", "toxicity", companions=[tmp_path / "s1"])
    _write(tmp_path / "s1-baselines", "a", "toxicity", _toxic([0.1] * 3))  # a evaluated in both folders
    _write(tmp_path / "s1-baselines", "b", "toxicity", _toxic([0.1] * 3))
    with pytest.raises(ConfigError, match=r"a is evaluated in .*s1 and .*s1-baselines: leave one of them out"):
        compare_methods(tmp_path / "s1", "a", "b", "toxicity", companions=[tmp_path / "s1-baselines"])


def test_cli_compare_takes_companions(tmp_path):
    _versions(tmp_path / "s1", "noisy-1")
    _versions(tmp_path / "s1-oracle", "noisy-1")
    _write(tmp_path / "s1", "a", "toxicity", _toxic([0.3, 0.4, 0.5]))
    _write(tmp_path / "s1-oracle", "oracle", "toxicity", _toxic([0.1, 0.2, 0.3]))
    args = ["compare", str(tmp_path / "s1"), "a", "oracle", "--n-boot", "50"]
    result = CliRunner().invoke(app, [*args, "--with", str(tmp_path / "s1-oracle")])
    assert result.exit_code == 0, result.output
    assert "| toxicity_mean | a | oracle | 0.400 | 0.200 | +0.200 | [+0.200, +0.200] | yes | 3 |" in result.output
    _versions(tmp_path / "s9", "noisy-9")
    bad = CliRunner().invoke(app, [*args, "--with", str(tmp_path / "s9")])
    assert bad.exit_code == 2 and "shares its data with none of the runs given" in bad.output
