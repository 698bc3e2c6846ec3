"""The whole filter configuration is checked before any model is loaded: types, ranges, conflicts, NaN."""

import json

import pytest
from typer.testing import CliRunner

from forgetfilter.cli import app
from forgetfilter.config import FilterConfig
from forgetfilter.errors import ConfigError
from forgetfilter.models import LoraSettings
from forgetfilter.training import SessionSettings

runner = CliRunner()


@pytest.fixture
def files(tmp_path):
    noisy = tmp_path / "noisy.jsonl"
    noisy.write_text("".join(json.dumps({"prompt": f"q{i}", "completion": f"a{i}"}) + "\n" for i in range(5)))
    safe = tmp_path / "safe.jsonl"
    safe.write_text(json.dumps({"prompt": "s", "completion": "fine"}) + "\n")
    return noisy, safe


@pytest.fixture
def seen(monkeypatch):
    """The FilterConfig the CLI hands to find_unsafe_examples, under "config"; nothing runs."""
    captured = {}

    def capture(data, safe, *, config, **kwargs):
        captured["config"] = config
        raise ConfigError("stop here")

    monkeypatch.setattr("forgetfilter.api.find_unsafe_examples", capture)
    return captured


@pytest.fixture
def no_model(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the configuration was checked")

    monkeypatch.setattr("forgetfilter.models.load_model", refuse)
    monkeypatch.setattr("forgetfilter.pipeline.run_stages", refuse)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--fraction", "1.5"], "fraction must be <= 1, got 1.5"),
        (["--count", "-1"], "count must be >= 0, got -1"),
        (["--count", "6"], "count must be at most 5 (the number of examples in the data), got 6"),
        (["--phi", "0.1", "--fraction", "0.2"], "give at most one of phi, fraction and count (got phi and fraction)"),
        (["--phi", "nan"], "phi must be a number, got nan"),
        (
            ["--threshold-method", "otsuu"],
            "threshold_method must be one of rise, otsu, robust_otsu, gmm, canary, got 'otsuu'; did you mean 'otsu'?",
        ),
        (["--signal", "nll"], "threshold_method rise is a cut on the log_nll scale"),
        (["rise=.nan"], "rise must be a number, got nan"),
        (["--s1-plus-steps", "-3"], "max_steps must be >= 1, got -3"),
        (["--s1-plus-steps", "0"], "max_steps must be >= 1, got 0"),
        (["--s1-plus-epochs", "0"], "epochs must be > 0, got 0"),
        (["--dtype", "bf32"], "unknown dtype 'bf32'"),
    ],
)
def test_bad_flags_stop_before_any_model_loads(files, tmp_path, no_model, flags, message):
    noisy, safe = files
    argv = ["filter", "--data", str(noisy), "--safe", str(safe), "--out", str(tmp_path / "run"), *flags]
    result = runner.invoke(app, argv)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split()) and "Traceback" not in result.output


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("signals: nll\n", "signals: expected a list, found str 'nll'"),
        ("s1: 3\n", "s1: expected a mapping of keys, found int"),
        ("fraction: '0.3'\n", "fraction: expected float, found str '0.3'"),
        ("s1: {grad_accum: 0}\n", "s1.grad_accum must be >= 1, got 0"),
        ("s1: {batch_size: 0}\n", "s1.batch_size must be >= 1, got 0"),
        ("s1_plus: {lr: .nan}\n", "s1_plus.lr must be a number, got nan"),
        ("lora: {r: 0}\n", "lora.r must be >= 1, got 0"),
        ("lora: {dropout: 1.0}\n", "lora.dropout must be < 1, got 1.0"),
        ("threshold_method: otsuu\n", "did you mean 'otsu'?"),
        ("signal: rouge\n", "with signal rouge set threshold_method to otsu, robust_otsu, gmm or canary"),
    ],
)
def test_bad_config_files_stop_before_any_model_loads(files, tmp_path, no_model, yaml_text, message):
    noisy, safe = files
    config = tmp_path / "cfg.yaml"
    config.write_text(yaml_text)
    argv = [
        "filter",
        "--data",
        str(noisy),
        "--safe",
        str(safe),
        "--out",
        str(tmp_path / "run"),
        "--config",
        str(config),
    ]
    result = runner.invoke(app, argv)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split()) and "Traceback" not in result.output


def test_a_partial_s1_plus_keeps_its_own_defaults():
    config = FilterConfig.from_dict({"s1_plus": {"lr": 1e-4}})
    assert config.s1_plus.lr == 1e-4
    assert (config.s1_plus.epochs, config.s1_plus.grad_accum) == (FilterConfig().s1_plus.epochs, 1)


def test_epochs_flag_replaces_a_step_count_from_the_config(files, tmp_path, seen):
    config = tmp_path / "cfg.yaml"
    config.write_text("s1_plus: {max_steps: 40}\n")
    noisy, safe = files
    argv = ["filter", "--data", str(noisy), "--safe", str(safe), "--out", str(tmp_path / "r"), "--config", str(config)]
    runner.invoke(app, [*argv, "--s1-plus-epochs", "3"])
    assert (seen["config"].s1_plus.epochs, seen["config"].s1_plus.max_steps) == (3, None)
    runner.invoke(app, argv)
    assert seen["config"].s1_plus.max_steps == 40


def test_s1_trains_until_learned_by_default_and_for_steps_when_a_step_count_is_given():
    assert (FilterConfig().s1.until, FilterConfig().s1_plus.until) == ("learned", "steps")
    assert FilterConfig.from_dict({"s1": {"lr": 1e-4}}).s1.until == "learned"
    for given in ({"epochs": 4}, {"max_steps": 50}):
        assert FilterConfig.from_dict({"s1": given}).s1.until == "steps"
    assert FilterConfig.from_dict({"s1": {"epochs": 4, "until": "learned"}}).s1.until == "learned"
    with pytest.raises(ConfigError, match="max_steps = 5 does not apply: set until to steps"):
        FilterConfig.from_dict({"s1": {"until": "learned", "max_steps": 5}})
    with pytest.raises(ConfigError, match="max_steps = 5 does not apply"):
        SessionSettings(until="learned", max_steps=5)


def test_s1_epochs_flag_and_overrides_switch_s1_to_steps(files, tmp_path, seen):
    config = tmp_path / "cfg.yaml"
    config.write_text("s1: {until: learned, max_epochs: 6}\n")
    noisy, safe = files
    argv = ["filter", "--data", str(noisy), "--safe", str(safe), "--out", str(tmp_path / "r")]
    runner.invoke(app, argv)
    assert seen["config"].s1.until == "learned"
    runner.invoke(app, [*argv, "--s1-epochs", "3"])
    assert (seen["config"].s1.until, seen["config"].s1.epochs) == ("steps", 3)
    runner.invoke(app, [*argv, "s1.max_steps=20"])
    assert (seen["config"].s1.until, seen["config"].s1.max_steps) == ("steps", 20)
    runner.invoke(app, [*argv, "--config", str(config), "--s1-epochs", "3"])  # the flag wins over the file
    assert (seen["config"].s1.until, seen["config"].s1.epochs) == ("steps", 3)
    result = runner.invoke(app, [*argv, "--config", str(config), "s1.max_steps=20"])
    assert result.exit_code == 2 and "max_steps = 20 does not apply" in " ".join(result.output.split())


def test_settings_refuse_wrong_types_in_python_too():
    with pytest.raises(ConfigError, match="batch_size must be a whole number >= 1, got 2.5"):
        SessionSettings(batch_size=2.5)
    with pytest.raises(ConfigError, match="target_modules must be a non-empty list"):
        LoraSettings(target_modules=())
    import torch

    from forgetfilter.models import pick_device

    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="device 'cuda' asked for, but torch sees no CUDA GPU"):
            pick_device("cuda")
    with pytest.raises(ConfigError, match="unknown device 'gpu0'"):
        pick_device("gpu0")


def test_one_loader_for_files_overrides_flags_and_python(files, tmp_path):
    config = tmp_path / "cfg.yaml"
    config.write_text("s1_plus: {lr: 1e-4}\nfraction: 0.2\n")  # YAML 1.1 reads 1e-4 as a string: taken as a float
    result = runner.invoke(
        app, ["filter", "--config", str(config), "--print-config", "lora.r=16", "s1.epochs=5", "--count", "3"]
    )
    assert result.exit_code == 0, result.output
    import yaml

    printed = yaml.safe_load(result.stdout)
    assert printed["s1_plus"]["lr"] == 1e-4 and printed["s1_plus"]["epochs"] == 4.0  # the section's own defaults
    assert printed["lora"]["r"] == 16 and printed["s1"]["epochs"] == 5.0
    assert (printed["count"], printed["fraction"]) == (3, None)  # a threshold flag replaces the file's
    assert FilterConfig.from_dict(printed) == FilterConfig(
        lora={"r": 16}, s1={"epochs": 5.0}, s1_plus={"lr": 1e-4}, count=3
    )


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("s1.epochz=3", "unknown key 's1.epochz'; did you mean 's1.epochs'?"),
        ("s1.epochs", "expected key=value"),
        ("signals=nll", "signals: expected a list, found str 'nll'"),
        ("s1.grad_accum=0", "s1.grad_accum must be >= 1, got 0"),
    ],
)
def test_bad_overrides_are_one_line_errors(override, message):
    result = runner.invoke(app, ["filter", "--print-config", override])
    assert result.exit_code == 2 and message in " ".join(result.output.split())
