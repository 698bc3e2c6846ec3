"""Which way of computing in bf16 is fastest here: one scoring forward and one LoRA training step, per mode.

Modes, all on the same real batch (``--batch`` examples cut or padded to ``--tokens`` tokens) with the default LoRA
adapter (its weights and AdamW state always fp32):

- ``fp32``: fp32 base weights, no autocast;
- ``autocast``: fp32 base weights under ``torch.autocast(bfloat16)``;
- ``bf16 weights``: base weights stored in bf16 (what ``dtype: auto`` picks on a bf16 CPU), no autocast;
- ``bf16 weights + autocast``.

Each mode is timed ``--repeats`` times, interleaved with the others, best kept.

    python bench/precision_modes.py --data runs/bias-data/d_noisy.jsonl --batch 8 --tokens 256
"""

from __future__ import annotations

import argparse
import contextlib
import time
from pathlib import Path
from typing import Any

from machine import RESULTS_MD, append_section, command_line, describe_machine, markdown_table

MODES = ("fp32", "autocast", "bf16 weights", "bf16 weights + autocast")


def _batch(tokenizer: Any, examples: list, batch: int, tokens: int) -> dict[str, Any]:
    import torch

    text = " ".join(ex.prompt_text + " " + ex.response for ex in examples)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if len(ids) < batch * tokens:
        ids = (ids * (batch * tokens // max(len(ids), 1) + 1))[: batch * tokens]
    input_ids = torch.tensor(ids[: batch * tokens]).view(batch, tokens)
    return {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)}


def _context(mode: str) -> Any:
    import torch

    return torch.autocast("cpu", dtype=torch.bfloat16) if "autocast" in mode else contextlib.nullcontext()


def time_mode(model: Any, optimizer: Any, batch: dict[str, Any], mode: str) -> tuple[float, float]:
    """(seconds of a no-grad forward, seconds of forward + backward + optimizer step)."""
    import torch
    import torch.nn.functional as F

    targets = batch["input_ids"][:, 1:]
    model.eval()
    started = time.perf_counter()
    with torch.no_grad(), _context(mode):
        model(**batch)
    forward = time.perf_counter() - started
    model.train()
    started = time.perf_counter()
    with _context(mode):
        logits = model(**batch).logits[:, :-1]
    loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1))
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return forward, time.perf_counter() - started


def main(argv: list[str] | None = None) -> dict[str, tuple[float, float]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model", default=None)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out-md", type=Path, default=RESULTS_MD)
    args = parser.parse_args(argv)

    import torch

    from forgetfilter.data.formats import read_examples
    from forgetfilter.models import LoraSettings, add_lora, load_model

    examples = list(read_examples(args.data).examples)[:64]
    models = {}
    for dtype in ("float32", "bfloat16"):
        model, tokenizer = load_model(args.model, dtype=dtype)
        torch.manual_seed(0)
        model = add_lora(model, LoraSettings())
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
        models[dtype] = (model, optimizer)
    batch = _batch(tokenizer, examples, args.batch, args.tokens)
    best: dict[str, tuple[float, float]] = {}
    for mode in MODES:  # warm-up
        model, optimizer = models["bfloat16" if "bf16" in mode else "float32"]
        time_mode(model, optimizer, {k: v[:1, :32] for k, v in batch.items()}, mode)
    for _ in range(args.repeats):
        for mode in MODES:
            model, optimizer = models["bfloat16" if "bf16" in mode else "float32"]
            forward, step = time_mode(model, optimizer, batch, mode)
            old = best.get(mode, (float("inf"), float("inf")))
            best[mode] = (min(old[0], forward), min(old[1], step))
    base = best["fp32"]
    rows = [
        [mode, f"{f:.2f}", f"{base[0] / f:.2f}x", f"{s:.2f}", f"{base[1] / s:.2f}x"] for mode, (f, s) in best.items()
    ]
    header = ["mode", "forward s", "vs fp32", "LoRA train step s", "vs fp32"]
    body = markdown_table(header, rows) + (
        f"\n\nOne batch of {args.batch} x {args.tokens} tokens, every position predicted (the full output layer), "
        f"LoRA r8 on q/v with fp32 AdamW; best of {args.repeats}; torch threads {torch.get_num_threads()}."
    )
    print(body)
    append_section(
        args.out_md,
        "bf16 modes: forward and LoRA training step",
        command_line(__file__, argv),
        describe_machine(),
        body,
        settings={"batch": args.batch, "tokens": args.tokens, "repeats": args.repeats},
    )
    return best


if __name__ == "__main__":
    main()
