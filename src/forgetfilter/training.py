"""One finetuning session: loss on response tokens, length-grouped batches, checkpoints and resume."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from forgetfilter import distributed, wrapped
from forgetfilter.batching import Tokenized, collate, length_grouped_batches, tokenize
from forgetfilter.errors import ConfigError
from forgetfilter.examples import Example
from forgetfilter.forward import logits_at
from forgetfilter.precision import (
    PROBES_FILE,
    attention_setting,
    check_attention,
    choose_training_attention,
    describe_attention,
    run_probes,
)

UNTIL: tuple[str, ...] = ("steps", "learned")


@dataclass(frozen=True)
class SessionSettings:
    """Hyper-parameters of one session (defaults: the authors' reference, scaled for a CPU)."""

    epochs: float = 2.0
    max_steps: int | None = None  # optimizer steps; overrides epochs when set
    batch_size: int = 8
    grad_accum: int = 2
    lr: float = 2e-4  # AdamW, no warm-up, linear decay to 0
    max_length: int = 384
    seed: int = 0
    # bf16 autocast of fp32 weights; None = on CUDA only. On a CPU the run's dtype decides instead: dtype auto
    # stores the frozen base weights in bf16 where a probe shows bf16 is faster (forgetfilter.precision)
    bf16: bool | None = None
    checkpoint_every: int = 50  # optimizer steps between checkpoints (0: none)
    # steps: train for epochs / max_steps. learned: train until an epoch's mean training loss improves on the
    # previous epoch's by less than `tolerance` (relative), at most `max_epochs` (the schedule spans max_epochs;
    # epochs does not apply). FilterConfig's S1 defaults to learned; a section that gives epochs or max_steps and
    # no until means steps (``given``).
    until: str = "steps"
    tolerance: float = 0.02
    max_epochs: float = 10.0
    gradient_checkpointing: bool = False  # recompute layer activations in backward: less memory, ~1/3 more compute
    # attention kernel while training: auto = eager for the micro-batch widths where a probe on this machine finds it
    # faster than sdpa (CPU; CUDA keeps sdpa), sdpa above; sdpa / eager throughout; or eager<=N (eager for
    # micro-batches of at most N tokens, sdpa above: what a run records as attention_setting, to pin an auto choice)
    attention: str = "auto"

    def __post_init__(self) -> None:
        from forgetfilter.validate import check_bool, check_choice, check_int, check_number

        check_number("epochs", self.epochs, above=0)
        check_int("max_steps", self.max_steps, minimum=1, optional=True)
        check_int("batch_size", self.batch_size, minimum=1)
        check_int("grad_accum", self.grad_accum, minimum=1)
        check_number("lr", self.lr, above=0)
        check_int("max_length", self.max_length, minimum=2)
        check_int("seed", self.seed, minimum=0)
        check_bool("bf16", self.bf16, optional=True)
        check_int("checkpoint_every", self.checkpoint_every, minimum=0)
        check_bool("gradient_checkpointing", self.gradient_checkpointing)
        check_choice("until", self.until, UNTIL)
        check_attention(self.attention)
        check_number("tolerance", self.tolerance, at_least=0, at_most=1)
        check_number("max_epochs", self.max_epochs, above=0)
        if self.until == "learned" and self.max_steps is not None:
            raise ConfigError(
                f"until learned trains until the loss stops improving (at most max_epochs = {self.max_epochs:g}), "
                f"so max_steps = {self.max_steps} does not apply: set until to steps to train a fixed number of steps"
            )

    @staticmethod
    def given(values: dict[str, Any]) -> dict[str, Any]:
        """The keys a config section gives, completed: a step count (``epochs`` or ``max_steps``) without ``until``
        means ``until: steps``, whatever the section's default (config_io.from_dict calls this)."""
        if ("epochs" in values or "max_steps" in values) and "until" not in values:
            return {**values, "until": "steps"}
        return values


@dataclass
class SessionResult:
    steps: int
    tokens: int
    seconds: float
    losses: list[float] = field(default_factory=list)
    learned_at_epoch: int | None = None  # until=learned: the epoch after which the loss stopped improving
    attention: str | None = None  # the attention kernel the session trained with, and the probe behind an auto choice
    attention_probe: dict[str, Any] = field(default_factory=dict)
    attention_setting: str | None = None  # the setting that repeats the choice: sdpa or eager<=N

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0


StepCallback = Callable[[int, Any], None]


def total_steps(n_examples: int, settings: SessionSettings) -> int:
    """Optimizer steps the schedule spans (with ``until: learned``, the cap of ``max_epochs``)."""
    if settings.until == "learned":
        return max(1, math.ceil(settings.max_epochs * steps_per_epoch(n_examples, settings)))
    if settings.max_steps is not None:
        return settings.max_steps
    per_epoch = math.ceil(n_examples / settings.batch_size)
    return max(1, math.ceil(settings.epochs * per_epoch / settings.grad_accum))


def steps_per_epoch(n_examples: int, settings: SessionSettings) -> int:
    """Optimizer steps in one pass over the data."""
    return max(1, math.ceil(math.ceil(n_examples / settings.batch_size) / settings.grad_accum))


def learned_epoch(losses: Sequence[float], per_epoch: int, tolerance: float) -> int | None:
    """The last whole epoch when the mean training loss improved on the epoch before by less than ``tolerance``
    (relative): the data is learned as far as this session can. None while it is still improving."""
    done = len(losses) // per_epoch
    if done < 2 or len(losses) % per_epoch:
        return None
    previous = sum(losses[-2 * per_epoch : -per_epoch]) / per_epoch
    current = sum(losses[-per_epoch:]) / per_epoch
    return done if previous - current < tolerance * abs(previous) else None


def _micro_batches(lengths: Sequence[int], settings: SessionSettings, needed: int) -> list[list[int]]:
    """Enough length-grouped micro-batches for ``needed`` of them, reshuffled each epoch."""
    batches: list[list[int]] = []
    epoch = 0
    while len(batches) < needed:
        batches.extend(length_grouped_batches(lengths, settings.batch_size, seed=settings.seed + epoch))
        epoch += 1
    return batches[:needed]


def _autocast(device: Any, enabled: bool | None) -> Any:
    import torch

    if enabled is None:
        enabled = device.type == "cuda" and torch.cuda.is_bf16_supported()
    if not enabled:
        return torch.autocast(device.type, enabled=False)
    return torch.autocast(device.type, dtype=torch.bfloat16)


def train_session(
    model: Any,
    tokenizer: Any,
    examples: Sequence[Example],
    settings: SessionSettings,
    *,
    out_dir: str | Path | None = None,
    on_step: StepCallback | None = None,
    desc: str = "train",
) -> SessionResult:
    """Finetune ``model`` in place on ``examples``; resumes from ``out_dir/checkpoint`` if present.

    ``on_step(step, model)`` runs after every optimizer step (e.g. to score learning curves).
    Launched in several processes (forgetfilter.distributed), every process calls this with the same arguments:
    each takes its share of every micro-batch, the gradients are summed, and only the main process writes.
    """
    import torch
    from tqdm.auto import tqdm

    from forgetfilter.dropout import use_fast_lora_dropout

    if not examples:
        raise ConfigError("cannot train on an empty dataset")
    torch.manual_seed(settings.seed + distributed.rank())  # rank 0 (and a one-process run) draws as before
    if next(model.parameters()).device.type == "cpu":
        use_fast_lora_dropout(model)  # same dropout, masks drawn 4 to a random number (forgetfilter.dropout)
    tokenized = [tokenize(tokenizer, ex, max_length=settings.max_length) for ex in examples]
    steps = total_steps(len(tokenized), settings)
    batches = _micro_batches([len(t.input_ids) for t in tokenized], settings, steps * settings.grad_accum)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=settings.lr, weight_decay=0.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: max(0.0, 1.0 - s / steps))
    # the model and optimizer themselves, unless an FSDP/DeepSpeed launch wraps them (forgetfilter.wrapped)
    runner, optimizer = wrapped.prepare(
        model, optimizer, grad_accum=settings.grad_accum, batch_size=settings.batch_size, curves=on_step is not None
    )
    device = next(runner.parameters()).device
    checkpoint = Path(out_dir) / "checkpoint" if out_dir is not None else None
    result = SessionResult(steps=0, tokens=0, seconds=0.0)
    if checkpoint is not None:
        for candidate in (checkpoint, checkpoint.with_name(checkpoint.name + ".old")):  # .old: killed mid-replace
            load = _load_wrapped if wrapped.active() else _load_checkpoint
            loaded = load(model, optimizer, scheduler, candidate) if candidate.is_dir() else None
            if loaded is not None:
                result = loaded
                break
    model.train()
    if settings.gradient_checkpointing:
        _set_gradient_checkpointing(model, True)
    scoring_attention = _attention(model)
    max_width = max(max(len(tokenized[i].input_ids) for i in batch) for batch in batches)
    with run_probes(checkpoint.parent / PROBES_FILE) if checkpoint is not None else nullcontext():
        switch, result.attention_probe = _training_attention(model, max_width, len(tokenized), settings, device)
    result.attention = describe_attention(switch, max_width) if switch is not None else scoring_attention
    result.attention_setting = attention_setting(switch) if switch is not None else None
    bar = tqdm(
        total=steps, initial=result.steps, desc=desc, unit="step", dynamic_ncols=True, disable=not distributed.is_main()
    )
    started = time.perf_counter() - result.seconds
    per_epoch = steps_per_epoch(len(tokenized), settings)
    for step in range(result.steps, steps):
        if settings.until == "learned":
            result.learned_at_epoch = learned_epoch(result.losses, per_epoch, settings.tolerance)
            if result.learned_at_epoch is not None:
                break
        group = batches[step * settings.grad_accum : (step + 1) * settings.grad_accum]
        loss, tokens = _optimizer_step(
            runner,
            optimizer,
            [[tokenized[i] for i in b] for b in group],
            tokenizer.pad_token_id,
            device,
            settings.bf16,
            attention=None
            if switch is None
            else lambda width: _set_attention(model, "eager" if width <= switch else "sdpa"),
        )
        scheduler.step()
        result.steps, result.tokens = step + 1, result.tokens + tokens
        result.seconds = time.perf_counter() - started
        result.losses.append(loss)
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.3f}", tok_s=f"{result.tokens_per_s:.0f}")
        if checkpoint is not None and settings.checkpoint_every and result.steps % settings.checkpoint_every == 0:
            save = _save_wrapped if wrapped.active() else _save_checkpoint
            save(model, optimizer, scheduler, result, checkpoint)
        if on_step is not None:
            paused = time.perf_counter()
            on_step(result.steps, model)
            model.train()
            started += time.perf_counter() - paused  # callback time is not training time
    bar.close()
    _set_attention(model, scoring_attention)
    if settings.gradient_checkpointing:
        _set_gradient_checkpointing(model, False)
    model.eval()
    return result


def _base(model: Any) -> Any:
    """The transformers model under a PEFT wrapper (or ``model`` itself)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def _attention(model: Any) -> str | None:
    """The attention implementation of ``model``'s transformers config (None for a model without one)."""
    return getattr(getattr(_base(model), "config", None), "_attn_implementation", None)


def _training_attention(
    model: Any, max_width: int, n_examples: int, settings: SessionSettings, device: Any
) -> tuple[int | None, dict[str, Any]]:
    """Up to which micro-batch width to train with eager attention (forgetfilter.precision), or None to keep the
    model's own kernel: a model not on sdpa, or one that cannot switch."""
    import torch

    base = _base(model)
    if _attention(model) != "sdpa" or not hasattr(base, "set_attn_implementation"):
        return None, {}
    config = base.config
    heads = getattr(config, "num_attention_heads", None)
    head_dim = getattr(config, "head_dim", None) or (config.hidden_size // heads if heads else None)
    if not heads or not head_dim:
        return None, {}
    weights = next(p.dtype for p in model.parameters() if not p.requires_grad)
    dtype = torch.bfloat16 if settings.bf16 and weights == torch.float32 else weights
    rows = max(1, min(settings.batch_size, n_examples) // distributed.world_size())
    return distributed.on_main(  # measured once; every process trains with the main process's choice
        choose_training_attention,
        settings.attention,
        device=str(device),
        dtype=dtype,
        rows=rows,
        max_width=max_width,
        heads=heads,
        head_dim=head_dim,
    )


def _set_attention(model: Any, implementation: str | None) -> None:
    if implementation is None or implementation == _attention(model):
        return
    _base(model).set_attn_implementation(implementation)


def _set_gradient_checkpointing(model: Any, enabled: bool) -> None:
    """Turn activation recomputation on or off (non-reentrant, so frozen inputs under LoRA need no hooks)."""
    base = _base(model)
    if not getattr(base, "supports_gradient_checkpointing", False):
        raise ConfigError(f"{type(base).__name__} does not support gradient checkpointing; set it to false")
    kwargs = {"use_reentrant": False}
    if hasattr(base, "activation_checkpointing_enable"):  # the name since transformers 5.x; the old one warns
        enable, disable = base.activation_checkpointing_enable, base.activation_checkpointing_disable
        enable(activation_checkpointing_kwargs=kwargs) if enabled else disable()
    elif enabled:
        base.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
    else:
        base.gradient_checkpointing_disable()


def _optimizer_step(
    model: Any,
    optimizer: Any,
    micro: list[list[Tokenized]],
    pad_id: int,
    device: Any,
    bf16: bool | None,
    attention: Callable[[int], None] | None = None,
) -> tuple[float, int]:
    """One optimizer step over accumulated micro-batches; loss is averaged over all response tokens.

    In several processes each computes its rows of every micro-batch, divided by the whole group's target-token
    count, and the summed gradients, loss and token count are the one-process ones (up to summation order).
    """
    import torch.nn.functional as F

    n_target = sum(item.response_length for batch in micro for item in batch)
    total_loss, total_tokens = 0.0, 0
    whole = wrapped.active()  # a wrapper (FSDP, DeepSpeed) runs the whole forward, on every process
    for rows_of_all in micro:
        items, weight = distributed.shard_rows(rows_of_all), 1.0
        if not items:  # fewer rows than processes: this one has none of this micro-batch
            if not whole:
                continue
            items, weight = rows_of_all[:1], 0.0  # a wrapper needs every process in every micro-batch
        batch = {k: v.to(device) for k, v in collate(items, pad_id).items()}
        if attention is not None:  # the kernel for this micro-batch's width
            attention(batch["input_ids"].shape[1])
        targets = batch["labels"][:, 1:]
        rows, cols = (targets != -100).nonzero(as_tuple=True)
        with wrapped.micro_batch(model):
            with _autocast(device, bf16):
                logits = logits_at(model, batch["input_ids"], batch["attention_mask"], rows, cols, whole=whole)
            loss = F.cross_entropy(logits.float(), targets[rows, cols], reduction="sum") / n_target
            wrapped.backward(loss if weight == 1.0 else loss * weight)
        total_loss += loss.item() * weight
        total_tokens += int(batch["attention_mask"].sum()) if weight else 0
    trainable = [p for p in model.parameters() if p.requires_grad]
    if distributed.launched():
        if not whole:  # a wrapper has averaged them already
            distributed.sum_gradients(trainable)
        total_loss, summed_tokens = distributed.sum_over_processes(total_loss, total_tokens)
        total_tokens = int(summed_tokens)
    wrapped.clip(model, trainable, 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return total_loss, total_tokens


def _save_checkpoint(model: Any, optimizer: Any, scheduler: Any, result: SessionResult, path: Path) -> None:
    """Trainable weights (safetensors), optimizer and scheduler state; written atomically, by the main process
    (every process holds the same weights), with every process's random generators."""
    import torch
    from safetensors.torch import save_file

    rng = _rng_states()
    if distributed.launched():
        per_rank = distributed.gather_by_index({distributed.rank(): rng})
        rng = {**per_rank[0], "rng_ranks": [per_rank[r] for r in sorted(per_rank)]}
    if not distributed.is_main():
        return
    tmp = path.with_name(path.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    trainable = {n: p.detach().contiguous().cpu() for n, p in model.named_parameters() if p.requires_grad}
    save_file(trainable, tmp / "trainable.safetensors")
    torch.save(
        {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), **rng},
        tmp / "optimizer.pt",
    )
    (tmp / "state.json").write_text(json.dumps(asdict(result)))  # last: its presence marks a complete checkpoint
    import shutil

    old = path.with_name(path.name + ".old")  # never a moment without one complete checkpoint on disk
    if path.exists():
        shutil.rmtree(old, ignore_errors=True)
        path.rename(old)
    tmp.rename(path)
    shutil.rmtree(old, ignore_errors=True)


def _load_checkpoint(model: Any, optimizer: Any, scheduler: Any, path: Path) -> SessionResult | None:
    """Restore a checkpoint; None (with a warning naming the file) when it is damaged, so the session starts over.

    Every file is read and checked before anything is applied, so a damaged checkpoint leaves the model as it was.
    """
    import warnings

    import torch
    from safetensors.torch import load_file

    try:
        weights = load_file(path / "trainable.safetensors")
        state = torch.load(path / "optimizer.pt", weights_only=True)
        result = SessionResult(**json.loads((path / "state.json").read_text()))
        named = dict(model.named_parameters())
        if set(weights) != {n for n, p in named.items() if p.requires_grad}:
            raise ValueError("its weights are not this adapter's")
        if any(weights[n].shape != named[n].shape for n in weights):
            raise ValueError("its weight shapes differ from this adapter's")
    except Exception as exc:  # noqa: BLE001 - any unreadable part means: train this session again
        warnings.warn(f"checkpoint {path} is damaged ({exc}); training this session from its start", stacklevel=2)
        return None
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    with torch.no_grad():
        for name, tensor in weights.items():
            named[name].copy_(tensor)
    _restore_rng_states(_own_rng_states(state))
    return result


def _save_wrapped(model: Any, optimizer: Any, scheduler: Any, result: SessionResult, path: Path) -> None:
    """A checkpoint of a wrapped session (accelerate's save_state), in ``_save_checkpoint``'s place."""
    wrapped.save_checkpoint(path, scheduler, asdict(result))


def _load_wrapped(model: Any, optimizer: Any, scheduler: Any, path: Path) -> SessionResult | None:
    state = wrapped.load_checkpoint(path, scheduler)
    return SessionResult(**state) if state is not None else None


def _own_rng_states(state: dict[str, Any]) -> dict[str, Any]:
    """This process's generators in a checkpoint: rank r's of a run in as many processes; else those at the top
    level (rank 0's), which a one-process run has always written and read."""
    per_rank = state.get("rng_ranks")
    if distributed.launched() and per_rank is not None and len(per_rank) == distributed.world_size():
        return per_rank[distributed.rank()]
    return state


def _rng_states() -> dict[str, Any]:
    """Every generator a session may draw from (torch CPU/CUDA, numpy, Python), in types ``weights_only`` loads."""
    import random

    import numpy as np
    import torch

    name, keys, pos, has_gauss, cached = np.random.get_state()
    states: dict[str, Any] = {
        "rng": torch.get_rng_state(),
        "rng_numpy": {
            "name": name,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "rng_python": random.getstate(),
    }
    if torch.cuda.is_available():
        states["rng_cuda"] = torch.cuda.get_rng_state_all()
    return states


def _restore_rng_states(state: dict[str, Any]) -> None:
    import random

    import numpy as np
    import torch

    torch.set_rng_state(state["rng"])
    if "rng_numpy" in state:  # checkpoints written before numpy/Python states were saved lack them
        saved = state["rng_numpy"]
        keys = saved["keys"].numpy().astype(np.uint32)
        np.random.set_state((saved["name"], keys, saved["pos"], saved["has_gauss"], saved["cached_gaussian"]))
    if "rng_python" in state:
        random.setstate(state["rng_python"])
    if "rng_cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["rng_cuda"])
