import json

from typer.testing import CliRunner

from forgetfilter.cli import app

runner = CliRunner()


def test_evaluate_command_on_tiny_model(tiny_model_dir, data_dir, tmp_path):
    out = tmp_path / "eval"
    result = runner.invoke(
        app,
        [
            "evaluate",
            "--model",
            str(tiny_model_dir),
            "--suite",
            "bias,task",
            "--n",
            "2",
            "--max-new-tokens",
            "2",
            "--data-dir",
            str(data_dir),
            "--out",
            str(out),
            "--dtype",
            "float32",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "accuracy_ambiguous" in result.output and "squad_f1" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["generations_bias.jsonl", "generations_task.jsonl", "metrics.json"]
    assert json.loads((out / "metrics.json").read_text())["run"]["model"] == str(tiny_model_dir)


def test_unknown_suite_gets_did_you_mean(tmp_path):
    result = runner.invoke(app, ["evaluate", "--suite", "toxcity", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "did you mean 'toxicity'" in result.output


def test_bad_token_budget_is_explained(tmp_path):
    result = runner.invoke(app, ["evaluate", "--max-new-tokens", "bias=lots", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "part=integer" in result.output
