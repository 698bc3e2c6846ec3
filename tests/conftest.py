"""Shared fixtures: a tiny randomly initialised Llama with the real SmolLM2 tokenizer; the system's Chromium."""

from __future__ import annotations

import os
import shutil
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


BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    """The Chromium to drive: $FORGETFILTER_CHROMIUM, else the first of BROWSERS on PATH; the test skips, saying
    so, where there is none (Debian: apt-get install chromium; Playwright downloads no browser here)."""
    given = os.environ.get("FORGETFILTER_CHROMIUM")
    found = (
        (given if Path(given).is_file() else None) if given else next(filter(None, map(shutil.which, BROWSERS)), None)
    )
    if found is None:
        where = f"$FORGETFILTER_CHROMIUM={given} is no file" if given else f"none of {', '.join(BROWSERS)} on PATH"
        pytest.skip(f"no chromium executable ({where}; apt-get install chromium)")
    return found


@pytest.fixture(scope="session")
def browser(chromium_executable: str):
    """A headless Chromium driven by Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_executable, args=["--no-sandbox"])
        yield launched
        launched.close()
