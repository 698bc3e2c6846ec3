"""A run folder resumes only its own run; damaged saved state is redone with a warning; inputs are never overwritten."""

import json

import pytest

from forgetfilter.api import find_unsafe_examples
from forgetfilter.config import FilterConfig
from forgetfilter.errors import ConfigError
from forgetfilter.training import SessionSettings

FAST = SessionSettings(epochs=1, batch_size=4, grad_accum=1, lr=1e-2, checkpoint_every=1)


@pytest.fixture
def files(tmp_path):
    noisy = tmp_path / "noisy.jsonl"
    rows = [{"prompt": f"q{i}", "completion": f"a{i}", "role": "unsafe" if i % 3 == 0 else "task"} for i in range(9)]
    noisy.write_text("".join(json.dumps(r) + "\n" for r in rows))
    safe = tmp_path / "safe.jsonl"
    safe.write_text("".join(json.dumps({"prompt": f"s{i}", "completion": "fine"}) + "\n" for i in range(4)))
    return noisy, safe


@pytest.fixture
def config(tiny_model_dir):
    return FilterConfig(model=str(tiny_model_dir), s1=FAST, s1_plus=FAST, dtype="float32", fraction=0.3)


def test_a_folder_made_with_other_data_or_settings_is_refused(files, config, tmp_path):
    noisy, safe = files
    find_unsafe_examples(noisy, safe, config=config, out_dir=tmp_path / "run")
    before = (tmp_path / "run" / "config.json").read_text()
    other = tmp_path / "other.jsonl"
    other.write_text(noisy.read_text().replace('"a1"', '"changed"'))
    with pytest.raises(ConfigError, match=r"holds a run of other data or settings \(d_noisy: "):
        find_unsafe_examples(other, safe, config=config, out_dir=tmp_path / "run")
    with pytest.raises(ConfigError, match=r"s1.max_steps: null -> 9; .*use another --out"):
        find_unsafe_examples(
            noisy,
            safe,
            config=FilterConfig(**{**vars(config), "s1": SessionSettings(max_steps=9)}),
            out_dir=tmp_path / "run",
        )
    assert (tmp_path / "run" / "config.json").read_text() == before  # the refused run changed nothing
    # another threshold is a re-cut of the same run, not another run
    assert find_unsafe_examples(noisy, safe, config=config, out_dir=tmp_path / "run", count=2).mask.sum() == 2


def test_outputs_never_overwrite_the_inputs(files, config, tmp_path):
    noisy, safe = files
    run = tmp_path / "run"
    find_unsafe_examples(noisy, safe, config=config, out_dir=run)
    kept = (run / "kept.jsonl").read_text()
    with pytest.raises(ConfigError, match="kept.jsonl is an input of this run and would be overwritten"):
        find_unsafe_examples(run / "kept.jsonl", safe, config=config, out_dir=run)
    assert (run / "kept.jsonl").read_text() == kept
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="is a file, not a folder"):
        find_unsafe_examples(noisy, safe, config=config, out_dir=tmp_path / "file")


@pytest.mark.parametrize(
    "damage",
    [
        "scores_m1.json",
        "scores_m2.json",
        "stages.json",
        "s1/adapter/adapter_model.safetensors",
        "s1_plus/adapter/adapter_model.safetensors",
        "s1_plus/checkpoint/state.json",
        "s1_plus/checkpoint/optimizer.pt",
        "s1_plus/checkpoint/trainable.safetensors",
    ],
)
def test_damaged_saved_state_is_redone_to_the_same_result(files, config, tmp_path, damage):
    noisy, safe = files
    reference = tmp_path / "reference"
    find_unsafe_examples(noisy, safe, config=config, out_dir=reference)
    run = tmp_path / "run"
    find_unsafe_examples(noisy, safe, config=config, out_dir=run)
    target = run / damage
    target.write_bytes(target.read_bytes()[: len(target.read_bytes()) // 2])  # truncated, as by a kill or full disk
    if damage.startswith("s1_plus/checkpoint"):
        import shutil

        shutil.rmtree(run / "s1_plus" / "adapter")  # the session is unfinished: its checkpoint is what resumes
        (run / "scores_m2.json").unlink()
    with pytest.warns(UserWarning, match="damaged"):
        find_unsafe_examples(noisy, safe, config=config, out_dir=run)
    for name in ("scores.jsonl", "kept.jsonl", "removed.jsonl"):
        assert (run / name).read_bytes() == (reference / name).read_bytes(), name


def test_a_folder_from_before_a_new_setting_resumes_when_that_setting_keeps_its_default(files, config, tmp_path):
    noisy, safe = files
    run = tmp_path / "run"
    first = find_unsafe_examples(noisy, safe, config=config, out_dir=run)
    print_ = json.loads((run / "fingerprint.json").read_text())
    for section in ("s1", "s1_plus"):  # as written by a version without these settings
        for key in ("until", "tolerance", "max_epochs"):
            del print_[section][key]
    (run / "fingerprint.json").write_text(json.dumps(print_))
    again = find_unsafe_examples(noisy, safe, config=config, out_dir=run)
    assert (again.mask == first.mask).all()
    changed = FilterConfig(**{**vars(config), "s1": SessionSettings(**{**vars(FAST), "until": "learned"})})
    with pytest.raises(ConfigError, match='s1.until: "steps" -> "learned"'):  # the setting that differs, by name
        find_unsafe_examples(noisy, safe, config=changed, out_dir=run)
