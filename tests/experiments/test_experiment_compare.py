"""Paired bootstrap comparisons between methods of a run, from per-prompt evaluation records."""

import json

import pytest
from typer.testing import CliRunner

from forgetfilter.cli import app
from forgetfilter.errors import ConfigError
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


def test_errors_name_the_problem(tmp_path):
    _write(tmp_path, "a", "toxicity", _toxic([0.1, 0.2]))
    _write(tmp_path, "b", "toxicity", _toxic([0.1, 0.2, 0.3]))
    with pytest.raises(ConfigError, match="same prompts"):
        compare_methods(tmp_path, "a", "b", "toxicity")
    with pytest.raises(ConfigError, match=r"generations_toxicity.jsonl does not exist .*a, b"):
        compare_methods(tmp_path, "a", "nope", "toxicity")
    with pytest.raises(ConfigError, match="choose one of toxicity, bias"):
        compare_methods(tmp_path, "a", "b", "task")
    (tmp_path / "eval/b/generations_toxicity.jsonl").write_text('{"id": "p0", "toxicity": 0.1}\n{oops\n')
    with pytest.raises(ConfigError, match="line 2: not valid JSON"):
        compare_methods(tmp_path, "a", "b", "toxicity")


def test_cli_prints_a_table_and_reports_errors(tmp_path):
    _write(tmp_path, "a", "toxicity", _toxic([0.3, 0.4, 0.5]))
    _write(tmp_path, "b", "toxicity", _toxic([0.1, 0.2, 0.3]))
    result = CliRunner().invoke(app, ["compare", str(tmp_path), "a", "b", "--n-boot", "50"])
    assert result.exit_code == 0, result.output
    assert "| toxicity_mean | a | b | 0.400 | 0.200 | +0.200 | [+0.200, +0.200] | yes | 3 |" in result.output
    bad = CliRunner().invoke(app, ["compare", str(tmp_path), "a", "missing"])
    assert bad.exit_code == 2 and "does not exist" in bad.output
