"""Training through accelerate's model wrapper: FSDP and DeepSpeed ZeRO-3 for base models that do not fit one GPU.

Plain data parallel (forgetfilter.distributed) keeps the whole model in every process and sums the LoRA gradients
itself. An accelerate config file with FSDP or DeepSpeed (``accelerate launch --config_file ...``) shards the base
weights instead; then the model and optimizer go through ``Accelerator.prepare``, every micro-batch runs through the
wrapper on every process, and the wrapper averages the gradients. ``FORGETFILTER_WRAP_MODEL=1`` takes this path with
DDP on any launch, which is how it is tested on CPUs. Without a wrapper every function here does what one process
always did.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from forgetfilter import distributed
from forgetfilter.errors import ConfigError

WRAP_ENV = "FORGETFILTER_WRAP_MODEL"  # "1": train through accelerate's DDP wrapper even without FSDP/DeepSpeed
_WRAPPERS: dict[int, Any] = {}  # id(model) -> its prepared wrapper, for saving the adapter after the session


def active() -> bool:
    """Whether this run trains through accelerate's wrapper (FSDP, DeepSpeed, or DDP asked for)."""
    acc = distributed.accelerator()
    if acc is None:
        return False
    return acc.distributed_type.name in ("FSDP", "DEEPSPEED") or os.environ.get(WRAP_ENV, "") == "1"


def prepare(model: Any, optimizer: Any, *, grad_accum: int, batch_size: int, curves: bool) -> tuple[Any, Any]:
    """(the model to run micro-batches through, the optimizer to step): the wrapper and accelerate's optimizer, or
    ``model`` and ``optimizer`` themselves. ``batch_size`` is the global micro-batch (rows over all processes)."""
    if not active():
        return model, optimizer
    if curves:
        raise ConfigError(
            "learning curves (curve_every > 0) are scored during training, which FSDP/DeepSpeed sessions do not "
            "support; set curve_every: 0 or train with plain data parallel (no FSDP/DeepSpeed config)"
        )
    acc = distributed.accelerator()
    acc.gradient_accumulation_steps = grad_accum  # DeepSpeed steps inside the last micro-batch's backward
    plugin = acc.state.deepspeed_plugin
    if plugin is not None:  # DeepSpeed reads both from its config; set per session (S1 and S1+ differ)
        plugin.deepspeed_config["gradient_accumulation_steps"] = grad_accum
        plugin.deepspeed_config["train_micro_batch_size_per_gpu"] = -(-batch_size // acc.num_processes)
    wrapper, optimizer = acc.prepare(model, optimizer)
    _WRAPPERS[id(model)] = wrapper
    return wrapper, optimizer


@contextlib.contextmanager
def micro_batch(wrapper: Any) -> Iterator[None]:
    """One micro-batch of an optimizer step: gradients are synchronised on the last one only."""
    if not active():
        yield
        return
    with distributed.accelerator().accumulate(wrapper):
        yield


def backward(loss: Any) -> None:
    """``loss.backward()``; through a wrapper, which averages over processes and (accelerate) divides by the
    accumulation steps, the loss is scaled up by both so the gradient is still the global batch's sum / tokens."""
    if not active():
        loss.backward()
        return
    acc = distributed.accelerator()
    acc.backward(loss * acc.num_processes * acc.gradient_accumulation_steps)


def clip(wrapper: Any, trainable: Sequence[Any], max_norm: float) -> None:
    """Clip the gradient norm; FSDP needs every parameter of the wrapper to compute the norm over its shards."""
    if not active():
        import torch

        torch.nn.utils.clip_grad_norm_(trainable, max_norm)
        return
    distributed.accelerator().clip_grad_norm_(list(wrapper.parameters()), max_norm)


def save_adapter(model: Any, folder: Path) -> None:
    """The LoRA adapter saved as one process saves it (``save_pretrained``); through a wrapper its weights are
    gathered from every process first (a collective: every process calls this), then the main process writes."""
    wrapper = _WRAPPERS.pop(id(model), None) if active() else None
    if wrapper is None:
        distributed.on_main(model.save_pretrained, str(folder))
        return
    acc = distributed.accelerator()
    state = acc.get_state_dict(wrapper)
    distributed.on_main(model.save_pretrained, str(folder), state_dict=state)
    acc.free_memory()  # drop accelerate's references to this session's wrapper and optimizer


@contextlib.contextmanager
def whole_model() -> Iterator[None]:
    """Models loaded inside are whole in this process (for scoring): under DeepSpeed ZeRO-3 transformers would
    otherwise partition every model it loads across the processes (accelerate registers the ZeRO-3 config globally)."""
    if not active():
        yield
        return
    from transformers.integrations import deepspeed as hf_deepspeed

    saved = hf_deepspeed._hf_deepspeed_config_weak_ref  # no public getter; unset/set are public
    hf_deepspeed.unset_hf_deepspeed_config()
    try:
        yield
    finally:
        hf_deepspeed._hf_deepspeed_config_weak_ref = saved


def save_checkpoint(path: Path, scheduler: Any, state: dict[str, Any]) -> None:
    """accelerate's ``save_state`` (model and optimizer shards, every process's random generators), the scheduler and
    ``state`` (the session's progress), made complete and renamed into place as one-process checkpoints are."""
    import torch

    acc = distributed.accelerator()
    tmp, old = path.with_name(path.name + ".tmp"), path.with_name(path.name + ".old")
    distributed.on_main(shutil.rmtree, tmp, ignore_errors=True)
    acc.save_state(str(tmp))
    distributed.barrier()

    def finish() -> None:
        torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
        (tmp / "state.json").write_text(json.dumps(state))  # last: its presence marks a complete checkpoint
        if path.exists():
            shutil.rmtree(old, ignore_errors=True)
            path.rename(old)
        tmp.rename(path)
        shutil.rmtree(old, ignore_errors=True)

    distributed.on_main(finish)


def load_checkpoint(path: Path, scheduler: Any) -> dict[str, Any] | None:
    """The session's progress from a ``save_checkpoint`` folder, restored into the prepared objects; None when the
    folder holds no complete checkpoint. One that cannot be restored (damaged, or saved by another number of
    processes) is an error naming it: restoring may have changed some weights already."""
    import torch

    if not (path / "state.json").is_file():
        return None
    try:
        state = json.loads((path / "state.json").read_text())
        distributed.accelerator().load_state(str(path))
        scheduler.load_state_dict(torch.load(path / "scheduler.pt", weights_only=True))
    except Exception as exc:  # noqa: BLE001 - any failure: the user decides (delete it, or relaunch as saved)
        detail = " ".join(str(exc).split())[:300]
        raise ConfigError(
            f"cannot restore the checkpoint {path} ({type(exc).__name__}: {detail}); relaunch with the number of "
            "processes and the accelerate config it was saved with, or delete it to train this session again"
        ) from None
    return state
