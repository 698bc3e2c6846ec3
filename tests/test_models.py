"""Model resolution: the dequantised GGUF cache must look like a plain float checkpoint."""

from __future__ import annotations

import json

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
