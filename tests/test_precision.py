"""dtype auto: the choice per machine, the probe's cache, mixed precision (fp32 LoRA on bf16 weights), threads."""

import json

import pytest
import torch

from forgetfilter import precision
from forgetfilter.errors import ConfigError
from forgetfilter.precision import Precision, cached_probe, canonical_dtype, choose_precision, use_all_cores


def _probe(speedup):
    return {"fp32_gflops": 100.0, "bf16_gflops": 100.0 * speedup, "speedup": float(speedup), "shape": [1, 1, 1]}


def test_dtype_names_and_aliases():
    assert canonical_dtype("bf16") == "bfloat16" and canonical_dtype("fp32") == "float32"
    assert canonical_dtype("auto") == "auto"
    with pytest.raises(ConfigError, match="unknown dtype 'bf32'; use auto, float32, bfloat16 or float16"):
        canonical_dtype("bf32")


def test_explicit_dtype_always_wins(monkeypatch):
    monkeypatch.setattr(precision, "cached_probe", lambda: pytest.fail("an explicit dtype must not probe"))
    chosen = choose_precision("fp32", "cpu")
    assert (chosen.dtype, chosen.reason) == ("float32", "set explicitly")
    assert choose_precision("bfloat16", "cpu").dtype == "bfloat16"


def test_cpu_without_bf16_units_keeps_fp32_without_probing(monkeypatch):
    monkeypatch.setattr(precision, "cpu_bf16_flags", lambda: [])
    monkeypatch.setattr(precision, "cached_probe", lambda: pytest.fail("no bf16 units: nothing to probe"))
    chosen = choose_precision("auto", "cpu")
    assert chosen.dtype == "float32" and "reports no bf16 units" in chosen.reason


@pytest.mark.parametrize(("speedup", "expected"), [(2.5, "bfloat16"), (1.1, "float32"), (0.2, "float32")])
def test_cpu_with_bf16_units_follows_the_probe(monkeypatch, speedup, expected):
    monkeypatch.setattr(precision, "cpu_bf16_flags", lambda: ["avx512_bf16"])
    monkeypatch.setattr(precision, "cached_probe", lambda: _probe(speedup))
    chosen = choose_precision("auto", "cpu")
    assert chosen.dtype == expected
    assert chosen.probe["speedup"] == speedup and "avx512_bf16" in chosen.reason


def test_probe_is_cached_per_machine_and_a_damaged_cache_is_measured_again(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(precision, "measure_bf16_speedup", lambda: calls.append(1) or _probe(2.0))
    cache = tmp_path / "probe.json"
    first, second = cached_probe(cache), cached_probe(cache)
    assert len(calls) == 1 and first["cached"] is False and second["cached"] is True
    assert second["speedup"] == 2.0 and list(json.loads(cache.read_text())) == [precision.probe_key()]
    cache.write_text("{not json")
    assert cached_probe(cache)["source"] == "this process" and len(calls) == 1  # one process never times twice
    precision._MEASURED.clear()  # a new process
    assert cached_probe(cache)["cached"] is False and len(calls) == 2
    assert cached_probe(cache)["source"] == "this process"
    precision._MEASURED.clear()
    assert cached_probe(cache)["source"] == "machine cache" and len(calls) == 2  # the damaged file was rewritten


def test_real_probe_measures_both_dtypes_quickly():
    result = precision.measure_bf16_speedup(repeats=1)
    assert result["fp32_gflops"] > 0 and result["bf16_gflops"] > 0
    assert result["speedup"] == pytest.approx(result["bf16_gflops"] / result["fp32_gflops"], rel=0.01)


def test_threads_follow_omp_num_threads_or_the_usable_cores(monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("OMP_NUM_THREADS", "1")
        torch.set_num_threads(1)
        assert use_all_cores() == 1  # an explicit OMP_NUM_THREADS is left alone
        monkeypatch.delenv("OMP_NUM_THREADS")
        monkeypatch.setattr(precision.os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
        assert use_all_cores() == 3
    finally:
        torch.set_num_threads(before)


def test_bf16_weights_keep_lora_and_optimizer_state_in_fp32(tiny_model_dir):
    from forgetfilter.examples import Example, user_prompt
    from forgetfilter.models import LoraSettings, add_lora, load_model
    from forgetfilter.training import SessionSettings, train_session

    model, tok = load_model(tiny_model_dir, dtype="bfloat16", device="cpu")
    model = add_lora(model, LoraSettings())
    trainable = {n: p.dtype for n, p in model.named_parameters() if p.requires_grad}
    frozen = {p.dtype for p in model.parameters() if not p.requires_grad}
    assert trainable and set(trainable.values()) == {torch.float32} and frozen == {torch.bfloat16}
    data = [Example(id=str(i), messages=user_prompt(f"q{i}"), response=f"a{i}", source="test") for i in range(8)]
    result = train_session(model, tok, data, SessionSettings(max_steps=2, batch_size=4, grad_accum=1))
    assert result.steps == 2 and all(torch.isfinite(torch.tensor(result.losses)))
    assert {p.dtype for p in model.parameters() if p.requires_grad} == {torch.float32}


def test_float_head_scores_in_fp32_close_to_the_fp32_model(tiny_model_dir):
    from forgetfilter.forward import logits_at
    from forgetfilter.models import load_model

    ids = torch.tensor([[5, 6, 7, 8, 9, 10]])
    mask, rows, cols = torch.ones_like(ids), torch.tensor([0, 0]), torch.tensor([3, 4])
    ref, _ = load_model(tiny_model_dir, dtype="float32", device="cpu")
    low, _ = load_model(tiny_model_dir, dtype="bfloat16", device="cpu")
    with torch.no_grad():
        exact = logits_at(ref, ids, mask, rows, cols)
        head32 = logits_at(low, ids, mask, rows, cols, float_head=True)
        head16 = logits_at(low, ids, mask, rows, cols)
    assert head32.dtype == torch.float32 and head16.dtype == torch.bfloat16
    assert torch.allclose(head32, exact, atol=0.05)


def test_precision_is_recorded_and_kept_on_resume(tmp_path):
    from forgetfilter.config import FilterConfig
    from forgetfilter.pipeline import StageLog, record_precision

    log = StageLog.load(tmp_path / "stages.json")
    first = record_precision(FilterConfig(dtype="float32"), log)
    assert json.loads((tmp_path / "stages.json").read_text())["precision"]["dtype"] == "float32"
    # a resumed auto run computes in what its first stages used, whatever this machine would pick now
    log = StageLog.load(tmp_path / "stages.json")
    resumed = record_precision(FilterConfig(dtype="auto"), log)
    assert isinstance(resumed, Precision) and resumed.dtype == first.dtype == "float32"


def test_a_probe_record_never_replaces_what_is_not_a_file(tmp_path):
    folder = tmp_path / "probes.json"
    folder.mkdir()
    precision._store_entry(folder, "key", {"speedup": 2.0})
    assert folder.is_dir() and not list(folder.iterdir())
