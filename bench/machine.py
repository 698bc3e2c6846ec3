"""Shared helpers of the bench scripts: the machine, its measured peak FLOP/s, model FLOPs, results.md.

Not a package: the scripts import it as ``machine`` (``python bench/x.py`` puts bench/ on sys.path).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import random
import shlex
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
RESULTS_MD = Path(__file__).resolve().parent / "results.md"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30


def cpu_bf16_flags() -> list[str]:
    from forgetfilter.precision import cpu_bf16_flags as flags

    return flags()


def describe_machine(dtype: Any = None, device: Any = None) -> dict[str, str]:
    """CPU, cores, threads, memory, library versions, the dtype/device a bench ran in, and the GPU if any."""
    import torch
    import transformers

    cores = os.cpu_count() or 0
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    info = {
        "cpu": _cpu_model(),
        "cpu bf16 flags": ", ".join(cpu_bf16_flags()) or "none",
        "cores": f"{usable} usable of {cores}",
        "torch threads": str(torch.get_num_threads()),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "unset"),
        "memory": f"{_memory_gib():.1f} GiB",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "dtype": str(dtype).replace("torch.", "") if dtype is not None else "n/a",
        "device": str(device) if device is not None else "cpu",
    }
    if torch.cuda.is_available():
        info["cuda device"] = torch.cuda.get_device_name(0)
        info["cuda"] = str(torch.version.cuda)
    return info


def _sync(device: Any) -> None:
    import torch

    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def peak_flops(dtype: Any, device: Any = "cpu", *, size: int | None = None, repeats: int = 5) -> float:
    """This machine's peak FLOP/s in ``dtype``: best of ``repeats`` timed ``size x size`` matmuls (2 n^3 FLOPs).

    ``size`` defaults to 2048 on a CPU and 8192 on a GPU (large enough to reach the matmul roofline).
    """
    import torch

    device = torch.device(device)
    n = size or (8192 if device.type == "cuda" else 2048)
    gen = torch.Generator(device="cpu").manual_seed(0)
    a = torch.randn(n, n, generator=gen).to(device=device, dtype=dtype)
    b = torch.randn(n, n, generator=gen).to(device=device, dtype=dtype)
    with torch.no_grad():
        a @ b  # warm-up: kernel selection, thread pool
        _sync(device)
        best = float("inf")
        for _ in range(repeats):
            started = time.perf_counter()
            a @ b
            _sync(device)
            best = min(best, time.perf_counter() - started)
    return 2 * n**3 / best


def model_flops_per_token(model: Any, *, training: bool = True) -> float:
    """Model FLOPs per token: 6N for a training step, 2N for a forward pass (Kaplan et al. / PaLM MFU).

    Convention: N counts every parameter of the model, frozen or not (tied embeddings once), and
    attention-score FLOPs are left out, as nanoGPT and the PaLM MFU definition do. With LoRA this is the
    usual convention but overstates the work done: the backward pass still flows through the frozen
    weights (2N for input gradients) but computes weight gradients only for the adapter, so a LoRA step
    does about 4N + 2N_trainable. Use :func:`lora_flops_per_token` for that figure.
    """
    n = sum(p.numel() for p in model.parameters())
    return (6 if training else 2) * float(n)


def model_shape(model: Any) -> dict[str, int]:
    """What executed_training_flops needs: decoder-layer linear weights, trainable weights, sizes."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    layers = base.get_decoder().layers
    body = sum(p.numel() for layer in layers for p in layer.parameters() if p.dim() == 2 and not p.requires_grad)
    return {
        "n_body": body,
        "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "layers": len(layers),
        "hidden": base.config.hidden_size,
        "vocab": base.get_output_embeddings().weight.shape[0],
    }


def executed_training_flops(shape: dict[str, int], rows: int, width: int, *, head_rows: int) -> float:
    """FLOPs a LoRA training micro-batch executes: linear layers on all ``rows x width`` positions (padding
    included; forward 2N, input gradients 2N, weight gradients 2T for the adapter only, plus the adapter's own
    forward and input gradient 4T), causal attention scores (QK^T and AV: 2*W^2*h a row forward, twice that
    backward), and the output layer on ``head_rows`` rows (forward and input gradient; its weight is frozen)."""
    positions = rows * width
    linear = positions * (4 * shape["n_body"] + 6 * shape["trainable"])
    attention = shape["layers"] * 3 * 2 * rows * width**2 * shape["hidden"]
    head = head_rows * 4 * shape["vocab"] * shape["hidden"]
    return float(linear + attention + head)


def lora_flops_per_token(model: Any) -> float:
    """FLOPs per token a LoRA training step actually does: forward 2N + input gradients 2N + weight grads 2T."""
    n = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return 4.0 * n + 2.0 * trainable


def stratified_sample(items: Sequence[T], keys: Sequence[str], limit: int | None, *, seed: int = 0) -> list[T]:
    """A seeded subsample of ``limit`` items keeping each key's share (largest remainders), in input order."""
    if limit is None or limit >= len(items):
        return list(items)
    groups: dict[str, list[int]] = defaultdict(list)
    for i, key in enumerate(keys):
        groups[key].append(i)
    rng = random.Random(seed)
    quotas = {k: limit * len(v) / len(items) for k, v in groups.items()}
    take = {k: int(q) for k, q in quotas.items()}
    for k in sorted(quotas, key=lambda k: take[k] - quotas[k])[: limit - sum(take.values())]:
        take[k] += 1
    chosen: list[int] = []
    for k, members in groups.items():
        chosen += rng.sample(members, take[k])
    return [items[i] for i in sorted(chosen)]


def run_child(script: str | Path, args: Sequence[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``script --child ARGS --result FILE`` in a fresh Python process (its own ``ru_maxrss``, allocator and
    environment: ``env`` is added to this one's) and return the JSON the child wrote to FILE."""
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.json"
        cmd = [sys.executable, str(script), "--child", *args, "--result", str(result)]
        subprocess.run(cmd, check=True, env={**os.environ, **(env or {})})
        return json.loads(result.read_text())


def command_line(script: str | Path, argv: Sequence[str] | None) -> str:
    """The command that reproduces this run, e.g. ``python bench/signal_cost.py runs/bias --limit 96``."""
    path = Path(script).resolve()
    try:
        shown = str(path.relative_to(Path.cwd()))
    except ValueError:
        shown = str(path)
    args = list(sys.argv[1:] if argv is None else argv)
    return shlex.join(["python", shown, *args])


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def append_section(
    path: str | Path, title: str, command: str, machine: dict[str, str], body: str, *, settings: dict | None = None
) -> str:
    """Append a dated section (command, machine, settings, body) to a markdown file; returns the section."""
    stamp = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    lines = [f"## {title} ({stamp})", "", "```bash", command, "```", ""]
    lines.append("Machine: " + "; ".join(f"{k}: {v}" for k, v in machine.items()))
    if settings:
        lines += ["", "Settings: " + "; ".join(f"{k}={v}" for k, v in settings.items())]
    lines += ["", body.rstrip(), "", ""]
    section = "\n".join(lines)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    needs_title = not path.is_file() or path.stat().st_size == 0
    with path.open("a", encoding="utf-8") as out:
        if needs_title:
            out.write("# forgetfilter benchmarks\n\nWritten by the scripts in bench/; newest sections last.\n\n")
        out.write(section)
    return section
