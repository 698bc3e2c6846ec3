"""The filter run end to end on the tiny model: files written, accounting, resume, errors."""

import json
import sys
from dataclasses import replace

import pytest
from typer.testing import CliRunner

from forgetfilter.api import find_unsafe_examples
from forgetfilter.cli import app
from forgetfilter.config import FilterConfig
from forgetfilter.errors import ConfigError, DataError
from forgetfilter.examples import Example, user_prompt
from forgetfilter.training import SessionSettings

runner = CliRunner()
FAST = SessionSettings(epochs=1, batch_size=4, grad_accum=1, lr=1e-2)


def _write_alpaca(path, n, role_of):
    rows = [
        {"instruction": f"Question {i}?", "input": "", "output": f"Answer {i} ok", "role": role_of(i)} for i in range(n)
    ]
    path.write_text(json.dumps(rows))
    return rows


@pytest.fixture
def files(tmp_path):
    noisy = tmp_path / "noisy.json"
    rows = _write_alpaca(noisy, 10, lambda i: "unsafe" if i % 3 == 0 else "task")
    safe = tmp_path / "safe.jsonl"
    safe.write_text("".join(json.dumps({"prompt": f"S{i}", "completion": f"safe {i}"}) + "\n" for i in range(4)))
    return noisy, safe, rows


def _config_file(tmp_path, model_dir, **extra):
    cfg = {"model": str(model_dir), "signals": ["nll", "token_accuracy"], "s1": vars(FAST), "s1_plus": vars(FAST)}
    cfg.update(extra)
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(cfg))
    return path


def test_cli_filter_writes_every_output_and_accounts_for_every_example(files, tiny_model_dir, tmp_path):
    noisy, safe, rows = files
    out = tmp_path / "run"
    cfg = _config_file(tmp_path, tiny_model_dir)
    result = runner.invoke(
        app,
        ["filter", "--data", str(noisy), "--safe", str(safe), "--out", str(out), "--config", str(cfg), "--count", "3"],
    )
    assert result.exit_code == 0, result.output
    for name in (
        "config.json",
        "scores.jsonl",
        "kept.json",
        "removed.json",
        "summary.json",
        "summary.md",
        "forgetting_hist.png",
        "stages.json",
    ):
        assert (out / name).is_file(), name
    kept, removed = json.loads((out / "kept.json").read_text()), json.loads((out / "removed.json").read_text())
    assert len(removed) == 3 and len(kept) == 7
    assert sorted(r["instruction"] for r in kept + removed) == sorted(r["instruction"] for r in rows)
    assert all(set(r) == {"instruction", "input", "output", "role"} for r in kept + removed)  # user's schema
    scores = [json.loads(line) for line in (out / "scores.jsonl").read_text().splitlines()]
    assert len(scores) == 10 and sum(s["removed"] for s in scores) == 3
    assert sorted(s["rank"] for s in scores) == list(range(1, 11))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_kept"] + summary["n_removed"] == 10
    assert set(summary["quality"]) == {"log_nll", "nll", "token_accuracy"}
    assert summary["signal"] == "log_nll"
    stages = json.loads((out / "stages.json").read_text())
    assert set(stages) == {"precision", "score_m0", "s1", "score_m1", "s1_plus", "score_m2"}
    peaks = [stages[s]["peak_rss_mib"] for s in ("score_m0", "s1", "score_m1", "s1_plus", "score_m2")]
    assert set(summary["learned_by_role"]["nll_m0"]) == {"task", "unsafe"}
    assert set(summary["baselines"]) == {"m0_nll", "m1_nll"}
    assert peaks[0] > 50 and peaks == sorted(peaks)  # a high-water mark: it never goes down
    heading = (out / "summary.md").read_text().splitlines()[0]
    assert heading in result.stdout and heading not in result.stderr  # `> report.md` captures the report


def test_rerun_resumes_without_training_again(files, tiny_model_dir, tmp_path, monkeypatch):
    noisy, safe, _ = files
    config = FilterConfig(model=str(tiny_model_dir), s1=FAST, s1_plus=FAST)
    first = find_unsafe_examples(noisy, safe, config=config, out_dir=tmp_path / "run", fraction=0.2)

    def no_training(*args, **kwargs):
        raise AssertionError("a finished stage was run again")

    monkeypatch.setattr("forgetfilter.training.train_session", no_training)
    monkeypatch.setattr("forgetfilter.signals.compute_signals", no_training)
    second = find_unsafe_examples(noisy, safe, config=config, out_dir=tmp_path / "run", phi=0.0)
    assert second.scores.tolist() == first.scores.tolist()
    assert second.threshold.method == "fixed"


def test_rerun_with_other_scoring_settings_rescores_without_training(files, tiny_model_dir, tmp_path, monkeypatch):
    noisy, safe, _ = files
    config = FilterConfig(model=str(tiny_model_dir), s1=FAST, s1_plus=FAST, token_selection="all")
    find_unsafe_examples(noisy, safe, config=config, out_dir=tmp_path / "run")
    stale_m2 = json.loads((tmp_path / "run" / "scores_m2.json").read_text())

    def no_training(*args, **kwargs):
        raise AssertionError("a finished session was trained again")

    monkeypatch.setattr("forgetfilter.training.train_session", no_training)
    changed = replace(config, token_selection="answer")
    result = find_unsafe_examples(noisy, safe, config=changed, out_dir=tmp_path / "run")
    fresh_m2 = json.loads((tmp_path / "run" / "scores_m2.json").read_text())
    assert stale_m2["settings"]["token_selection"] == "all" and fresh_m2["settings"]["token_selection"] == "answer"
    assert fresh_m2["signals"]["nll"] != stale_m2["signals"]["nll"]  # the answer span drops the end-of-turn token
    assert result.after["nll"] == fresh_m2["signals"]["nll"]


def test_api_accepts_examples_and_ranks_them(tiny_model_dir):
    noisy = [Example(f"n{i}", user_prompt(f"q{i}"), f"r{i}", "t", role="unsafe" if i < 3 else "task") for i in range(8)]
    safe = [Example(f"s{i}", user_prompt(f"s{i}"), "fine", "t", role="safe") for i in range(4)]
    result = find_unsafe_examples(noisy, safe, model=str(tiny_model_dir), s1=FAST, s1_plus=FAST, count=2)
    assert result.mask.sum() == 2 and len(result.scores) == 8
    ranked = result.ranked()
    assert {ex.id for ex in ranked[:2]} == {ex.id for ex, m in zip(noisy, result.mask, strict=True) if m}
    assert "removed 2 of 8" in result.report()


def test_duplicate_ids_and_empty_safe_are_clear_errors(tiny_model_dir):
    ex = Example("same", user_prompt("q"), "r", "t")
    with pytest.raises(DataError, match="duplicate id 'same'"):
        find_unsafe_examples([ex, ex], [ex], model=str(tiny_model_dir))
    with pytest.raises(ConfigError, match="D_safe is empty"):
        find_unsafe_examples([ex], [], model=str(tiny_model_dir))


def test_cli_errors_are_one_line_without_traceback(files, tmp_path):
    noisy, safe, _ = files
    result = runner.invoke(
        app, ["filter", "--data", str(tmp_path / "nope.jsonl"), "--safe", str(safe), "--out", str(tmp_path / "r")]
    )
    assert result.exit_code == 2
    assert "nope.jsonl" in result.output and "Traceback" not in result.output
    result = runner.invoke(
        app, ["filter", "--data", str(noisy), "--safe", str(safe), "--out", str(tmp_path / "r"), "--signal", "bleu"]
    )
    assert result.exit_code == 2 and "unknown signal 'bleu'" in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("signal: nll\nthreshold: 3\n")
    result = runner.invoke(
        app, ["filter", "--data", str(noisy), "--safe", str(safe), "--out", str(tmp_path / "r"), "--config", str(bad)]
    )
    assert result.exit_code == 2 and "unknown key 'threshold'; did you mean 'threshold_method'?" in result.output


def test_curves_are_recorded_per_role_and_plotted(files, tiny_model_dir, tmp_path):
    noisy, safe, _ = files
    out = tmp_path / "run"
    config = FilterConfig(model=str(tiny_model_dir), s1=FAST, s1_plus=FAST, curve_every=1, curve_per_role=2)
    find_unsafe_examples(noisy, safe, config=config, out_dir=out)
    rows = [json.loads(line) for line in (out / "curves.jsonl").read_text().splitlines()]
    assert {(r["session"], r["step"]) for r in rows} == {
        ("s1", 0),
        ("s1", 1),
        ("s1", 2),
        ("s1", 3),
        ("s1_plus", 0),
        ("s1_plus", 1),
    }
    assert {r["role"] for r in rows} == {"unsafe", "task"}
    assert len({r["id"] for r in rows}) == 4  # 2 per role, the same sample at every step
    assert (out / "curves.png").stat().st_size > 0


def test_same_seed_gives_byte_identical_runs_even_after_other_random_draws(files, tiny_model_dir, tmp_path):
    import torch

    noisy, safe, _ = files
    config = FilterConfig(model=str(tiny_model_dir), s1=FAST, s1_plus=FAST, dtype="float32")
    for name in ("a", "b"):
        torch.rand(17)  # whatever drew random numbers before must not change the run
        find_unsafe_examples(noisy, safe, config=config, out_dir=tmp_path / name, fraction=0.3)
    for output in ("scores.jsonl", "kept.json", "removed.json", "scores_m1.json", "scores_m2.json"):
        assert (tmp_path / "a" / output).read_bytes() == (tmp_path / "b" / output).read_bytes(), output


def test_a_reloaded_adapter_scores_in_eval_mode(files, tiny_model_dir, tmp_path):
    from forgetfilter.pipeline import _load_adapter

    noisy, safe, _ = files
    config = FilterConfig(model=str(tiny_model_dir), s1=FAST, s1_plus=FAST, dtype="float32")
    find_unsafe_examples(noisy, safe, config=config, out_dir=tmp_path / "run")
    model, _ = _load_adapter(config, tmp_path / "run" / "s1" / "adapter", "float32")
    assert not model.training and not any(m.training for m in model.modules())  # no LoRA dropout while scoring
    assert any(p.requires_grad for p in model.parameters())  # still trainable: S1+ continues this adapter


def test_parquet_input_comes_back_as_kept_plus_removed_with_its_column_types(files, tiny_model_dir, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    _, safe, rows = files
    table = pa.Table.from_pylist([{**row, "weight": 1e-12 * i, "n": i} for i, row in enumerate(rows)])
    noisy = tmp_path / "noisy.parquet"
    pq.write_table(table, noisy)
    config = FilterConfig(model=str(tiny_model_dir), s1=FAST, s1_plus=FAST)
    find_unsafe_examples(noisy, safe, config=config, out_dir=tmp_path / "run", fraction=0.3)
    kept, removed = (pq.read_table(tmp_path / "run" / f"{name}.parquet") for name in ("kept", "removed"))
    assert kept.schema.equals(table.schema) and removed.schema.equals(table.schema)
    assert kept.num_rows + removed.num_rows == table.num_rows and removed.num_rows == 3
    together = sorted(kept.to_pylist() + removed.to_pylist(), key=lambda r: r["n"])
    assert together == table.to_pylist()


def test_retrain_finetunes_m0_on_the_kept_data_and_merges_a_loadable_model(
    files, tiny_model_dir, tmp_path, monkeypatch
):
    from transformers import AutoModelForCausalLM

    noisy, safe, _ = files
    out = tmp_path / "run"
    cfg = _config_file(tmp_path, tiny_model_dir)
    args = ["filter", "--data", str(noisy), "--safe", str(safe), "--out", str(out), "--config", str(cfg)]
    result = runner.invoke(app, [*args, "--count", "3", "--retrain", "--merge"])
    assert result.exit_code == 0, result.output
    retrain = json.loads((out / "stages.json").read_text())["retrain"]
    assert retrain["steps"] == 2  # 7 kept examples at batch 4, one epoch: not the 10 of D_noisy
    assert json.loads((out / "retrain" / "kept.json").read_text())["n"] == 7
    merged = AutoModelForCausalLM.from_pretrained(out / "retrain" / "merged")
    assert not hasattr(merged, "peft_config") and (out / "retrain" / "merged" / "tokenizer.json").is_file()

    def no_training(*args, **kwargs):
        raise AssertionError("a finished stage was trained again")

    with monkeypatch.context() as patch:
        patch.setattr("forgetfilter.training.train_session", no_training)
        again = runner.invoke(app, [*args, "--count", "3", "--retrain"])  # same kept set: nothing trained again
    assert again.exit_code == 0, again.output
    other = runner.invoke(app, [*args, "--count", "5", "--retrain"])  # another kept set: trained again on it
    assert other.exit_code == 0 and json.loads((out / "retrain" / "kept.json").read_text())["n"] == 5
    assert not (out / "retrain" / "merged").exists()


def test_merge_without_retrain_is_a_clear_error(files, tmp_path):
    noisy, safe, _ = files
    result = runner.invoke(
        app, ["filter", "--data", str(noisy), "--safe", str(safe), "--out", str(tmp_path / "r"), "--merge"]
    )
    assert result.exit_code == 2 and "give --retrain too" in result.output


def test_canaries_train_in_s1_not_in_s1_plus_and_set_the_cut(tiny_model_dir, tmp_path, monkeypatch):
    import forgetfilter.pipeline as pipeline

    noisy = [Example(f"n{i}", user_prompt(f"q{i}"), f"r{i}", "t", role="unsafe" if i < 3 else "task") for i in range(8)]
    safe = [Example(f"s{i}", user_prompt(f"s{i}"), "fine", "t", role="safe") for i in range(6)]
    trained: dict[str, list[str]] = {}
    real = pipeline.train_or_resume

    def spy(config, examples, settings, stage_dir, log, name, **kw):
        trained[name] = [ex.id for ex in examples]
        return real(config, examples, settings, stage_dir, log, name, **kw)

    monkeypatch.setattr(pipeline, "train_or_resume", spy)
    result = find_unsafe_examples(
        noisy,
        safe,
        model=str(tiny_model_dir),
        s1=FAST,
        s1_plus=FAST,
        canaries=2,
        threshold_method="canary",
        canary_fpr=0.5,
        out_dir=tmp_path / "run",
    )
    canary_ids = [i for i in trained["s1"] if i.startswith("canary:")]
    assert len(canary_ids) == 2 and trained["s1"][:8] == [ex.id for ex in noisy]
    assert not {i.removeprefix("canary:") for i in canary_ids} & set(trained["s1_plus"])
    assert len(trained["s1_plus"]) == 4 and len(result.scores) == 8  # canaries are never part of the output
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["threshold"]["method"] == "canary" and summary["canaries"]["n"] == 2
    assert summary["canaries"]["share_above_cut"] <= 0.5
    assert summary["n_kept"] + summary["n_removed"] == 8
    from forgetfilter.saved_run import read_run  # read back without a model (review): canaries and M0 included

    saved = read_run(tmp_path / "run").result
    assert saved.summary()["canaries"] == pytest.approx(result.summary()["canaries"])
    for signal, quality in result.summary()["quality"].items():
        assert saved.summary()["quality"][signal] == pytest.approx(quality), signal
    for group in ("unsafe", "rest"):
        assert saved.premise()[group] == pytest.approx(result.premise()[group]) and saved.premise()[group]["nll_m0"] > 0
    with pytest.raises(ConfigError, match="canaries must leave examples of D_safe for S1\\+: D_safe has 6"):
        find_unsafe_examples(noisy, safe, model=str(tiny_model_dir), canaries=6)
    with pytest.raises(ConfigError, match="threshold_method canary needs canaries"):
        find_unsafe_examples(noisy, safe, model=str(tiny_model_dir), threshold_method="canary")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="malloc_trim is glibc's")
def test_release_freed_memory_gives_freed_heap_pages_back():
    import psutil

    from forgetfilter.pipeline import release_freed_memory

    process = psutil.Process()
    blocks = [bytearray(1000) for _ in range(300_000)]  # ~300 MiB in malloc'd chunks below the mmap threshold
    pin = bytearray(1000)  # allocated last: the heap's top cannot shrink by itself when the blocks are freed
    del blocks
    held = process.memory_info().rss
    release_freed_memory()
    released = process.memory_info().rss
    assert held - released > 200 * 2**20, (held, released)
    del pin


def test_a_resumed_run_trains_with_the_kernels_it_chose_first_even_on_a_cold_cache(
    files, tiny_model_dir, tmp_path, monkeypatch
):
    import shutil

    from forgetfilter import precision

    noisy, safe, _ = files
    eager_wins = {"now": True}  # the probe's answer, flipped between the two runs as a close call can flip
    monkeypatch.setattr(
        precision,
        "measure_attention",
        lambda shape, dtype: {"sdpa_s": 0.03, "eager_s": 0.01 if eager_wins["now"] else 0.05},
    )
    monkeypatch.setenv("FORGETFILTER_CACHE_DIR", str(tmp_path / "cache1"))
    config = FilterConfig(model=str(tiny_model_dir), s1=FAST, s1_plus=FAST, dtype="float32")
    run = tmp_path / "run"
    find_unsafe_examples(noisy, safe, config=config, out_dir=run, fraction=0.3)
    first = json.loads((run / "stages.json").read_text())
    assert first["s1_plus"]["attention"] == "eager" and first["s1_plus"]["attention_setting"].startswith("eager<=")
    scores_m2 = (run / "scores_m2.json").read_bytes()
    shutil.rmtree(run / "s1_plus")  # killed before S1+ ...
    (run / "scores_m2.json").unlink()
    eager_wins["now"] = False  # ... and resumed where the probe now says sdpa, with a cold machine cache
    monkeypatch.setenv("FORGETFILTER_CACHE_DIR", str(tmp_path / "cache2"))
    find_unsafe_examples(noisy, safe, config=config, out_dir=run, fraction=0.3)
    again = json.loads((run / "stages.json").read_text())
    assert again["s1_plus"]["attention"] == "eager"  # the run folder's probes.json decided, as the first time
    assert (run / "scores_m2.json").read_bytes() == scores_m2
    pinned = replace(config, s1_plus=replace(FAST, attention=again["s1_plus"]["attention_setting"]))
    find_unsafe_examples(noisy, safe, config=pinned, out_dir=tmp_path / "pinned", fraction=0.3)  # a new folder
    assert json.loads((tmp_path / "pinned" / "stages.json").read_text())["s1"]["attention"] == "sdpa"  # measured
    assert json.loads((tmp_path / "pinned" / "stages.json").read_text())["s1_plus"]["attention"] == "eager"
