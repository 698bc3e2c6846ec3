"""Training throughput: forgetfilter's session against a plain Hugging Face Trainer, same model, data and settings.

Both sides finetune a fresh LoRA adapter (the authors' reference: r=8, alpha=16, dropout 0.05 on q_proj/v_proj;
AdamW, lr, no warm-up, linear decay, batch size, gradient accumulation, max_length from SessionSettings) on
the same ``--limit`` examples for ``--steps`` optimizer steps, in this one process:

- forgetfilter: ``forgetfilter.training.train_session`` (length-grouped batches, output layer at response
  positions only, loss on response tokens);
- Trainer: ``transformers.Trainer`` with DataCollatorForSeq2Seq padding to the longest example of each batch,
  its own length grouping (``train_sampling_strategy="group_by_length"``), the model's own loss on response
  tokens (labels -100 elsewhere), in the same dtype (the same weights; bf16 autocast only where forgetfilter's
  session would use it).

Tokens are counted the same way for both: non-pad input tokens (attention mask) seen by the transformer
backbone, by a forward hook; time runs from the end of the first optimizer step (a warm-up) to the end of
the last. The Trainer keeps its own default optimizer (fused AdamW; the adapter is too small for it to matter).
MFU divides the FLOPs each side actually executed by its time and this machine's peak, measured with a large
matmul in the dtype training computes in. FLOPs are counted by hooks on the real batches
(machine.executed_training_flops): the linear layers on every input position, padding included (forward 2N,
input gradients 2N, weight gradients only for the trainable LoRA weights), causal attention scores, and the
output layer only on the rows it ran on (response positions for forgetfilter, every position for the Trainer).
The 6N convention is shown beside it for comparison with older figures.

    python bench/train_throughput.py --data runs/bias-data/d_noisy.jsonl --limit 128 --steps 8
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from machine import (
    RESULTS_MD,
    append_section,
    command_line,
    describe_machine,
    executed_training_flops,
    markdown_table,
    model_flops_per_token,
    model_shape,
    peak_flops,
    stratified_sample,
)

from forgetfilter.examples import Example
from forgetfilter.models import LoraSettings
from forgetfilter.training import SessionSettings


@dataclass
class Measured:
    """Tokens and seconds after the first optimizer step (steady state; the first step is a warm-up)."""

    side: str
    steps: int
    tokens: int
    seconds: float
    flops_6n: float = 0.0  # per token
    flops_executed: float = 0.0  # total over the timed steps
    padded_tokens: int = 0

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0


class TokenCounter:
    """Counts non-pad tokens entering the transformer backbone and the FLOPs executed on them (forward hooks on
    the decoder and the output layer); ``tick()`` after each optimizer step records (time, tokens, FLOPs)."""

    def __init__(self, model: Any) -> None:
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        self.shape = model_shape(model)
        self.tokens = self.padded = 0
        self.flops = 0.0
        self.ticks: list[tuple[float, int, float, int]] = []
        self.handles = [
            base.get_decoder().register_forward_pre_hook(self._hook, with_kwargs=True),
            base.get_output_embeddings().register_forward_pre_hook(self._head_hook),
        ]

    def tick(self, *args: Any, **kwargs: Any) -> None:
        self.ticks.append((time.perf_counter(), self.tokens, self.flops, self.padded))

    def measured(self, side: str) -> Measured:
        """Throughput between the end of the first and the last optimizer step."""
        for handle in self.handles:
            handle.remove()
        if len(self.ticks) < 2:
            raise SystemExit("--steps must be at least 2 (the first step is not timed)")
        (t0, n0, f0, p0), (t1, n1, f1, p1) = self.ticks[0], self.ticks[-1]
        return Measured(side, len(self.ticks) - 1, n1 - n0, t1 - t0, flops_executed=f1 - f0, padded_tokens=p1 - p0)

    def _hook(self, module: Any, args: tuple, kwargs: dict) -> None:
        mask = kwargs.get("attention_mask")
        ids = kwargs.get("input_ids", args[0] if args else None)
        self.tokens += int(mask.sum()) if mask is not None else int(ids.numel())
        if torch_grad_enabled():
            rows, width = ids.shape
            self.padded += rows * width
            self.flops += executed_training_flops(self.shape, rows, width, head_rows=0)

    def _head_hook(self, module: Any, args: tuple) -> None:
        if torch_grad_enabled():
            self.flops += executed_training_flops(self.shape, 0, 0, head_rows=args[0].shape[:-1].numel())


def torch_grad_enabled() -> bool:
    import torch

    return torch.is_grad_enabled()


def fresh_model(name: str | None, dtype: str, device: str | None, seed: int) -> tuple[Any, Any]:
    """The base model with a new LoRA adapter, initialised identically for every side."""
    import torch

    from forgetfilter.models import add_lora, load_model

    model, tokenizer = load_model(name, dtype=dtype, device=device)
    torch.manual_seed(seed)
    return add_lora(model, LoraSettings()), tokenizer


def warm_up(model: Any, tokenizer: Any, examples: Sequence[Example], max_length: int) -> None:
    """One untimed forward and backward pass (thread pools, allocator), then gradients cleared."""
    from forgetfilter.batching import collate, tokenize

    device = next(model.parameters()).device
    batch = collate([tokenize(tokenizer, ex, max_length=max_length) for ex in examples[:2]], tokenizer.pad_token_id)
    model.train()
    model(**{k: v.to(device) for k, v in batch.items()}).loss.backward()
    model.zero_grad(set_to_none=True)


def run_forgetfilter(model: Any, tokenizer: Any, examples: Sequence[Example], settings: SessionSettings) -> Measured:
    from forgetfilter.training import train_session

    counter = TokenCounter(model)
    result = train_session(model, tokenizer, examples, settings, on_step=counter.tick, desc="forgetfilter")
    if counter.tokens != result.tokens:
        raise RuntimeError(f"token counts disagree: hook {counter.tokens}, train_session {result.tokens}")
    return counter.measured("forgetfilter")


def run_trainer(model: Any, tokenizer: Any, examples: Sequence[Example], settings: SessionSettings) -> Measured:
    """A plain Trainer run, timed by a callback at the end of each optimizer step."""
    import torch
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainerCallback, TrainingArguments

    from forgetfilter.batching import tokenize

    counter = TokenCounter(model)

    class Clock(TrainerCallback):
        def on_step_end(self, *args: Any, **kwargs: Any) -> None:
            counter.tick()

    features = []
    for ex in examples:
        item = tokenize(tokenizer, ex, max_length=settings.max_length)
        labels = [-100] * item.response_start + item.input_ids[item.response_start :]
        features.append({"input_ids": item.input_ids, "attention_mask": [1] * len(item.input_ids), "labels": labels})
    from forgetfilter.training import _autocast

    device = next(model.parameters()).device
    bf16 = _autocast(device, settings.bf16).fast_dtype == torch.bfloat16 and _autocast(device, settings.bf16)._enabled
    with tempfile.TemporaryDirectory(prefix="bench-trainer-") as out:
        args = TrainingArguments(
            output_dir=out,
            per_device_train_batch_size=settings.batch_size,
            gradient_accumulation_steps=settings.grad_accum,
            learning_rate=settings.lr,
            lr_scheduler_type="linear",
            warmup_steps=0,
            weight_decay=0.0,
            max_grad_norm=1.0,
            max_steps=settings.max_steps,
            train_sampling_strategy="group_by_length",
            seed=settings.seed,
            bf16=bf16,
            use_cpu=device.type == "cpu",
            logging_strategy="no",
            save_strategy="no",
            eval_strategy="no",
            report_to="none",
            disable_tqdm=True,
            dataloader_num_workers=0,
        )
        collator = DataCollatorForSeq2Seq(tokenizer, padding="longest", label_pad_token_id=-100)
        trainer = Trainer(model=model, args=args, data_collator=collator, train_dataset=features, callbacks=[Clock()])
        trainer.train()
    return counter.measured("plain Trainer")


def render(results: list[Measured], peak: float) -> str:
    base = results[-1].tokens_per_s
    rows = [
        [
            m.side,
            m.steps,
            m.tokens,
            f"{m.padded_tokens / max(m.tokens, 1):.2f}",
            f"{m.seconds:.1f}",
            f"{m.tokens_per_s:.0f}",
            f"{m.tokens_per_s / base:.2f}x",
            f"{m.flops_executed / m.seconds / 1e9:.1f}",
            f"{m.flops_executed / m.seconds / peak:.1%}",
            f"{m.tokens_per_s * m.flops_6n / peak:.1%}",
        ]
        for m in results
    ]
    header = [
        "side",
        "timed steps",
        "tokens",
        "padded/real",
        "seconds",
        "tokens/s",
        "vs Trainer",
        "executed GFLOP/s",
        "MFU (executed)",
        "6N convention",
    ]
    ratio = results[0].tokens_per_s / base
    mfu = results[0].flops_executed / results[0].seconds / peak
    return (
        f"{markdown_table(header, rows)}\n\nPeak measured by matmul: {peak / 1e9:.1f} GFLOP/s. forgetfilter runs at "
        f"{ratio:.2f}x the length-grouped plain Trainer's tokens/s (target >= 1.5x) at {mfu:.1%} MFU by executed "
        "FLOPs (target >= 50%).\n\nExecuted FLOPs per micro-batch of B rows padded to W tokens, h hidden, l layers, "
        "N_body linear weights of the decoder layers, T trainable LoRA weights, V vocabulary, R rows the output "
        "layer ran on: B*W*(4*N_body + 6*T) + l*3*2*B*W^2*h (causal attention scores, forward and backward) "
        "+ R*4*V*h (output layer forward and input gradient; its weight is frozen)."
    )


def main(argv: list[str] | None = None) -> list[Measured]:
    defaults = SessionSettings()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="training data (any supported format)")
    parser.add_argument("--model", default=None, help="hub id, folder or .gguf (default: SmolLM2-135M-Instruct)")
    parser.add_argument("--limit", type=int, default=128, help="examples, stratified by role (0: all)")
    parser.add_argument("--steps", type=int, default=8, help="optimizer steps for each side")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--grad-accum", type=int, default=defaults.grad_accum)
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--max-length", type=int, default=defaults.max_length)
    parser.add_argument("--dtype", default="auto", help="weights' dtype: auto, float32, bfloat16")
    parser.add_argument("--device", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--peak-size", type=int, default=None, help="matmul size for the peak (default 2048 CPU)")
    parser.add_argument("--out-md", type=Path, default=RESULTS_MD, help="markdown file to append the results to")
    args = parser.parse_args(argv)

    import torch

    from forgetfilter.data.formats import read_examples
    from forgetfilter.models import resolve_model

    model_name = resolve_model(args.model)
    examples = list(read_examples(args.data).examples)
    examples = stratified_sample(
        examples, [ex.role or "unknown" for ex in examples], args.limit or None, seed=args.seed
    )
    settings = SessionSettings(
        max_steps=args.steps,
        batch_size=args.batch_size,
        grad_accum=args.grad_accum,
        lr=args.lr,
        max_length=args.max_length,
        seed=args.seed,
        checkpoint_every=0,
    )
    results = []
    for run in (run_forgetfilter, run_trainer):
        model, tokenizer = fresh_model(model_name, args.dtype, args.device, args.seed)
        warm_up(model, tokenizer, examples, args.max_length)
        measured = run(model, tokenizer, examples, settings)
        measured.flops_6n = model_flops_per_token(model)
        results.append(measured)
        device = next(model.parameters()).device
        weights = next(model.parameters()).dtype
        del model
    from forgetfilter.training import _autocast

    autocast = _autocast(device, settings.bf16)
    compute_dtype = torch.bfloat16 if autocast._enabled and autocast.fast_dtype == torch.bfloat16 else weights
    peak = peak_flops(compute_dtype, device, size=args.peak_size)
    body = render(results, peak)
    print(body)
    settings_md = {
        "model": model_name,
        "examples": len(examples),
        "steps": args.steps,
        "batch_size": args.batch_size,
        "grad_accum": args.grad_accum,
        "lr": args.lr,
        "max_length": args.max_length,
        "lora": LoraSettings(),
        "compute dtype": str(compute_dtype).replace("torch.", ""),
    }
    machine = describe_machine(compute_dtype, device)
    append_section(
        args.out_md, "Training throughput", command_line(__file__, argv), machine, body, settings=settings_md
    )
    return results


if __name__ == "__main__":
    main()
