"""Kill the real CLI process (SIGKILL) at random moments, rerun it, and compare with an uninterrupted run.

Every rerun must end with the same scores and kept/removed files, byte for byte, and no input may change.
"""

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

KILLS = 6  # kill points per test run, drawn at random over the run's duration (seeded: the same points each time)


def _files(tmp_path, model_dir):
    noisy = tmp_path / "noisy.jsonl"
    roles = ["unsafe", "task", "task"] * 8
    rows = [{"prompt": f"q{i}", "completion": f"a{i} b{i}", "role": role} for i, role in enumerate(roles)]
    noisy.write_text("".join(json.dumps(r) + "\n" for r in rows))
    safe = tmp_path / "safe.jsonl"
    safe.write_text("".join(json.dumps({"prompt": f"s{i}", "completion": "fine"}) + "\n" for i in range(8)))
    session = {"max_steps": 12, "batch_size": 4, "grad_accum": 1, "lr": 0.01, "checkpoint_every": 3}
    config = tmp_path / "cfg.json"
    config.write_text(json.dumps({"model": str(model_dir), "dtype": "float32", "s1": session, "s1_plus": session}))
    return noisy, safe, config


def _command(noisy, safe, config, out):
    return [
        sys.executable,
        "-m",
        "forgetfilter",
        "filter",
        "--data",
        str(noisy),
        "--safe",
        str(safe),
        "--out",
        str(out),
        "--config",
        str(config),
        "--fraction",
        "0.25",
    ]


def _env():
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_run_killed_anywhere_resumes_to_the_same_bytes(tiny_model_dir, tmp_path):
    noisy, safe, config = _files(tmp_path, tiny_model_dir)
    inputs = {p: _digest(p) for p in (noisy, safe, config)}
    started = time.perf_counter()
    subprocess.run(_command(noisy, safe, config, tmp_path / "reference"), env=_env(), check=True, capture_output=True)
    duration = time.perf_counter() - started
    reference = {n: _digest(tmp_path / "reference" / n) for n in ("scores.jsonl", "kept.jsonl", "removed.jsonl")}
    rng = random.Random(0)
    killed = 0
    for attempt in range(KILLS):
        out = tmp_path / f"run{attempt}"
        for _ in range(2):  # up to two kills in the same run folder, then a run to the end
            child = subprocess.Popen(
                _command(noisy, safe, config, out), env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            try:
                child.wait(timeout=rng.uniform(0.1, 0.85) * duration)
            except subprocess.TimeoutExpired:
                child.send_signal(signal.SIGKILL)
                child.wait()
                killed += 1
        done = subprocess.run(_command(noisy, safe, config, out), env=_env(), capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
        for name, digest in reference.items():
            assert _digest(out / name) == digest, (attempt, name)
    assert {p: _digest(p) for p in inputs} == inputs
    assert killed >= KILLS  # the kills really landed inside runs (a resumed run may finish before its 2nd kill)


@pytest.mark.parametrize("victim", ["scores_m1.json", "stages.json", "fingerprint.json", "config.json"])
def test_a_corrupt_file_in_a_finished_run_is_a_warning_or_a_clear_error(tiny_model_dir, tmp_path, victim):
    noisy, safe, config = _files(tmp_path, tiny_model_dir)
    out = tmp_path / "run"
    subprocess.run(_command(noisy, safe, config, out), env=_env(), check=True, capture_output=True)
    scores = _digest(out / "scores.jsonl")
    (out / victim).write_text('{"trunc')
    rerun = subprocess.run(_command(noisy, safe, config, out), env=_env(), capture_output=True, text=True)
    assert "Traceback" not in rerun.stderr
    if victim == "fingerprint.json":
        assert rerun.returncode == 2 and "fingerprint.json is damaged; delete" in rerun.stderr
    else:
        assert rerun.returncode == 0, rerun.stderr[-2000:]
        assert _digest(out / "scores.jsonl") == scores
