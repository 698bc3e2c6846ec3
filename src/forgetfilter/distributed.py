"""Several processes, one run: the process group, each process's share of the work, and writes by one process.

A launcher (``torchrun --nproc_per_node N``, or ``accelerate launch`` on GPUs) starts N copies of the command with
``WORLD_SIZE=N`` in their environment; the first helper called here joins them through accelerate (gloo on CPUs,
NCCL on GPUs). Every process runs the same recipe on the same data: training splits each micro-batch's rows across
processes and sums the gradients (``shard_rows``, ``sum_gradients``), scoring splits the batches and gathers the
per-example values back into input order (``balanced_shard``, ``gather_by_index``), and only the main process writes
files (``on_main``). Without ``WORLD_SIZE`` > 1 every helper is a no-op that returns its input, so a one-process run
computes exactly what it did before this module existed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from forgetfilter.errors import ConfigError, ForgetFilterError

T = TypeVar("T")
TIMEOUT_ENV = "FORGETFILTER_DIST_TIMEOUT_S"  # seconds to wait for the others at the rendezvous and at each collective
TIMEOUT_S = 1800  # torch's own default; the main process alone writes outputs and merges while the others wait
SHARDED_ENV = {"ACCELERATE_USE_FSDP": "FSDP", "ACCELERATE_USE_DEEPSPEED": "DeepSpeed"}  # set by accelerate launch
_STATE: dict[str, Any] = {}  # the Accelerator once started (one per process)


def world_size() -> int:
    """Processes in this run, from the launcher's ``WORLD_SIZE`` (1 when not launched by one)."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        raise ConfigError(f"WORLD_SIZE must be a whole number, got {os.environ['WORLD_SIZE']!r}") from None


def launched() -> bool:
    return world_size() > 1


def accelerator() -> Any:
    """The process group's ``accelerate.Accelerator``, started on first use; None in a one-process run."""
    if not launched():
        return None
    if "accelerator" not in _STATE:
        _STATE["accelerator"] = _start()
    return _STATE["accelerator"]


def _start() -> Any:
    """Join the launcher's process group; a clear error naming the rendezvous when that fails."""
    import datetime

    import torch
    from accelerate import Accelerator
    from accelerate.utils import InitProcessGroupKwargs

    on_cpu = os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true") or not torch.cuda.is_available()
    sharded = [name for var, name in SHARDED_ENV.items() if os.environ.get(var, "").lower() == "true"]
    if sharded and on_cpu:
        raise ConfigError(
            f"{sharded[0]} shards the model across GPUs and accelerate runs it on CUDA only; on CPUs launch "
            "without an FSDP/DeepSpeed config (plain data parallel: torchrun --nproc_per_node N -m forgetfilter ...)"
        )
    where = f"{os.environ.get('MASTER_ADDR', '?')}:{os.environ.get('MASTER_PORT', '?')}"
    try:
        # on CPUs accelerate joins a multi-process group only when told cpu=True (else each process runs alone)
        timeout = InitProcessGroupKwargs(timeout=datetime.timedelta(seconds=_timeout_s()))
        acc = Accelerator(cpu=on_cpu, kwargs_handlers=[timeout])
    except (RuntimeError, ValueError, OSError) as exc:
        detail = " ".join(str(exc).split())[:300].rstrip(".")
        raise ConfigError(
            f"cannot start the process group of {world_size()} processes (rank {os.environ.get('RANK', '?')}, "
            f"rendezvous {where}): {detail}. Launch with torchrun --nproc_per_node N -m forgetfilter ... "
            "(see docs/scaling.md)"
        ) from None
    if acc.num_processes != world_size():
        raise ConfigError(
            f"WORLD_SIZE={world_size()} but accelerate joined {acc.num_processes} process(es) "
            f"({acc.distributed_type}); launch with torchrun --nproc_per_node N -m forgetfilter ..."
        )
    import atexit

    atexit.register(_stop)
    return acc


def _timeout_s() -> float:
    value = os.environ.get(TIMEOUT_ENV, str(TIMEOUT_S))
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if seconds <= 0:
        raise ConfigError(f"{TIMEOUT_ENV} must be a positive number of seconds, got {value!r}")
    return seconds


def _stop() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def rank() -> int:
    acc = accelerator()
    return acc.process_index if acc is not None else 0


def is_main() -> bool:
    return rank() == 0


def shard_rows(items: Sequence[T]) -> list[T]:
    """This process's rows of one micro-batch: every ``world_size``-th row from its rank (may be empty)."""
    if not launched():
        return items  # type: ignore[return-value]  # the same list: one process computes as before
    return list(items[rank() :: world_size()])


def balanced_shard(costs: Sequence[float]) -> list[int]:
    """Indices of the work items (e.g. scoring batches) this process takes, so every process gets about the same
    total cost: longest first, each to the least loaded process (ties to the lowest rank). Deterministic, so the
    processes agree without talking. Contiguous halves of a length-sorted list would put every long batch on one."""
    if not launched():
        return list(range(len(costs)))
    me = rank()
    return [i for i, owner in enumerate(owners(costs, world_size())) if owner == me]


def owners(costs: Sequence[float], processes: int) -> list[int]:
    """The process each work item goes to (see ``balanced_shard``).

    >>> owners([1, 5, 2, 2], 2)
    [1, 0, 1, 1]
    """
    loads = [0.0] * processes
    owner = [0] * len(costs)
    for index in sorted(range(len(costs)), key=lambda i: (-costs[i], i)):
        owner[index] = min(range(processes), key=lambda r: (loads[r], r))
        loads[owner[index]] += costs[index]
    return owner


def gather_by_index(values: dict[int, T]) -> dict[int, T]:
    """Every process's ``{index: value}`` merged, on every process (values are pickled, so floats come back
    bit for bit)."""
    if not launched():
        return values
    from accelerate.utils import gather_object

    merged: dict[int, T] = {}
    for part in gather_object([values]):
        merged.update(part)
    return merged


def sum_over_processes(*values: float) -> tuple[float, ...]:
    """Scalars summed over the processes (float64), the same on every process."""
    if not launched():
        return values
    import torch
    import torch.distributed as dist

    tensor = torch.tensor(values, dtype=torch.float64, device=accelerator().device)
    dist.all_reduce(tensor)
    return tuple(float(v) for v in tensor.tolist())


def sum_gradients(params: Sequence[Any]) -> None:
    """Sum the gradients of ``params`` over the processes in place (one flat all-reduce); a parameter without a
    gradient on this process contributes zeros. Each process's loss is already divided by the global batch's
    target-token count, so the sum is the one-process gradient."""
    if not launched():
        return
    import torch
    import torch.distributed as dist

    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    flat = torch.cat([p.grad.reshape(-1) for p in params])
    dist.all_reduce(flat)
    offset = 0
    for p in params:
        p.grad.copy_(flat[offset : offset + p.numel()].view_as(p.grad))
        offset += p.numel()


def broadcast(value: T) -> T:
    """The main process's ``value``, on every process."""
    if not launched():
        return value
    from accelerate.utils import broadcast_object_list

    return broadcast_object_list([value if is_main() else None])[0]


def on_main(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``function`` on the main process only (a write, a decision that must be the same everywhere) and return
    its result on every process; when it raises there, every process raises (a user error as the same type and
    message), so none is left waiting for the others."""
    if not launched():
        return function(*args, **kwargs)
    outcome: tuple[str, Any] = ("ok", None)
    if is_main():
        try:
            outcome = ("ok", function(*args, **kwargs))
        except ForgetFilterError as exc:
            outcome = ("user", exc)
        except Exception as exc:  # noqa: BLE001 - re-raised below on every process
            outcome = ("error", f"{type(exc).__name__}: {exc}")
            broadcast(outcome)
            raise
    kind, value = broadcast(outcome)
    if kind == "user":
        raise value
    if kind == "error":
        raise RuntimeError(f"the main process failed: {value}")
    return value


def barrier() -> None:
    if launched():
        accelerator().wait_for_everyone()
