"""Model resolution: the dequantised GGUF cache must look like a plain float checkpoint."""

from __future__ import annotations

import json

import pytest

from forgetfilter.models import _drop_gguf_quantization_config


def test_gguf_quantization_config_is_dropped(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model_type": "llama", "quantization_config": {"quant_method": "gguf"}}))
    _drop_gguf_quantization_config(path)
    assert json.loads(path.read_text()) == {"model_type": "llama"}


def test_other_quantization_configs_are_kept(tmp_path):
    path = tmp_path / "config.json"
    config = {"model_type": "llama", "quantization_config": {"quant_method": "bitsandbytes"}}
    path.write_text(json.dumps(config))
    _drop_gguf_quantization_config(path)
    assert json.loads(path.read_text()) == config


def test_a_missing_model_folder_fails_before_any_run_folder_is_made(tmp_path):
    from forgetfilter.api import find_unsafe_examples
    from forgetfilter.errors import ConfigError
    from forgetfilter.examples import Example, user_prompt

    ex = Example(id="a", messages=user_prompt("q"), response="r", source="user")
    with pytest.raises(ConfigError, match="model folder /nonexistent/model does not exist"):
        find_unsafe_examples([ex], [ex], model="/nonexistent/model", out_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("config", "cannot load the tokenizer of model .*config.json' is not a valid JSON file"),
        ("weights", "cannot load the weights of model .*Error while deserializing header"),
    ],
)
def test_a_damaged_model_folder_is_one_clear_error(tiny_model_dir, tmp_path, damage, message):
    import shutil

    from forgetfilter.errors import ConfigError
    from forgetfilter.models import load_model

    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    if damage == "config":
        (folder / "config.json").write_text('{"trunc')
    else:
        weights = folder / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(ConfigError, match=message):
        load_model(folder, dtype="float32")
