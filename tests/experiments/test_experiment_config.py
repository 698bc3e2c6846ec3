"""ExperimentConfig: shipped configs, YAML + key=value overrides, and errors that name the file and key."""

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from forgetfilter.cli import app
from forgetfilter.config import FilterConfig
from forgetfilter.config_io import apply_overrides, from_dict
from forgetfilter.errors import ConfigError
from forgetfilter.experiments.config import ExperimentConfig, load_experiment_config
from forgetfilter.experiments.methods import METHODS

CONFIGS = sorted((Path(__file__).parents[2] / "configs").glob("experiment-*.yaml"))
runner = CliRunner()


def test_every_shipped_config_is_valid_and_names_its_kind():
    assert [p.stem for p in CONFIGS] == [f"experiment-{k}" for k in ("bias", "harmfulness", "mixed", "toxicity")]
    for path in CONFIGS:
        config = load_experiment_config(path)
        assert config.kind == path.stem.removeprefix("experiment-")
        assert config.methods == tuple(METHODS) and config.data.n == 240 and config.data.unsafe_ratio == 0.5
        assert config.interleaved.rounds == 2 and config.filter.s1_plus.epochs == 4.0


def test_study_configs_keep_the_premise_settings_of_issue_14():
    studies = sorted((Path(__file__).parents[2] / "configs").glob("study-*.yaml"))
    assert [p.stem for p in studies] == [f"study-{k}" for k in ("bias", "harmfulness", "mixed", "toxicity")]
    for path in studies:
        config = load_experiment_config(path)
        assert config.kind == path.stem.removeprefix("study-") and config.methods == tuple(METHODS)
        assert (config.data.n, config.data.unsafe_ratio, config.eval.n) == (600, 0.5, 200)
        assert config.filter.s1 == FilterConfig().s1 and config.filter.s1.until == "learned"  # the filter's defaults
        if config.kind != "bias":  # the adapter and cut under which S1 teaches toxic and harmful text at 135M
            lora = config.filter.lora
            assert (lora.r, lora.alpha, tuple(lora.target_modules)) == (64, 128, ("all-linear",))
            assert (config.filter.signal, config.filter.threshold_method) == ("nll", "otsu")
        else:
            assert config.filter.lora == FilterConfig().lora and config.filter.signal == FilterConfig().signal
            assert config.filter.threshold_method == FilterConfig().threshold_method
        assert config.interleaved.rounds == (3 if config.kind in ("bias", "toxicity") else 0)
        assert config.interleaved.noisy.until == "learned"


def test_overrides_use_the_yaml_keys_and_parse_values(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("kind: toxicity\ndata: {n: 40}\nfilter: {s1: {epochs: 2}}\n")
    config = load_experiment_config(path, ["data.n=12", "filter.s1.epochs=1", "methods=[m0, oracle]", "cue=null"])
    assert config.kind == "toxicity" and config.data.n == 12
    assert config.filter.s1.epochs == 1.0 and isinstance(config.filter.s1.epochs, float)
    assert config.methods == ("m0", "oracle") and config.cue is None
    assert config.filter.s1_plus == FilterConfig().s1_plus  # untouched default from FilterConfig
    assert from_dict(ExperimentConfig, config.to_dict()) == config  # the resolved config round-trips


def test_unknown_key_names_file_key_and_suggestion(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("kind: bias\nfilter:\n  s1: {epoch: 1}\n")
    with pytest.raises(
        ConfigError, match=r"bad\.yaml: unknown key 'filter\.s1\.epoch'; did you mean 'filter\.s1\.epochs'"
    ):
        load_experiment_config(path)
    with pytest.raises(ConfigError, match=r"unknown key 'data\.nn'; did you mean 'data\.n'"):
        load_experiment_config(_write(tmp_path, "kind: bias\n"), ["data.nn=3"])


def _write(tmp_path, text):
    path = tmp_path / "ok.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kind: bais\n", "kind: unknown value 'bais'.*did you mean 'bias'"),
        ("data: {n: many}\n", "data.n: expected int, found str 'many'"),
        ("methods: [m0, m0]\n", "methods lists a method twice"),
        ("filter: {model: x}\n", "top-level key `model`, not filter.model"),
        ("filter: {signal: bleu}\n", "filter: unknown signal 'bleu'"),
        ("filter: {signal: nll}\n", "filter: threshold_method rise is a cut on the log_nll scale"),
        ("data: {d_noisy: a.jsonl}\n", "d_noisy and data.d_safe go together"),
        ("eval: {n: 1}\n", "eval.n must be >= 2"),
        ("train_seed: -1\n", "train_seed must be >= 0"),
        ("train_seed: one\n", "train_seed: expected int"),
        ("- a list\n", "expected a mapping"),
    ],
)
def test_bad_values_are_clear_errors(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_experiment_config(_write(tmp_path, text))


def test_bad_override_syntax():
    with pytest.raises(ConfigError, match="expected key=value"):
        apply_overrides({}, ["data.n"])
    with pytest.raises(ConfigError, match="'kind' is a value, not a section"):
        apply_overrides({"kind": "bias"}, ["kind.x=1"])


def test_cli_check_prints_the_resolved_config_and_errors_are_one_line(tmp_path):
    path = _write(tmp_path, "kind: toxicity\n")
    result = runner.invoke(app, ["experiment", str(path), "--check", "eval.n=7", "--methods", "m0,oracle"])
    assert result.exit_code == 0, result.output
    resolved = yaml.safe_load(result.output)
    assert resolved["eval"]["n"] == 7 and resolved["methods"] == ["m0", "oracle"] and resolved["kind"] == "toxicity"
    result = runner.invoke(app, ["experiment", str(path), "--check", "eval.nn=7"])
    assert result.exit_code == 2 and "did you mean 'eval.n'" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["experiment", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 2 and "missing.yaml does not exist" in result.output
