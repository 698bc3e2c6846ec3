"""Shared fixtures: a tiny randomly initialised Llama with the real SmolLM2 tokenizer."""

from __future__ import annotations

from pathlib import Path

import pytest

from forgetfilter.paths import default_data_dir


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--slow", action="store_true", help="also run the tests marked slow (extra process launches)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``slow`` (each launches several more processes) run only with ``--slow``."""
    if config.getoption("--slow"):
        return
    skip = pytest.mark.skip(reason="launches several more processes; run with pytest --slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The shared datasets folder; tests needing it skip with a reason when it is absent."""
    path = default_data_dir()
    if not path.is_dir():
        pytest.skip(f"shared datasets folder {path} is absent (set FORGETFILTER_DATA_DIR)")
    return path


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding a 2-layer, 32-wide random Llama and the SmolLM2 tokenizer (chat template included)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from forgetfilter.models import load_tokenizer

    tokenizer = load_tokenizer(None)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config)
    out = tmp_path_factory.mktemp("tiny-llama")
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir: Path):
    """``(model, tokenizer)`` of the tiny random Llama, loaded through forgetfilter's own loader."""
    from forgetfilter.models import load_model

    return load_model(tiny_model_dir, dtype="float32", device="cpu")
