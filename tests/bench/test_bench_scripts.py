"""The bench scripts end to end on the tiny random model: real numbers in sane ranges, results.md sections."""

from __future__ import annotations

import importlib
import json
import math
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

from forgetfilter.errors import DataError

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _script(name: str) -> ModuleType:
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))  # the scripts import their helper as `machine`
    return importlib.import_module(name)


@pytest.fixture(scope="module")
def noisy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A labelled alpaca file (a third unsafe) and a small safe set."""
    folder = tmp_path_factory.mktemp("bench-data")
    rows = [
        {"instruction": f"Question {i}?", "input": "", "output": f"Answer {i} is fine", "role": r}
        for i, r in enumerate(["unsafe", "task", "safe"] * 6)
    ]
    (folder / "noisy.json").write_text(json.dumps(rows))
    safe = "".join(json.dumps({"prompt": f"S{i}", "completion": f"safe {i}"}) + "\n" for i in range(6))
    (folder / "safe.jsonl").write_text(safe)
    return folder / "noisy.json", folder / "safe.jsonl"


def _section(md: Path, script: str) -> str:
    text = md.read_text()
    assert text.startswith("# forgetfilter benchmarks")
    assert f"bench/{script}" in text and "Machine: cpu: " in text
    return text


def test_machine_helpers(tiny_model, tmp_path):
    import torch

    machine = _script("machine")
    assert machine.peak_flops(torch.float32, "cpu", size=128, repeats=2) > 1e6
    model, _ = tiny_model
    n = sum(p.numel() for p in model.parameters())
    assert machine.model_flops_per_token(model) == 6 * n
    assert machine.model_flops_per_token(model, training=False) == 2 * n
    items = list(range(100))
    keys = ["unsafe"] * 50 + ["safe"] * 20 + ["task"] * 30
    sample = machine.stratified_sample(items, keys, 10, seed=1)
    assert len(sample) == 10 and sample == sorted(sample)
    assert [keys[i] for i in sample].count("unsafe") == 5
    assert machine.stratified_sample(items, keys, 10, seed=1) == sample
    info = machine.describe_machine(torch.float32, "cpu")
    assert {"cpu", "cores", "memory", "torch", "transformers", "dtype"} <= set(info)
    md = tmp_path / "results.md"
    machine.append_section(md, "One", "python bench/x.py --a 1", info, "| a |\n|---|\n| 1 |")
    machine.append_section(md, "Two", "python bench/x.py --a 2", info, "body")
    text = md.read_text()
    assert text.count("# forgetfilter benchmarks") == 1 and "--a 1" in text and text.index("One") < text.index("Two")


def test_signal_cost_compares_authors_and_batched_on_the_same_models(tiny_model_dir, noisy, tmp_path):
    from forgetfilter.api import find_unsafe_examples
    from forgetfilter.config import FilterConfig
    from forgetfilter.training import SessionSettings

    fast = SessionSettings(epochs=1, batch_size=6, grad_accum=1, lr=1e-2)
    config = FilterConfig(model=str(tiny_model_dir), s1=fast, s1_plus=fast, max_new_tokens=6)
    find_unsafe_examples(noisy[0], noisy[1], config=config, out_dir=tmp_path / "run")
    md = tmp_path / "results.md"
    argv = [str(tmp_path / "run"), "--data", str(noisy[0]), "--limit", "9", "--authors-max-new-tokens", "8"]
    rows = _script("signal_cost").main([*argv, "--out-md", str(md)])
    assert [r["method"] for r in rows] == ["authors_rouge", "rouge", "log_nll", "nll", "token_accuracy"]
    for row in rows:
        assert 0.0 <= row["auroc"] <= 1.0, row
        assert row["examples_per_s"] > 0 and math.isfinite(row["speedup"]) and row["speedup"] > 0
    assert rows[0]["speedup"] == 1.0
    text = _section(md, "signal_cost.py")
    assert "--limit 9 --authors-max-new-tokens 8" in text and "authors max_new_tokens=8" in text
    assert "9 examples (3 unsafe)" in text


def test_train_throughput_measures_both_sides(tiny_model_dir, noisy, tmp_path):
    md = tmp_path / "results.md"
    argv = ["--data", str(noisy[0]), "--model", str(tiny_model_dir), "--limit", "12", "--steps", "3"]
    argv += ["--batch-size", "4", "--grad-accum", "1", "--peak-size", "128", "--out-md", str(md), "--dtype", "float32"]
    results = _script("train_throughput").main(argv)
    assert [m.side for m in results] == ["forgetfilter", "plain Trainer"]
    for m in results:
        assert m.steps == 2 and m.tokens > 0 and m.tokens_per_s > 0
        assert m.padded_tokens >= m.tokens and m.flops_executed > 0
    # the Trainer applies the output layer at every position, forgetfilter only at response positions
    ours, trainer = results
    assert ours.flops_executed / ours.padded_tokens < trainer.flops_executed / trainer.padded_tokens
    text = _section(md, "train_throughput.py")
    assert "--steps 3" in text and "MFU (executed)" in text and "compute dtype=float32" in text


def test_executed_flops_count_linear_attention_and_head():
    machine = _script("machine")
    shape = {"n_body": 100, "trainable": 10, "layers": 2, "hidden": 4, "vocab": 50}
    assert machine.executed_training_flops(shape, 2, 3, head_rows=0) == 2 * 3 * (400 + 60) + 2 * 3 * 2 * 2 * 9 * 4
    assert machine.executed_training_flops(shape, 0, 0, head_rows=5) == 5 * 4 * 50 * 4


def test_readme_job_compares_dtypes_in_child_processes(tiny_model_dir, noisy, tmp_path):
    md = tmp_path / "results.md"
    data = tmp_path / "data"  # the layout `forgetfilter data build` writes
    data.mkdir()
    rows = json.loads(noisy[0].read_text())
    (data / "d_noisy.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (data / "d_safe.jsonl").write_text(noisy[1].read_text())
    argv = ["--data", str(data), "--dtypes", "float32,bfloat16", "--out", str(tmp_path / "runs"), "--out-md", str(md)]
    argv += ["--model", str(tiny_model_dir), "--s1-epochs", "0.5", "--s1-plus-steps", "1"]
    runs = _script("readme_job").main(argv)
    assert [r["stages"]["precision"]["dtype"] for r in runs] == ["float32", "bfloat16"]
    assert all(r["wall"] > 0 and 100 < r["peak_rss_mib"] < 64 * 1024 for r in runs)
    text = _section(md, "readme_job.py")
    assert "`bfloat16` vs `float32`" in text and "log_nll AUROC" in text


def test_scaling_runs_the_filter_per_size_in_a_subprocess(tiny_model_dir, data_dir, tmp_path):
    md = tmp_path / "results.md"
    argv = ["--model", str(tiny_model_dir), "--sizes", "16", "--s1-epochs", "0.5", "--s1-plus-steps", "1"]
    argv += ["--data-dir", str(data_dir), "--workdir", str(tmp_path / "work"), "--out-md", str(md)]
    (result,) = _script("scaling").main(argv)
    assert result["n"] == 16 and result["n_safe"] == 8
    assert 0 < result["seconds"] <= result["wall"]
    assert 100 < result["peak_rss_mib"] < 64 * 1024
    assert set(result["stages"]) == {"precision", "score_m0", "s1", "score_m1", "s1_plus", "score_m2"}
    assert result["stages"]["precision"]["dtype"] in ("float32", "bfloat16")
    assert result["stages"]["s1_plus"]["steps"] == 1
    text = _section(md, "scaling.py")
    assert "forgetfilter filter --data" in text and "--s1-plus-steps 1" in text and "s1_plus=1 steps" in text


def test_threads_compares_one_thread_with_all_cores(tiny_model_dir, noisy, tmp_path, monkeypatch):
    import torch

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    md = tmp_path / "results.md"
    argv = ["--data", str(noisy[0]), "--model", str(tiny_model_dir), "--limit", "8", "--steps", "1"]
    argv += ["--batch-size", "4", "--repeats", "1", "--dtype", "float32", "--out-md", str(md)]
    try:
        best = _script("threads").main(argv)
    finally:
        torch.set_num_threads(before)
    assert 1 in best and all(s > 0 and t > 0 for s, t in best.values())
    text = _section(md, "threads.py")
    assert "| threads | scoring ex/s |" in text


def test_profile_stages_lists_operators_and_groups_for_both_stages(tiny_model_dir, noisy, tmp_path):
    md = tmp_path / "results.md"
    argv = ["--data", str(noisy[0]), "--model", str(tiny_model_dir), "--limit", "8", "--steps", "1"]
    shares = _script("profile_stages").main([*argv, "--dtype", "float32", "--out-md", str(md)])
    assert set(shares) == {"training", "scoring"}
    for groups in shares.values():
        assert math.isclose(sum(groups.values()), 1.0, rel_tol=1e-6) and groups.get("matmul", 0) > 0
    text = _section(md, "profile_stages.py")
    assert "### training" in text and "### scoring" in text and "| operator | calls |" in text


def test_precision_modes_times_every_mode_on_one_batch(tiny_model_dir, noisy, tmp_path):
    md = tmp_path / "results.md"
    argv = ["--data", str(noisy[0]), "--model", str(tiny_model_dir), "--batch", "2", "--tokens", "16"]
    best = _script("precision_modes").main([*argv, "--repeats", "1", "--out-md", str(md)])
    assert list(best) == ["fp32", "autocast", "bf16 weights", "bf16 weights + autocast"]
    assert all(f > 0 and s > 0 for f, s in best.values())
    assert "| mode | forward s |" in _section(md, "precision_modes.py")


def test_training_variants_times_every_setting(tiny_model_dir, noisy):
    import torch

    before = torch.get_num_threads()
    try:
        rows = _script("training_variants").main(
            ["--data", str(noisy[0]), "--model", str(tiny_model_dir), "--repeats", "1"]
        )
    finally:
        torch.set_num_threads(before)
    assert len(rows) == 13 and rows[0].startswith("| sdpa | bfloat16 | 0.05 | 2 |")
    assert any(r.startswith("| eager | float32 + autocast | 0.0 | 2 |") for r in rows)


def test_signal_study_adds_baselines_and_the_canary_cut(tiny_model_dir, noisy, tmp_path):
    from forgetfilter.api import find_unsafe_examples
    from forgetfilter.config import FilterConfig
    from forgetfilter.training import SessionSettings

    fast = SessionSettings(epochs=1, batch_size=6, grad_accum=1, lr=1e-2)
    config = FilterConfig(model=str(tiny_model_dir), s1=fast, s1_plus=fast, canaries=2)
    find_unsafe_examples(noisy[0], noisy[1], config=config, out_dir=tmp_path / "run")
    text = _script("signal_study").main(
        [str(tmp_path / "run"), "--data", str(noisy[0]), "--classifier", "--similarity", "2"]
    )
    rows = {line.split(" | ")[0].lstrip("| "): line for line in text.splitlines()[2:]}
    assert {"log nll ratio [all]", "M0 nll, no training [all]", "share of S1 gain undone [all]"} <= set(rows)
    assert "toxicity classifier (profanity model)" in rows and "M0 similarity to 2 labelled unsafe" in rows
    assert "F1 (canary)" in text.splitlines()[0]
    assert rows["log nll ratio [all]"].count("|") == text.splitlines()[0].count("|")  # every cell filled

    argv = [f"{tmp_path / 'run'}={noisy[0]}", "--json", str(tmp_path / "rows.json"), "--rise-grid", "-100", "0.25"]
    table = _script("study_table").main(argv)
    [row] = json.loads((tmp_path / "rows.json").read_text())
    assert not [key for key in row if key.startswith("_")]  # the pairing fields stay out of --json
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert row["auroc"] == summary["quality"]["log_nll"]["auroc"] and row["removed"] == summary["n_removed"]
    assert row["n"] == 18 and row["n_unsafe"] == 6 and 0.0 <= row["classifier_auroc"] <= 1.0
    assert row["nll"]["unsafe"][0] == summary["learned_by_role"]["nll_m0"]["unsafe"]  # M0 -> M1 -> M2 per role
    lines = table.splitlines()
    low, high = row["auroc_interval"]
    assert low <= row["auroc"] <= high and 0.0 <= low < high <= 1.0  # 6 against 12 examples: a wide interval
    assert row["model"] == tiny_model_dir.name  # a model folder is named by its folder's name
    assert lines[2].startswith(f"| run | {row['model']} | rise | {row['auroc']:.3f} [{low:.2f}, {high:.2f}] |")
    assert lines[2].count("|") == lines[0].count("|")
    assert row["cuts"]["rise"]["removed"] == summary["n_removed"]  # the run's own cut is the default, rise
    assert row["rise_grid"]["0.25"] == row["cuts"]["rise"]  # the default value, cut again
    assert row["rise_grid"]["-100"]["removed"] == 18 and "| run | 0.500, 18 (3.00x) |" in table  # below every score
    assert f"| run | {row['model']} | 1 | " in table  # the per-kind mean (kind from the folder name, no manifest)
    built = tmp_path / "built"  # a mix as `forgetfilter data build` writes it: kind and seed from its manifest
    built.mkdir()
    shutil.copy(noisy[0], built / "d_noisy.json")
    (built / "manifest.json").write_text(json.dumps({"kind": "bias", "params": {"kind": "bias", "seed": 7}}))
    _script("study_table").main([f"{tmp_path / 'run'}={built / 'd_noisy.json'}", "--json", str(built / "rows.json")])
    [from_manifest] = json.loads((built / "rows.json").read_text())
    assert (from_manifest["kind"], from_manifest["seed"]) == ("bias", 7)

    larger = tmp_path / "run-larger"  # the same scores as if from another model: a group of its own, never pooled
    shutil.copytree(tmp_path / "run", larger)
    config = json.loads((larger / "config.json").read_text())
    (larger / "config.json").write_text(json.dumps({**config, "model": "qwen2.5-0.5b"}))
    plot = tmp_path / "size.png"
    table = _script("study_table").main(
        [f"{tmp_path / 'run'}={noisy[0]}", f"{larger}={noisy[0]}", "--size-plot", str(plot)]
    )
    assert f"| run | {row['model']} | 1 | " in table and "| run | qwen2.5-0.5b | 1 | " in table
    assert plot.read_bytes().startswith(b"\x89PNG")
    assert _script("study_table").model_parameters("qwen2.5-0.5b") == 494e6
    assert [_script("study_table")._size_label(n) for n in (135e6, 494e6, 1.54e9)] == ["135M", "494M", "1.5B"]
    assert _script("study_table").model_parameters(row["model"]) is None  # a folder of unknown size: not plotted
    scored = [json.loads(line) for line in (tmp_path / "run" / "scores.jsonl").read_text().splitlines()]
    unsafe_forgot = [r["forgetting"] for r in scored if r["role"] == "unsafe"]
    other_forgot = [r["forgetting"] for r in scored if r["role"] != "unsafe"]
    assert row["gap"] == pytest.approx(sum(unsafe_forgot) / 6 - sum(other_forgot) / 12)
    assert row["by_safety_kind"] == {} and "Each kind of unsafe" not in table  # one kind: no per-kind table

    pair = f"{tmp_path / 'run'}={noisy[0]}"
    combined = _script("combined_ranking").main(["--choose", pair, "--report", pair])
    reported = combined["reported"]["run"]
    assert reported["forgetting"] == pytest.approx(summary["quality"]["log_nll"]["auroc"])  # w = 0: forgetting
    assert reported["m0_nll"] == pytest.approx(summary["baselines"]["m0_nll"])  # log is monotone: the same AUROC
    best = max(combined["choosing"]["run"])  # chosen and reported on one run: the combination is its best weight
    assert reported["combined"] == pytest.approx(best) and combined["weight"] in _script("combined_ranking").WEIGHTS

    rows = json.loads(noisy[0].read_text())  # the same examples, the unsafe ones labelled with two kinds
    kinds = iter(["bias", "toxicity"] * 3)
    labelled = [{**r, "safety_kind": next(kinds)} if r["role"] == "unsafe" else r for r in rows]
    (tmp_path / "labelled.json").write_text(json.dumps(labelled))
    table = _script("study_table").main(
        [f"{tmp_path / 'run'}={tmp_path / 'labelled.json'}", "--json", str(tmp_path / "k.json")]
    )
    by_kind = json.loads((tmp_path / "k.json").read_text())[0]["by_safety_kind"]
    assert sorted(by_kind) == ["bias", "toxicity"] and by_kind["bias"]["n"] == by_kind["toxicity"]["n"] == 3
    assert by_kind["bias"]["removed"] + by_kind["toxicity"]["removed"] == summary["removed_by_role"].get("unsafe", 0)
    assert all(0.0 <= k["auroc"] <= 1.0 for k in by_kind.values()) and "| run | toxicity | 3 | " in table

    # each role on its own, and another signal than the run's: the ranking and the shape cuts move, the decision stays
    assert sorted(row["auroc_against_role"]) == sorted({r["role"] for r in rows} - {"unsafe"})
    assert "| run | task | " in _script("study_table").main([pair])
    _script("study_table").main([pair, "--signal", "nll", "--json", str(tmp_path / "nll.json")])
    [by_nll] = json.loads((tmp_path / "nll.json").read_text())
    assert by_nll["signal"] == "nll" and by_nll["removed"] == row["removed"] and "rise" not in by_nll["cuts"]
    assert by_nll["auroc"] == pytest.approx(by_nll["nll_auroc"])  # ranked by the absolute NLL rise
    assert by_nll["forgetting"] == summary["mean_forgetting_by_role"]["nll"]


def test_auroc_interval_narrows_with_more_examples_and_brackets_a_known_separation():
    import numpy as np
    from sklearn.metrics import roc_auc_score

    auroc_interval = _script("study_table").auroc_interval
    rng = np.random.default_rng(1)
    perfect = auroc_interval(np.r_[np.ones(5), np.zeros(10)], [True] * 5 + [False] * 10)
    assert perfect == [1.0, 1.0]  # every resample keeps 5 unsafe above 10 others

    def shifted(n: int) -> tuple[float, list[float]]:  # unsafe scores shifted by 1 sd: AUROC about 0.76
        scores, labels = np.r_[rng.normal(1.0, 1.0, n), rng.normal(0.0, 1.0, n)], [True] * n + [False] * n
        return roc_auc_score(labels, scores), auroc_interval(scores, labels, resamples=500)

    (_, small), (point, large) = shifted(30), shifted(1000)
    assert large[0] < point < large[1] and abs(point - 0.76) < 0.04
    # Hanley-McNeil standard error at AUROC 0.76 and 1000 + 1000 examples: 0.0106, so a 95% width near 0.042
    assert 0.03 < large[1] - large[0] < 0.055 and (large[1] - large[0]) < (small[1] - small[0]) / 3


def test_auroc_gain_interval_is_zero_for_the_same_ranking_and_brackets_a_known_gain():
    import numpy as np
    from sklearn.metrics import roc_auc_score

    gain = _script("study_table").auroc_gain_interval
    rng = np.random.default_rng(2)
    labels = [True] * 300 + [False] * 300
    weak = np.r_[rng.normal(0.5, 1.0, 300), rng.normal(0.0, 1.0, 300)]  # AUROC about 0.64
    assert gain(weak, weak, labels, resamples=200) == [0.0, 0.0, 0.0]  # paired: identical rankings never differ
    strong = weak + np.r_[np.full(300, 1.0), np.zeros(300)]  # the same noise, the unsafe ones pushed up further
    point, low, high = gain(strong, weak, labels, resamples=500)
    assert point == pytest.approx(roc_auc_score(labels, strong) - roc_auc_score(labels, weak))
    assert 0.0 < low < point < high and point > 0.15
    assert gain(weak, strong, labels, resamples=500)[0] == pytest.approx(-point)  # the sign follows the order


def test_size_gains_pair_two_sizes_per_data_seed_and_pool_the_seeds():
    import numpy as np

    study_table = _script("study_table")
    rng = np.random.default_rng(3)
    labels = [True] * 200 + [False] * 200

    def row(model: str, seed: int, ranking: np.ndarray) -> dict:
        run = f"bias-s{seed}-{model}"
        return {"run": run, "kind": "bias", "model": model, "seed": seed, "_data": f"/d{seed}.jsonl",
                "_ranking": ranking, "_unsafe": labels, "_fingerprint": None, "training_seeds": "0/0"}  # fmt: skip

    weak = {seed: np.r_[rng.normal(0.5, 1.0, 200), rng.normal(0.0, 1.0, 200)] for seed in (1, 2)}
    strong = {seed: weak[seed] + np.r_[np.full(200, 0.5), np.zeros(200)] for seed in (1, 2)}
    small, large = study_table.DEFAULT_MODEL, "qwen2.5-0.5b"
    rows = [row(large, 1, strong[1]), row(small, 1, weak[1]), row(small, 2, weak[2]), row(large, 2, strong[2])]
    rows.append(row(small, 3, weak[1]))  # a seed with one size only: no line of its own, not pooled
    table = study_table.size_gains(rows, resamples=300)
    per_seed = {s: study_table.auroc_gain_interval(strong[s], weak[s], labels, resamples=300) for s in (1, 2)}
    pooled = study_table.auroc_gain_pooled([(strong[s], weak[s], labels) for s in (1, 2)], resamples=300)
    assert pooled[0] == pytest.approx((per_seed[1][0] + per_seed[2][0]) / 2)  # the mean of the seeds' differences
    assert 0.0 < pooled[1] < pooled[0] < pooled[2]
    for seed in (1, 2):
        point, low, high = per_seed[seed]
        assert (
            f"| seed {seed} (bias-s{seed}-{large} − bias-s{seed}-{small}) | {point:+.3f} [{low:+.3f}, {high:+.3f}] |"
            in table
        )
    assert f"| pooled, seeds 1, 2 | {pooled[0]:+.3f} [{pooled[1]:+.3f}, {pooled[2]:+.3f}] |" in table
    assert "seed 3" not in table and table.count("\n") == 4  # head, rule, two seeds, pooled
    # a third size on seed 1: measured against each smaller size, smallest first
    largest = "qwen2.5-1.5b"
    strongest = strong[1] + np.r_[np.full(200, 0.5), np.zeros(200)]
    table3 = study_table.size_gains([*rows, row(largest, 1, strongest)], resamples=300)
    assert table3.startswith(table)  # the two-size lines first, unchanged
    for smaller, ranking in ((small, weak[1]), (large, strong[1])):
        point, low, high = study_table.auroc_gain_interval(strongest, ranking, labels, resamples=300)
        line = f"| {largest} − {smaller} | seed 1 (bias-s1-{largest} − bias-s1-{smaller}) | {point:+.3f} [{low:+.3f}, "
        assert f"{line}{high:+.3f}] |" in table3 and point > 0
    assert table3.count("\n") == 6 and table3.index(f"{largest} − {small}") < table3.index(f"{largest} − {large}")
    # two seeds drawn independently: the pooled interval is narrower than either seed's alone
    assert pooled[2] - pooled[1] < min(high - low for _, low, high in per_seed.values())
    assert study_table.size_gains([row(small, 1, weak[1]), row(small, 2, weak[2])]) == ""  # one size: no table
    assert study_table.training_spread(rows) == ""  # no model ran twice on one file


def test_training_repeats_are_averaged_in_the_size_table_and_measured_against_each_other():
    from dataclasses import replace

    import numpy as np
    from sklearn.metrics import roc_auc_score

    from forgetfilter import run_dir
    from forgetfilter.config import FilterConfig
    from forgetfilter.models import LoraSettings

    study_table = _script("study_table")
    rng = np.random.default_rng(4)
    labels = [True] * 200 + [False] * 200
    base = np.r_[rng.normal(0.5, 1.0, 200), rng.normal(0.0, 1.0, 200)]

    def row(name: str, model: str, ranking: np.ndarray, seeds: str = "0/0", setup: str = "") -> dict:
        s1, s1_plus = (int(seed) for seed in seeds.split("/"))
        config = FilterConfig(model=model, lora=LoraSettings(r=64 if setup else 8))
        config = replace(config, s1=replace(config.s1, seed=s1), s1_plus=replace(config.s1_plus, seed=s1_plus))
        fingerprint = json.loads(json.dumps(run_dir.fingerprint(config, [], [])))  # as read from fingerprint.json
        return {"run": name, "kind": "bias", "model": model, "seed": 1, "_data": "/d1.jsonl", "_ranking": ranking,
                "_unsafe": labels, "_fingerprint": fingerprint, "training_seeds": seeds}  # fmt: skip

    def retrained(shift: float) -> np.ndarray:  # the same examples, other training noise
        return base + np.r_[np.full(200, shift), np.zeros(200)] + rng.normal(0.0, 0.3, 400)

    small, large = study_table.DEFAULT_MODEL, "qwen2.5-0.5b"
    s0, s1, l0, l1 = retrained(0.0), retrained(0.2), retrained(0.6), retrained(0.4)
    rows = [row("s-ts0", small, s0), row("l-ts0", large, l0), row("s-ts1", small, s1, "1/1"),
            row("l-ts1", large, l1, "1/1"),
            row("s-r64", small, retrained(2.0), "2/2", setup="r64"),  # another setup on the same file: not a retraining
            row("s-ts1-again", small, retrained(-2.0), "1/1")]  # fmt: skip  # the same training seeds twice
    table = study_table.size_gains(rows, resamples=300)
    auroc = {name: roc_auc_score(labels, r) for name, r in {"s0": s0, "s1": s1, "l0": l0, "l1": l1}.items()}
    expected = (auroc["l0"] + auroc["l1"]) / 2 - (auroc["s0"] + auroc["s1"]) / 2
    point, low, high = study_table.auroc_gain_pooled([([l0, l1], [s0, s1], labels)], resamples=300)
    assert point == pytest.approx(expected) and low < point < high
    line = f"| seed 1 (mean of l-ts0, l-ts1 − mean of s-ts0, s-ts1) | {point:+.3f} [{low:+.3f}, {high:+.3f}] |"
    assert line in table and "r64" not in table and "again" not in table
    spread = study_table.training_spread(rows, resamples=300)
    for later, first, model in ((s1, s0, small), (l1, l0, large)):
        d, lo, hi = study_table.auroc_gain_interval(later, first, labels, resamples=300)
        assert d == pytest.approx(roc_auc_score(labels, later) - roc_auc_score(labels, first))
        assert f"| {model} | seed 1 |" in spread and f"| {d:+.3f} [{lo:+.3f}, {hi:+.3f}] |" in spread
    assert spread.count("\n") == 3 and "(1/1) − " in spread  # head, rule, one retraining per model


@pytest.mark.browser
def test_review_load_times_the_page_in_chromium(noisy, chromium_executable, tmp_path):
    import threading

    md = tmp_path / "results.md"
    argv = ["--data", str(noisy[0]), "--rows", "300", "--repeats", "1", "--chromium", chromium_executable]
    argv += ["--out-md", str(md), "--keep", str(tmp_path / "load")]
    out: dict = {}
    # in a thread of its own: Playwright's sync API does not start inside another test's running browser session
    thread = threading.Thread(target=lambda: out.update(_script("review_load").main(argv)))
    thread.start()
    thread.join()
    assert out["rows"] == 300 and 0 < out["best"]["ready_ms"] < 60_000 and out["size_mib"] > 0
    text = _section(md, "review_load.py")
    assert "| ready |" in text and "300 rows; page" in text and "browser: Chromium" in text
    assert (tmp_path / "load" / "run" / "review.html").is_file()


@pytest.mark.slow  # three fresh launches, one of them 2 processes
def test_data_parallel_compares_processes_with_threads_in_fresh_launches(tiny_model_dir, noisy, tmp_path):
    md = tmp_path / "results.md"
    argv = ["--data", str(noisy[0]), "--model", str(tiny_model_dir), "--limit", "8", "--steps", "1"]
    argv += ["--batch-size", "4", "--processes", "2", "--repeats", "1", "--dtype", "float32", "--out-md", str(md)]
    best = _script("data_parallel").main(argv)
    assert list(best) == ["1 process x 1 thread", "1 process x 2 threads", "2 processes x 1 thread"]
    base = best["1 process x 1 thread"]
    assert base["scoring_efficiency"] == base["training_efficiency"] == 1.0
    for figures in best.values():
        assert figures["examples"] == 8 and figures["dtype"] == "float32"
        assert figures["tokens"] == base["tokens"]  # the same global batch whatever the setup
        assert figures["scoring_ex_s"] > 0 and figures["training_tok_s"] > 0
    text = _section(md, "data_parallel.py")
    assert "| 2 processes x 1 thread |" in text and "efficiency = speed-up over 1 x 1 / workers" in text


@pytest.fixture(scope="module")
def tiny_run(tiny_model_dir, noisy, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from forgetfilter.api import find_unsafe_examples
    from forgetfilter.config import FilterConfig
    from forgetfilter.training import SessionSettings

    fast = SessionSettings(epochs=1, batch_size=6, grad_accum=1, lr=1e-2)
    run = tmp_path_factory.mktemp("tiny-run") / "run"
    find_unsafe_examples(
        noisy[0], noisy[1], config=FilterConfig(model=str(tiny_model_dir), s1=fast, s1_plus=fast), out_dir=run
    )
    return run


def test_lora_dropout_times_both_sides_on_one_batch(tiny_model_dir, noisy, capsys):
    rows = _script("lora_dropout").main(["--data", str(noisy[0]), "--model", str(tiny_model_dir), "--repeats", "1"])
    assert rows[2].startswith("| torch nn.Dropout |") and rows[3].startswith("| forgetfilter FastDropout |")
    rate = float(rows[-1].split(": ")[1].split()[0])
    assert abs(rate - 0.05) < 0.002
    assert "LoRA dropouts" in capsys.readouterr().out


def test_flop_budget_counts_every_stage_of_a_run(noisy, tiny_run, tmp_path):
    md = tmp_path / "results.md"
    body = _script("flop_budget").main(
        [str(tiny_run), "--data", str(noisy[0]), "--safe", str(noisy[1]), "--out-md", str(md)]
    )
    stages = [line.split("|")[1].strip() for line in body.splitlines() if line.startswith("| ")][1:]
    assert stages == ["score_m0", "s1", "score_m1", "s1_plus", "score_m2", "all stages"]
    for line in body.splitlines()[2:8]:
        tflop, full, half = (float(cell) for cell in line.split("|")[2:5])
        assert tflop > 0 and half >= full >= 0
    assert "bench/flop_budget.py" in _section(md, "flop_budget.py")


@pytest.mark.slow  # a torchrun launch of 2 processes
def test_sharded_scoring_matches_one_process(noisy, tiny_run, tmp_path):
    largest = _script("sharded_scoring").main(
        [str(tiny_run), "--data", str(noisy[0]), "--out-md", str(tmp_path / "r.md")]
    )
    assert set(largest) >= {"log_nll", "nll", "token_accuracy"}
    assert all(diff <= 1e-5 for diff in largest.values())


def test_attention_kernels_times_both_kernels_per_width_and_dtype(tmp_path):
    md = tmp_path / "results.md"
    rows = _script("attention_kernels").main(["--widths", "16,32", "--repeats", "1", "--out-md", str(md)])
    assert [(r[0], r[1]) for r in rows] == [
        ("16", "bfloat16"),
        ("16", "float32"),
        ("32", "bfloat16"),
        ("32", "float32"),
    ]
    assert all(float(cell) > 0 for r in rows for cell in r[2:6])
    assert "| eager speed-up |" in _section(md, "attention_kernels.py")


@pytest.mark.slow  # three fresh processes
def test_training_memory_reports_every_variant_from_fresh_processes(tiny_model_dir, noisy, tmp_path):
    md = tmp_path / "results.md"
    argv = ["--data", str(noisy[0]), "--model", str(tiny_model_dir), "--dtype", "float32", "--limit", "8"]
    results = _script("training_memory").main([*argv, "--steps", "1", "--out-md", str(md)])
    assert list(results) == ["default", "MALLOC_MMAP_THRESHOLD_=131072", "gradient checkpointing"]
    for figures in results.values():
        assert figures["peak"] >= figures["loaded"] > 0 and figures["s_per_step"] > 0
    assert "| gradient checkpointing |" in _section(md, "training_memory.py")


@pytest.mark.slow  # two fresh processes
def test_heap_growth_reads_rss_after_every_step_of_every_variant(tiny_model_dir, noisy, tmp_path):
    md = tmp_path / "results.md"
    argv = ["--data", str(noisy[0]), "--model", str(tiny_model_dir), "--dtype", "float32", "--limit", "8"]
    variants = ["MALLOC_MMAP_THRESHOLD_=131072", "malloc_trim(0) every step"]
    argv += ["--steps", "2", "--variants", ",".join(variants), "--out-md", str(md)]
    results = _script("heap_growth").main(argv)
    assert list(results) == variants
    for figures in results.values():
        assert len(figures["rss"]) == 2 and figures["peak"] >= max(figures["rss"]) > 0 and figures["s_per_step"] > 0
    assert results[variants[0]]["losses"] == results[variants[1]]["losses"]  # same computation, other memory
    assert "| malloc_trim(0) every step |" in _section(md, "heap_growth.py")


def test_heap_growth_refuses_an_allocator_this_machine_lacks(noisy, monkeypatch, capsys):
    heap_growth = _script("heap_growth")
    monkeypatch.setitem(heap_growth.VARIANTS, "nothere", ({"LD_PRELOAD": "libnothere-ff.so.1"}, False))
    for variants, message in [("nothere", "needs libnothere-ff.so.1"), ("glibc", "no variant 'glibc'")]:
        with pytest.raises(SystemExit):
            heap_growth.main(["--data", str(noisy[0]), "--variants", variants])
        assert message in capsys.readouterr().err


@pytest.mark.slow  # two fresh processes
def test_session_memory_reports_both_variants_after_every_session(tiny_model_dir, noisy, tmp_path):
    md = tmp_path / "results.md"
    argv = ["--data", str(noisy[0]), "--model", str(tiny_model_dir), "--dtype", "float32", "--limit", "8"]
    results = _script("session_memory").main([*argv, "--steps", "1", "--sessions", "2", "--out-md", str(md)])
    assert list(results) == ["released after each stage", "kept (no release)"]
    for figures in results.values():
        assert len(figures["after"]) == 2 and figures["peak"] >= max(figures["after"]) > 0
    assert "| kept (no release) |" in _section(md, "session_memory.py")


def test_token_categories_mark_tweet_noise_by_character_span():
    categories = _script("token_nll").token_categories
    text = "RT @user_1: so funny &#128514; see http://t.co/x ok"
    words = [(m.start(), m.end()) for m in __import__("re").finditer(r"\S+", text)]
    assert categories(text, words) == [
        "retweet mark",
        "handle",
        "ordinary text",
        "ordinary text",
        "html entity",
        "ordinary text",
        "url",
        "ordinary text",
    ]
    assert categories(text, [(3, 5), (4, 4)]) == ["handle", "handle"]  # a token inside a match, an empty span


def test_token_nll_recomputes_the_run_scores_per_token(tiny_model_dir, noisy, tmp_path):
    from forgetfilter.api import find_unsafe_examples
    from forgetfilter.config import FilterConfig
    from forgetfilter.saved_run import read_run
    from forgetfilter.training import SessionSettings

    fast = SessionSettings(epochs=1, batch_size=6, grad_accum=1, lr=1e-2)
    config = FilterConfig(model=str(tiny_model_dir), s1=fast, s1_plus=fast, dtype="float32")
    find_unsafe_examples(noisy[0], noisy[1], config=config, out_dir=tmp_path / "run")
    result = _script("token_nll").main(
        [str(tmp_path / "run"), "--data", str(noisy[0]), "--json", str(tmp_path / "t.json")]
    )
    assert json.loads((tmp_path / "t.json").read_text()) == json.loads(json.dumps(result))
    rows = {(r["role"], r["category"]): r for r in result["table"]}
    assert {role for role, _ in rows} == {"unsafe", "task", "safe"}
    for role in ("unsafe", "task", "safe"):  # the categories partition every role's tokens
        assert sum(rows[(role, c)]["token_share"] for c in _script("token_nll").CATEGORIES) == pytest.approx(1.0)
        assert rows[(role, "ordinary text")]["nll_share_m1"] == pytest.approx(1.0)  # no tweet noise in this data
    saved = read_run(tmp_path / "run").result  # the scorer's log ratio, recomputed from per-token NLL: same AUROC
    checks = result["checks"]
    assert checks["all tokens"]["auroc"] == pytest.approx(saved.quality()["log_nll"]["auroc"], abs=1e-6)
    assert checks["ordinary tokens"] == checks["all tokens"]  # every token ordinary: the same figures


def test_similarity_ranker_scores_the_examples_that_are_not_anchors(tiny_model_dir, noisy):
    import numpy as np

    bench = _script("similarity_ranker")
    [two, three] = bench.mix_rows(noisy[0], [2, 3], str(tiny_model_dir))
    assert (two["anchors"], two["n"], three["n"]) == (2, 16, 15)  # 18 examples, 6 unsafe, anchors left out
    for row in (two, three):
        auroc, low, high, auprc = row["similarity"]
        assert 0.0 <= low <= auroc <= high <= 1.0 and 0.0 < auprc <= 1.0
    from forgetfilter.data.formats import read_examples

    vectors = _script("signal_study").representations(list(read_examples(noisy[0]).examples), str(tiny_model_dir))
    assert vectors.shape[0] == 18 and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    text = bench.markdown([two, three])
    assert text.splitlines()[2].startswith("| bench-data") and text.splitlines()[2].count("|") == 8


def test_judge_validation_scores_every_labelled_set(data_dir, tmp_path):
    body = _script("judge_validation").main(["--data-dir", str(data_dir), "--out-md", str(tmp_path / "r.md")])
    rows = {line.split(" | ")[0].lstrip("| "): line.split(" | ") for line in body.splitlines() if line.startswith("| ")}
    assert int(rows["HH-RLHF rejected (harmful)"][1]) == int(rows["HH-RLHF chosen (less harmful)"][1]) == 2312
    rates = [float(x.rstrip(" |")) for x in rows["HH-RLHF rejected (harmful)"][2:5]]
    assert sum(rates) == pytest.approx(1.0, abs=0.002)  # every reply gets exactly one label
    toxigen = rows["ToxiGen demonstrations, hate vs neutral (held out)"]
    assert int(toxigen[1]) == 587 and 0.5 < float(toxigen[3]) <= 1.0  # distinct statements; better than chance
    assert "Scorer validation" in _section(tmp_path / "r.md", "judge_validation.py")


def test_bbq_parser_validation_counts_every_labelled_answer(tmp_path):
    body = _script("bbq_parser_validation").main(["--out-md", str(tmp_path / "r.md")])
    rows = [line.split(" | ") for line in body.splitlines()[2:]]
    for row in rows:  # the agreement and the three kinds of disagreement account for every answer
        n, agreement, counts = int(row[2]), float(row[5]), [int(c.rstrip(" |")) for c in row[6:9]]
        assert round(agreement * n) + sum(counts) == n
    assert {r[0].lstrip("| ") for r in rows} == {"development", "held out"}
    assert sum(int(r[2]) for r in rows if r[1] == "all") == 2 * 240  # both parsers, 120 answers per set
    assert "BBQ parser validation" in _section(tmp_path / "r.md", "bbq_parser_validation.py")


def test_bbq_parser_validation_names_a_record_without_its_fields(tmp_path):
    bad = tmp_path / "labels.jsonl"
    bad.write_text('{"method": "m0", "options": ["a", "b", "c"]}\n')
    with pytest.raises(DataError, match=r"labels.jsonl.*line 1.*unknown_index"):
        _script("bbq_parser_validation").read_labels(bad)


def test_keep_records_copies_records_and_skips_weights(tmp_path):
    keep = _script("keep_records")
    run = tmp_path / "run"
    (run / "eval" / "m0").mkdir(parents=True)
    (run / "stages.json").write_text("{}")
    (run / "eval" / "m0" / "generations_bias.jsonl").write_text('{"a": 1}\n')
    (run / "models" / "no_filter").mkdir(parents=True)
    (run / "models" / "no_filter" / "adapter_model.safetensors").write_bytes(b"w" * 10)
    (run / "models" / "no_filter" / "adapter_config.json").write_text("{}")
    (run / "filter" / "checkpoint-s1").mkdir(parents=True)
    (run / "filter" / "checkpoint-s1" / "state.json").write_text("{}")
    (run / "filter" / "kept.jsonl").write_text("{}\n")
    (run / "data").mkdir()
    (run / "data" / "d_noisy.jsonl").write_text("{}\n")
    assert [str(p) for p in keep.record_files(run, with_inputs=True)[0]] == [
        "data/d_noisy.jsonl",
        "eval/m0/generations_bias.jsonl",
        "filter/kept.jsonl",
        "stages.json",
    ]
    copied = keep.keep_records(run, tmp_path / "kept")
    assert [str(p) for p in copied] == ["eval/m0/generations_bias.jsonl", "stages.json"]
    assert (tmp_path / "kept" / "eval" / "m0" / "generations_bias.jsonl").read_text() == '{"a": 1}\n'
    with pytest.raises(SystemExit, match="never written over"):
        keep.keep_records(run, tmp_path / "kept")
    (run / "eval" / "m0" / "big.jsonl").write_bytes(b"x" * 2048)
    with pytest.raises(SystemExit, match="big.jsonl"):
        keep.keep_records(run, tmp_path / "kept2", max_mib=0.001)
    assert not (tmp_path / "kept2").exists()
    with pytest.raises(SystemExit, match="not a run folder"):
        keep.keep_records(tmp_path / "kept" / "eval", tmp_path / "kept3")


def test_attention_probe_noise_times_both_probes_per_width(tmp_path):
    md = tmp_path / "results.md"
    rows = _script("attention_probe_noise").main(
        ["--widths", "16,32", "--trials", "2", "--rows", "2", "--heads", "2", "--head-dim", "8", "--out-md", str(md)]
    )
    assert [(r[0], r[1]) for r in rows] == [
        ("16", "the probe (best of 3 each)"),
        ("16", "turns, best of 5 (not adopted)"),
        ("32", "the probe (best of 3 each)"),
        ("32", "turns, best of 5 (not adopted)"),
    ]
    assert all(r[5].endswith("of 2") for r in rows)
    assert "| trials choosing eager" in _section(md, "attention_probe_noise.py")


def test_training_spread_compares_one_method_across_runs_on_the_same_prompts(tmp_path):
    spread = _script("training_spread")

    def run(name: str, scores: list[float]) -> Path:
        folder = tmp_path / name / "eval" / "forgetfilter"
        folder.mkdir(parents=True)
        rows = [
            {"id": f"p{i}", "source": "s", "prompt": "x", "generation": "y", "toxicity": t, "group": "toxic_text"}
            for i, t in enumerate(scores)
        ]
        (folder / "generations_toxicity.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        return tmp_path / name

    base = run("base", [0.2] * 40)
    same, higher = run("same", [0.2] * 40), run("higher", [0.5] * 40)
    rows = spread.compare_trainings(base, [same, higher], "forgetfilter", "toxicity", None)
    assert rows[2] == "| same − base | toxicity_mean | 0.200 | 0.200 | +0.000 | [+0.000, +0.000] | 40 |"
    assert rows[3] == "| higher − base | toxicity_mean | 0.500 | 0.200 | +0.300 | [+0.300, +0.300] | 40 |"
    other = run("other-prompts", [0.2] * 39)
    with pytest.raises(Exception, match="not evaluated on the same prompts"):
        spread.compare_trainings(base, [other], "forgetfilter", "toxicity", None)


def test_interleaved_sessions_compares_every_round_pooled_and_per_run(tmp_path):
    sessions = _script("interleaved_sessions")

    def run(name: str, values: dict[str, float], rounds: int = 2) -> Path:
        for arm in ("forgetfilter", "no_filter"):
            for r in range(1, rounds + 1):
                for after in ("noisy", "safe"):
                    folder = tmp_path / name / "interleaved" / arm / f"round{r}" / f"eval_{after}"
                    folder.mkdir(parents=True)
                    t = values[f"{arm}_{after}"] + 0.1 * (r - 1)
                    rows = [
                        {"id": f"p{i}", "source": "s", "prompt": "x", "generation": "y", "toxicity": t}
                        for i in range(30)
                    ]
                    (folder / "generations_toxicity.jsonl").write_text("".join(json.dumps(x) + "\n" for x in rows))
        return tmp_path / name

    values = {"forgetfilter_noisy": 0.3, "forgetfilter_safe": 0.2, "no_filter_noisy": 0.6, "no_filter_safe": 0.2}
    first, second = run("s1", values), run("s2", {**values, "no_filter_noisy": 0.4})
    rows = sessions.compare_sessions([first, second], "toxicity", None)
    assert len(rows) == 2 + 4 + 2  # header, rule; two rounds x two sessions; relearning in round 2 for each arm
    assert rows[2] == (
        "| forgetfilter/round1/eval_noisy − no_filter/round1/eval_noisy | toxicity_mean | 0.300 | 0.500 "
        "| -0.200 [-0.200, -0.200] | -0.300, -0.100 | 60 |"  # resampled within each run: constant
    )
    assert rows[-1].startswith(
        "| no_filter/round2/eval_noisy − no_filter/round1/eval_safe | toxicity_mean | 0.600 | 0.200 |"
    )
    partial = run("partial", values, rounds=0)
    with pytest.raises(Exception, match="no round with all four sessions"):
        sessions.compare_sessions([first, partial], "toxicity", None)


def test_rank_mean_finds_what_either_ranking_finds(tmp_path):
    """Two unsafe sources, each found by one signal only: the mean rank ranks both above the rest."""
    import numpy as np

    rank_mean = _script("rank_mean")
    np.testing.assert_allclose(
        rank_mean.rank_mean(np.array([3.0, 1.0, 2.0]), np.array([1.0, 1.0, 5.0])), [3 / 4, 5 / 12, 5 / 6]
    )
    rows = []
    for i in range(30):
        role, source = ("unsafe", "a") if i < 5 else ("unsafe", "b") if i < 10 else ("task", "t")
        nll = 2.0 + i / 100 if source == "a" else 0.2 if source == "b" else i / 100  # task: 0.10-0.29
        log_nll = 2.0 + i / 100 if source == "b" else 0.2 if source == "a" else (39 - i) / 100
        rows.append({"role": role, "source": source, "forgetting_nll": nll, "forgetting_log_nll": log_nll})
    (tmp_path / "scores.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    lines = rank_mean.table(tmp_path)
    auroc = {line.split(" | ")[1]: float(line.split(" | ")[2]) for line in lines}
    assert auroc["rank_mean"] > max(auroc["nll"], auroc["log_nll"]) and auroc["rank_mean"] > 0.9
    gain = {line.split(" | ")[1]: line.split(" | ")[3] for line in lines}
    assert gain["nll"] == "-"
    point, low, high = (float(x) for x in gain["rank_mean"].replace("[", "").replace("]", "").replace(",", "").split())
    assert point == pytest.approx(auroc["rank_mean"] - auroc["nll"], abs=1e-3) and low <= point <= high
    assert "a 1.000; b" in next(line for line in lines if " nll |" in line)
