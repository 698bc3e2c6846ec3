"""Several processes: the helpers in one process, the clear errors, and a 2-process ``filter`` launched with torchrun
(as a user would) against the same run in one process, with its sharded scores against one process's."""

import json
import os
import subprocess
import sys

import pytest
import torch

from forgetfilter import distributed
from forgetfilter.errors import ConfigError


def test_in_one_process_every_helper_returns_its_input():
    rows = [1, 2, 3]
    assert not distributed.launched() and distributed.rank() == 0 and distributed.is_main()
    assert distributed.shard_rows(rows) is rows
    assert distributed.balanced_shard([3.0, 1.0, 2.0]) == [0, 1, 2]
    assert distributed.gather_by_index({0: "a"}) == {0: "a"}
    assert distributed.sum_over_processes(1.5, 2) == (1.5, 2)
    assert distributed.broadcast("x") == "x"
    assert distributed.on_main(lambda a, b=0: a + b, 1, b=2) == 3
    p = torch.nn.Parameter(torch.ones(2))
    p.grad = torch.full((2,), 0.5)
    distributed.sum_gradients([p])
    assert p.grad.tolist() == [0.5, 0.5]
    distributed.barrier()


def test_shares_cover_every_item_once_and_balance_the_cost():
    costs = [float(c) for c in (40, 40, 30, 30, 20, 10, 10, 5, 5, 1)]
    for processes in (1, 2, 3, 4, 16):
        owner = distributed.owners(costs, processes)
        assert len(owner) == len(costs) and set(owner) <= set(range(processes))
        loads = [sum(c for c, o in zip(costs, owner, strict=True) if o == r) for r in range(processes)]
        assert max(loads) - min(loads) <= max(costs)  # greedy longest-first: within one item of each other
    assert distributed.owners(costs, 2) == distributed.owners(costs, 2)  # the processes agree without talking


def test_fsdp_or_deepspeed_on_cpus_and_a_bad_timeout_are_clear_errors(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setattr(distributed, "_STATE", {})
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    with pytest.raises(ConfigError, match="FSDP shards the model across GPUs.*torchrun --nproc_per_node N"):
        distributed.accelerator()
    monkeypatch.delenv("ACCELERATE_USE_FSDP")
    monkeypatch.setenv(distributed.TIMEOUT_ENV, "soon")
    with pytest.raises(ConfigError, match="FORGETFILTER_DIST_TIMEOUT_S must be a positive number"):
        distributed.accelerator()
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(ConfigError, match="WORLD_SIZE must be a whole number"):
        distributed.world_size()


def _env(**extra):
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0", **extra}


def test_a_process_group_that_cannot_start_is_one_clear_line(tiny_model_dir, tmp_path):
    import socket

    with socket.socket() as sock:  # a port nobody listens on: rank 1 waits for a rank 0 that never comes
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = _env(WORLD_SIZE="2", RANK="1", LOCAL_RANK="1", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    env[distributed.TIMEOUT_ENV] = "1"
    noisy, safe, config = _files(tmp_path, tiny_model_dir)
    command = [sys.executable, "-m", "forgetfilter", *_filter_args(noisy, safe, config, tmp_path / "run")]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert "error: cannot start the process group of 2 processes (rank 1, rendezvous 127.0.0.1:" in done.stderr
    assert "Launch with torchrun --nproc_per_node N -m forgetfilter" in done.stderr
    assert not (tmp_path / "run").exists()  # nothing written


def _files(tmp_path, model_dir):
    noisy = tmp_path / "noisy.jsonl"
    roles = ["unsafe", "task", "task"] * 7
    rows = [
        {"prompt": f"q{i} " + "w " * (i % 6), "completion": f"a{i} b{i} " + "x " * (i % 4), "role": role}
        for i, role in enumerate(roles)
    ]
    noisy.write_text("".join(json.dumps(r) + "\n" for r in rows))
    safe = tmp_path / "safe.jsonl"
    safe.write_text("".join(json.dumps({"prompt": f"s{i}", "completion": "fine"}) + "\n" for i in range(7)))
    # batch 5 over 2 processes: uneven shards; grad_accum 2: the token count spans micro-batches; dropout 0 so the
    # two runs differ by summation order only (each process draws its own dropout masks otherwise)
    session = {"max_steps": 4, "batch_size": 5, "grad_accum": 2, "lr": 0.01, "checkpoint_every": 2}
    config = {
        "model": str(model_dir),
        "dtype": "float32",
        "s1": session,
        "s1_plus": {**session, "grad_accum": 1},
        "lora": {"dropout": 0.0},
        "signals": ["log_nll", "nll", "token_accuracy", "rouge"],
        "max_new_tokens": 3,
        "score_batch_size": 3,
        "curve_every": 2,
        "curve_per_role": 3,
    }
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(config))
    return noisy, safe, path


def _filter_args(noisy, safe, config, out):
    args = ["filter", "--data", str(noisy), "--safe", str(safe), "--out", str(out), "--config", str(config)]
    return [*args, "--fraction", "0.25", "--retrain"]


def _kill_rank_1_after_the_first_checkpoint(command, checkpoint):
    """Launch ``command``, SIGKILL its rank-1 worker once ``checkpoint`` exists; torchrun then stops the other."""
    import signal
    import time

    import psutil

    launch = subprocess.Popen(command, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not checkpoint.exists() and launch.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    workers = [p for p in psutil.Process(launch.pid).children(recursive=True) if p.environ().get("RANK") == "1"]
    assert checkpoint.exists() and workers, "the run ended before its first checkpoint"
    workers[0].send_signal(signal.SIGKILL)
    assert launch.wait(timeout=120) != 0


def _rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def _close(a, b, tol=1e-5):
    """The same keys, equal strings, numbers within ``tol``."""
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], float):
            assert abs(a[key] - b[key]) <= tol, (key, a[key], b[key])
        else:
            assert a[key] == b[key], (key, a[key], b[key])


def _same_outputs(a, b):
    """Two run folders with the same scores (to 1e-5), kept/removed files, session losses and adapters (to 1e-5)."""
    from safetensors.torch import load_file

    for row_a, row_b in zip(_rows(a / "scores.jsonl"), _rows(b / "scores.jsonl"), strict=True):
        _close(row_a, row_b)
    for name in ("kept.jsonl", "removed.jsonl", "retrain/kept.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    stages_a, stages_b = (json.loads((d / "stages.json").read_text()) for d in (a, b))
    for session in ("s1", "s1_plus", "retrain"):
        assert stages_a[session]["tokens"] == stages_b[session]["tokens"]
        assert abs(stages_a[session]["final_loss"] - stages_b[session]["final_loss"]) < 1e-5
    for adapter in ("s1/adapter", "s1_plus/adapter", "retrain/adapter"):
        wa, wb = (load_file(d / adapter / "adapter_model.safetensors") for d in (a, b))
        assert wa.keys() == wb.keys()
        assert all(torch.allclose(wa[k], wb[k], atol=1e-5) for k in wa), adapter


LAUNCH_2 = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]  # = torchrun


def test_two_processes_launched_by_torchrun_give_the_one_process_run(tiny_model_dir, tmp_path):
    from typer.testing import CliRunner

    from forgetfilter.cli import app
    from forgetfilter.curves import read_curves

    noisy, safe, config = _files(tmp_path, tiny_model_dir)
    command = [*LAUNCH_2, "-m", "forgetfilter", *_filter_args(noisy, safe, config, tmp_path / "two")]
    _kill_rank_1_after_the_first_checkpoint(command, tmp_path / "two" / "s1" / "checkpoint" / "state.json")
    two = subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=600)  # the relaunch resumes
    assert two.returncode == 0, two.stderr[-3000:]
    assert two.stdout.count("# ForgetFilter: removed") == 1  # one report: the main process's
    a, b = tmp_path / "one", tmp_path / "two"
    one = CliRunner().invoke(app, _filter_args(noisy, safe, config, a))
    assert one.exit_code == 0, one.output
    _same_outputs(a, b)
    curves_a, curves_b = (
        {(r["session"], r["step"], r["id"]): r for r in read_curves(d / "curves.jsonl")} for d in (a, b)
    )
    assert len(curves_a) == 2 * 3 * 6  # sessions x steps 0, 2, 4 x 6 examples
    # a kill between a checkpoint and that step's curve record loses the record (as in one process): S1 step 2
    assert curves_b.keys() <= curves_a.keys() and {k[:2] for k in curves_a.keys() - curves_b.keys()} <= {("s1", 2)}
    for key, row in curves_b.items():
        _close(row, curves_a[key])

    # sharded scoring of a fixed model: the 2-process run's M1 and M2, scored again here in one process
    from forgetfilter.config import FilterConfig
    from forgetfilter.data.formats import read_examples
    from forgetfilter.pipeline import StageLog, score

    cfg = FilterConfig.from_dict(json.loads(config.read_text()))
    examples = list(read_examples(noisy).examples)
    for name, adapter in (("scores_m1", "s1"), ("scores_m2", "s1_plus")):
        log = StageLog(tmp_path / f"{name}-stages.json")
        here = score(cfg, b / adapter / "adapter", examples, tmp_path / f"{name}.json", log, name)
        sharded = json.loads((b / f"{name}.json").read_text())["signals"]
        assert here.keys() == sharded.keys()
        assert here["generations"] == sharded["generations"]
        for signal in ("nll", "log_nll", "token_accuracy", "rouge"):
            assert max(abs(x - y) for x, y in zip(here[signal], sharded[signal], strict=True)) <= 1e-5, signal


@pytest.mark.slow
def test_sessions_through_accelerates_wrapper_give_the_one_process_run(tiny_model_dir, tmp_path):
    """The FSDP/DeepSpeed code path (accelerate's prepare, accumulate, backward, clip, state dict), run with DDP."""
    from typer.testing import CliRunner

    from forgetfilter.cli import app

    noisy, safe, config = _files(tmp_path, tiny_model_dir)
    a, b = tmp_path / "one", tmp_path / "wrapped"
    args = [*_filter_args(noisy, safe, config, b), "curve_every=0"]
    env = _env(FORGETFILTER_WRAP_MODEL="1")
    done = subprocess.run([*LAUNCH_2, "-m", "forgetfilter", *args], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (b / "s1" / "checkpoint" / "random_states_1.pkl").is_file()  # accelerate's save_state, per process
    one = CliRunner().invoke(app, [*_filter_args(noisy, safe, config, a), "curve_every=0"])
    assert one.exit_code == 0, one.output
    _same_outputs(a, b)


def test_curves_through_a_wrapper_are_a_clear_error(monkeypatch):
    from forgetfilter import wrapped

    monkeypatch.setattr(wrapped, "active", lambda: True)
    with pytest.raises(ConfigError, match=r"learning curves \(curve_every > 0\).*set curve_every: 0"):
        wrapped.prepare(torch.nn.Linear(2, 2), None, grad_accum=1, batch_size=8, curves=True)


def test_each_process_resumes_its_own_random_generators(monkeypatch):
    from forgetfilter import training

    state = {"rng": "rank 0", "rng_ranks": [{"rng": "rank 0"}, {"rng": "rank 1"}]}
    assert training._own_rng_states(state) is state  # one process: the top level, as every checkpoint has it
    monkeypatch.setattr(distributed, "launched", lambda: True)
    monkeypatch.setattr(distributed, "world_size", lambda: 2)
    monkeypatch.setattr(distributed, "rank", lambda: 1)
    assert training._own_rng_states(state) == {"rng": "rank 1"}
    monkeypatch.setattr(distributed, "world_size", lambda: 3)  # resumed in another number of processes
    assert training._own_rng_states(state) is state


# attention pinned: `auto` times the kernels at each process's rows per micro-batch (5 here, 2 in each of two
# processes), so the two runs could train with different kernels on a close timing call (docs/scaling.md)
EXPERIMENT = """
kind: toxicity
methods: [no_filter, forgetfilter, replay]
data: {n: 16, n_safe: 6}
eval: {n: 5, batch_size: 2, max_new_tokens: 3}
filter:
  dtype: float32
  lora: {dropout: 0.0}
  s1: {epochs: 1, batch_size: 5, grad_accum: 2, lr: 0.01, attention: sdpa}
  s1_plus: {epochs: 1, batch_size: 4, grad_accum: 1, lr: 0.01, attention: sdpa}
interleaved:
  rounds: 2
  n_eval: 3
  noisy: {epochs: 1, batch_size: 4, lr: 0.01, attention: sdpa}
  safe: {max_steps: 1, lr: 0.01, attention: sdpa}
"""
TIMINGS = ("wall_seconds", "generation_seconds", "tokens_per_second", "peak_rss_mib")


def _without_timings(value):
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items() if k not in TIMINGS}
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    return round(value, 5) if isinstance(value, float) else value


def test_an_experiment_in_two_processes_gives_the_one_process_results(tiny_model_dir, data_dir, tmp_path):
    """`torchrun ... -m forgetfilter experiment`: sessions data-parallel, evaluations generated in shares; the same
    selections, generations and metrics as one process, and one report."""
    from typer.testing import CliRunner

    from forgetfilter.cli import app

    config = tmp_path / "tiny.yaml"
    config.write_text(EXPERIMENT)
    args = ["experiment", str(config), "--model", str(tiny_model_dir), f"data.data_dir={data_dir}"]
    two = subprocess.run(
        [*LAUNCH_2, "-m", "forgetfilter", *args, "--out", str(tmp_path / "two")],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert two.returncode == 0, two.stderr[-3000:]
    assert two.stdout.count("| forgetfilter |") == 1  # one results table: the main process's
    one = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "one")])
    assert one.exit_code == 0, one.output
    a, b = tmp_path / "one", tmp_path / "two"
    for name in ("data/d_noisy.jsonl", "eval_inputs/plain/eval_toxicity.jsonl", "selections/forgetfilter.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    generations = sorted(p.relative_to(a) for p in a.glob("**/generations_*.jsonl"))
    assert len(generations) == 3 * 2 + 2 * 2 * 2  # methods x (toxicity, task) + arms x rounds x sessions (toxicity)
    for name in generations:
        assert _rows(a / name) == _rows(b / name), name  # every text, in input order
    rows_a, rows_b = (json.loads((d / "results.json").read_text()) for d in (a, b))
    assert _without_timings(rows_a) == _without_timings(rows_b)
    points_a, points_b = (_rows(d / "interleaved" / "points.jsonl") for d in (a, b))
    assert _without_timings(points_a) == _without_timings(points_b)
