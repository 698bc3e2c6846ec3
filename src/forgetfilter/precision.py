"""Which number format and how many threads to compute in, decided per machine by a measurement.

``dtype: auto`` stores the frozen base weights in bf16 where bf16 is fast (a CUDA GPU that supports it, or a CPU
with bf16 units whose bf16 matmul a short probe confirms to be faster), else in fp32. The LoRA adapter and its
optimizer state stay in fp32 whatever carries the base weights (peft upcasts adapters), so this is mixed
precision, not bf16 training. On CPUs without bf16 units bf16 matmuls are emulated and can be many times slower:
there ``auto`` keeps fp32. An explicit dtype always wins.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from forgetfilter.errors import ConfigError

BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16", "bf16")  # x86 AMX / AVX512-BF16; "bf16" is the aarch64 feature
MIN_SPEEDUP = 1.25  # bf16 must beat fp32 by this factor in the probe to be chosen
_PROBE_SHAPE = (1024, 576, 1536)  # tokens x hidden -> intermediate: the shape of a small model's MLP matmul
_DTYPE_NAMES = {
    "float32": "float32",
    "fp32": "float32",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "float16": "float16",
    "fp16": "float16",
}


@dataclass(frozen=True)
class Precision:
    """The weights' dtype for a run and why it was chosen (recorded in ``stages.json`` / ``versions.json``)."""

    dtype: str  # float32 | bfloat16 | float16: what the frozen base weights are stored and computed in
    reason: str
    device: str
    threads: int
    probe: dict[str, Any] = field(default_factory=dict)  # fp32/bf16 matmul GFLOP/s when a probe ran

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def canonical_dtype(dtype: str) -> str:
    """``auto`` or one of float32/bfloat16/float16 (aliases fp32, bf16, fp16 accepted)."""
    if dtype == "auto":
        return dtype
    try:
        return _DTYPE_NAMES[dtype]
    except KeyError:
        raise ConfigError(f"unknown dtype {dtype!r}; use auto, float32, bfloat16 or float16") from None


def cpu_name() -> str:
    for line in _cpuinfo().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def cpu_bf16_flags() -> list[str]:
    """The bf16 features this CPU reports in /proc/cpuinfo (empty where it reports none or has no such file)."""
    flags: set[str] = set()
    for line in _cpuinfo().splitlines():
        if line.startswith(("flags", "Features")):
            flags.update(line.split(":", 1)[1].split())
    return [flag for flag in BF16_CPU_FLAGS if flag in flags]


def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def use_all_cores() -> int:
    """Torch threads = the cores this process may run on, unless ``OMP_NUM_THREADS`` says otherwise.

    torch counts the machine's physical cores and ignores a ``taskset`` pin, which oversubscribes a pinned job.
    """
    import torch

    if not os.environ.get("OMP_NUM_THREADS"):
        available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        if torch.get_num_threads() != available:
            torch.set_num_threads(available)
    return torch.get_num_threads()


def choose_precision(dtype: str = "auto", device: str = "cpu") -> Precision:
    """Resolve ``dtype`` (``auto`` or an explicit name) for ``device`` ("cpu", "cuda", "cuda:1", ...)."""
    import torch

    dtype = canonical_dtype(dtype)
    threads = torch.get_num_threads()
    kind = device.split(":")[0]
    if dtype != "auto":
        return Precision(dtype, "set explicitly", device, threads)
    if kind == "cuda":
        if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
            return Precision("bfloat16", "CUDA device supports bf16", device, threads)
        return Precision("float32", "CUDA device without bf16 support", device, threads)
    if kind != "cpu":
        return Precision("float32", f"no bf16 probe for device type {kind!r}", device, threads)
    flags = cpu_bf16_flags()
    if not flags:
        return Precision("float32", f"CPU ({cpu_name()}) reports no bf16 units", device, threads)
    probe = cached_probe()
    speedup = probe["speedup"]
    if speedup >= MIN_SPEEDUP:
        reason = f"CPU bf16 units ({', '.join(flags)}): bf16 matmul {speedup:.2f}x fp32 in the probe"
        return Precision("bfloat16", reason, device, threads, probe)
    reason = f"CPU reports {', '.join(flags)} but bf16 matmul ran only {speedup:.2f}x fp32 (< {MIN_SPEEDUP})"
    return Precision("float32", reason, device, threads, probe)


def probe_key() -> str:
    """What the probe's answer depends on: the CPU, its flags, torch's version and the thread count."""
    import torch

    text = json.dumps([cpu_name(), cpu_bf16_flags(), torch.__version__, torch.get_num_threads(), _PROBE_SHAPE])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cached_probe(cache_file: Path | None = None) -> dict[str, Any]:
    """``measure_bf16_speedup()``, cached per machine key in the cache folder (a damaged cache is re-measured)."""
    return _cached(probe_key(), measure_bf16_speedup, ("speedup",), cache_file)


PROBES_FILE = "probes.json"  # a run folder's record of the probe answers its sessions used
_RUN_PROBES: ContextVar[tuple[Path, ...]] = ContextVar("run_probes", default=())
_MEASURED: dict[str, dict[str, Any]] = {}  # this process's answers: a probe is never timed twice in one process


@contextmanager
def run_probes(path: str | Path) -> Iterator[Path]:
    """Inside, probe answers are looked up first in ``path`` (a run folder's ``probes.json``) and every answer
    used is recorded there, so a rerun or a resumed run decides as it did the first time, whatever the machine's
    cache holds (an emptied cache, or another machine of the same CPU, flags, torch and threads: the probe's key).
    Nested runs (an experiment's filter) look in every file."""
    path = Path(path)
    token = _RUN_PROBES.set((path, *_RUN_PROBES.get()))
    try:
        yield path
    finally:
        _RUN_PROBES.reset(token)


def _read_entries(path: Path) -> dict[str, Any]:
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return entries if isinstance(entries, dict) else {}


def _store_entry(path: Path, key: str, entry: dict[str, Any]) -> None:
    """Add ``key`` to the JSON file at ``path`` atomically; a folder that cannot be written only loses the record."""
    if path.exists() and not path.is_file():  # never replace a device, a folder or a pipe
        return
    entries = _read_entries(path)
    if entries.get(key) == entry:
        return
    entries[key] = entry
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(entries, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)


def _cached(key: str, measure: Any, fields: tuple[str, ...], cache_file: Path | None = None) -> dict[str, Any]:
    """``measure()``'s dict under ``key``: from the active run folders' probes.json (``run_probes``), else this
    process's earlier answer, else the machine's cache (``precision-probe.json`` in the cache folder), else measured
    now. Every answer is recorded in the active run folders; the machine's cache and this process keep only the
    machine's own answers (measured here), so a run folder's answer stays with its run. An entry without float
    ``fields`` (damaged) does not count, and a folder that cannot be written only loses the record. ``source`` says
    where the answer came from: run folder, this process, machine cache or measured."""
    from forgetfilter.paths import cache_dir

    machine: Path | None
    try:
        machine = cache_file or cache_dir() / "precision-probe.json"
    except OSError:  # a cache folder that cannot be made: this process's answers and the run folders still count
        machine = None

    def valid(entry: Any) -> bool:
        return isinstance(entry, dict) and all(isinstance(entry.get(name), float) for name in fields)

    runs = _RUN_PROBES.get()
    found = next(((e, "run folder") for p in runs if valid(e := _read_entries(p).get(key))), None)
    memo = f"{machine}:{key}"
    if found is None and valid(_MEASURED.get(memo)):
        found = (_MEASURED[memo], "this process")
    if found is None and machine is not None and valid(entry := _read_entries(machine).get(key)):
        found = (entry, "machine cache")
    entry, source = found if found is not None else (measure(), "measured")
    entry = {k: v for k, v in entry.items() if k not in ("cached", "source")}
    if source != "run folder":
        _MEASURED[memo] = entry
    for path in (*runs, machine) if source == "measured" and machine is not None else runs:
        _store_entry(path, key, entry)
    return {**entry, "cached": source != "measured", "source": source}


def measure_bf16_speedup(repeats: int = 5) -> dict[str, Any]:
    """GFLOP/s of one small-model-sized linear layer in fp32 and bf16 (best of ``repeats``; about 0.1 s)."""
    import torch

    m, k, n = _PROBE_SHAPE
    flops = 2 * m * k * n
    generator = torch.Generator().manual_seed(0)
    rates = {}
    for name, dtype in (("float32", torch.float32), ("bfloat16", torch.bfloat16)):
        x = torch.randn(m, k, generator=generator).to(dtype)
        w = torch.randn(n, k, generator=generator).to(dtype)
        torch.nn.functional.linear(x, w)  # warm-up: kernel selection, first-touch allocation
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            torch.nn.functional.linear(x, w)
            best = min(best, time.perf_counter() - start)
        rates[name] = flops / max(best, 1e-9) / 1e9
    return {
        "fp32_gflops": round(rates["float32"], 1),
        "bf16_gflops": round(rates["bfloat16"], 1),
        "speedup": round(rates["bfloat16"] / rates["float32"], 3),
        "shape": list(_PROBE_SHAPE),
    }


def torch_dtype(name: str) -> Any:
    import torch

    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[canonical_dtype(name)]


ATTENTION = ("auto", "sdpa", "eager", "eager<=N")
_EAGER_UP_TO = re.compile(r"eager\s*<=\s*([0-9]+)")


def check_attention(value: Any) -> None:
    """``auto``, ``sdpa``, ``eager``, or ``eager<=N`` (eager for micro-batches of at most N tokens, sdpa above: the
    form a run records, ``attention_setting`` in stages.json, so that a rerun can pin an ``auto`` choice)."""
    if isinstance(value, str) and (value in ATTENTION[:3] or _eager_width(value)):
        return
    raise ConfigError(
        f"attention must be auto, sdpa, eager or eager<=N (N tokens, a positive whole number), got {value!r}"
    )


def _eager_width(value: str) -> int | None:
    match = _EAGER_UP_TO.fullmatch(value.strip())
    return int(match.group(1)) if match and int(match.group(1)) > 0 else None


def attention_setting(eager_up_to: int) -> str:
    """The setting that pins a choice: ``sdpa`` or ``eager<=N``."""
    return f"eager<={eager_up_to}" if eager_up_to > 0 else "sdpa"


def choose_training_attention(
    attention: str, *, device: str, dtype: Any, rows: int, max_width: int, heads: int, head_dim: int
) -> tuple[int, dict[str, Any]]:
    """Up to which micro-batch width (tokens) a training session runs ``eager`` attention (matmul, fp32 softmax,
    matmul) instead of torch's fused ``sdpa`` kernel, and the probe's figures when ``auto`` measured them.

    ``eager`` returns a width no batch exceeds, ``sdpa`` 0, ``eager<=N`` N. ``auto`` on a CPU times one layer's
    causal attention, forward and backward, with each kernel at ``rows`` rows, the model's heads and widths 64, 96,
    160, 256, ... (cached per machine and shape, and recorded in the run folder: ``run_probes``), from the narrowest
    up, and stops at the first width where eager is not at least
    MIN_ATTENTION_SPEEDUP faster or that covers ``max_width``: eager runs up to the last width it won. Measured here
    (Intel Xeon, AMX, bf16): torch's CPU flash-attention backward took 3.3x eager's time at 96 tokens and 0.6x at
    384, and eager keeps a rows x heads x width^2 probability matrix per layer for the backward pass, so wide
    batches stay on sdpa for time and memory. CUDA keeps sdpa; scoring always uses sdpa.
    """
    if attention == "eager":
        return max(max_width, 1), {}
    if (pinned := _eager_width(attention)) is not None:
        return pinned, {}
    if attention == "sdpa" or device.split(":")[0] != "cpu":
        return 0, {}
    eager_up_to, probes = 0, {}
    width = 64
    while True:
        shape = (rows, heads, width, head_dim)
        key = f"attention-{probe_key()}-{str(dtype).removeprefix('torch.')}-{'x'.join(map(str, shape))}"
        probe = _cached(key, lambda shape=shape: measure_attention(shape, dtype), ("sdpa_s", "eager_s"))
        probes[str(width)] = probe
        if probe["eager_s"] >= probe["sdpa_s"] / MIN_ATTENTION_SPEEDUP:
            break
        eager_up_to = width
        if width >= max_width:
            break
        width = 32 * math.ceil(width * 1.5 / 32)  # 64, 96, 160, 256, 384, 576, ...: a few probes up to any width
    return eager_up_to, {"widths": probes, "rows": rows, "dtype": str(dtype).removeprefix("torch.")}


def describe_attention(eager_up_to: int, max_width: int) -> str:
    """``sdpa``, ``eager``, or ``eager up to N tokens, sdpa above`` for the session's widths."""
    if eager_up_to <= 0:
        return "sdpa"
    if eager_up_to >= max_width:
        return "eager"
    return f"eager up to {eager_up_to} tokens, sdpa above"


MIN_ATTENTION_SPEEDUP = 1.1  # eager must beat the fused kernel by this factor in the probe to be chosen


def measure_attention(shape: tuple[int, int, int, int], dtype: Any, repeats: int = 3) -> dict[str, Any]:
    """Best-of-``repeats`` seconds of one causal attention forward + backward with each kernel (about 0.5 s)."""
    import torch
    import torch.nn.functional as F

    generator = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(shape, generator=generator).to(dtype).requires_grad_() for _ in range(3))
    width = shape[2]
    mask = torch.full((width, width), float("-inf")).triu(1).to(dtype)[None, None]

    def sdpa() -> Any:
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)

    def eager() -> Any:
        scores = (q @ k.transpose(-1, -2)) * (shape[-1] ** -0.5) + mask
        return torch.softmax(scores, dim=-1, dtype=torch.float32).to(dtype) @ v

    times = {}
    for name, function in (("sdpa", sdpa), ("eager", eager)):
        function().sum().backward()  # warm-up
        best = float("inf")
        for _ in range(repeats):
            started = time.perf_counter()
            function().sum().backward()
            best = min(best, time.perf_counter() - started)
        times[f"{name}_s"] = round(best, 6)
    return times
