"""Exploration: how much of a bf16 LoRA training step on the CPU goes to attention kernels, LoRA dropout and threads.

One batch of 8 x 256 real tokens (rows 4-7 padded from position 200), the default LoRA adapter with fp32 AdamW,
one training step (forward, backward, optimizer) and one no-grad forward per setting, best of ``--repeats`` after a
warm-up. Settings: attention ``sdpa`` (torch's fused kernel, the transformers default) or ``eager`` (plain matmul +
softmax), base weights bf16 or fp32 under autocast, LoRA dropout 0.05 (the authors') or 0 (its cost), 2 or 1 threads.

    python bench/training_variants.py --data runs/bias-data/d_noisy.jsonl
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def run(
    data: Path,
    model_name: str | None,
    attn: str,
    dtype: str,
    autocast: bool,
    dropout: float,
    threads: int,
    repeats: int,
    tokens: int = 256,
) -> str:
    import torch
    import torch.nn.functional as F

    from forgetfilter.data.formats import read_examples
    from forgetfilter.models import LoraSettings, add_lora, load_model

    examples = read_examples(data).examples[:64]
    torch.set_num_threads(threads)
    model, tokenizer = load_model(model_name, dtype=dtype)
    if attn != "sdpa":
        for module in model.modules():
            if hasattr(module, "config"):
                module.config._attn_implementation = attn
    torch.manual_seed(0)
    model = add_lora(model, LoraSettings(dropout=dropout))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    ids = tokenizer(" ".join(e.prompt_text + " " + e.response for e in examples))["input_ids"]
    ids = (ids * (8 * tokens // len(ids) + 1))[: 8 * tokens]  # repeated when the examples are shorter
    x = torch.tensor(ids).view(8, tokens)
    mask = torch.ones_like(x)
    mask[4:, tokens * 25 // 32 :] = 0  # rows 4-7 padded from 200 of 256 on
    best_forward = best_train = float("inf")
    for repeat in range(repeats + 1):  # the first is a warm-up
        context = torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast)
        model.train()
        started = time.perf_counter()
        with context:
            logits = model(input_ids=x, attention_mask=mask).logits[:, :-1]
        loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        train = time.perf_counter() - started
        model.eval()
        started = time.perf_counter()
        with torch.no_grad(), context:
            model(input_ids=x, attention_mask=mask)
        forward = time.perf_counter() - started
        if repeat:
            best_train, best_forward = min(best_train, train), min(best_forward, forward)
    weights = dtype + (" + autocast" if autocast else "")
    return f"| {attn} | {weights} | {dropout} | {threads} | {best_train:.2f} | {best_forward:.2f} |"


def main(argv: list[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model", default=None, help="hub id, folder or .gguf (default: SmolLM2-135M-Instruct)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=256, help="tokens per row of the 8-row batch")
    args = parser.parse_args(argv)
    print("| attention | weights | LoRA dropout | threads | train step s | forward s |\n|---|---|---|---|---|---|")
    rows = []
    settings = [
        (attn, dtype, autocast, dropout, threads)
        for threads in (2, 1)
        for attn in ("sdpa", "eager")
        for dtype, autocast in (("bfloat16", False), ("float32", True))
        for dropout in (0.05, 0.0)
        if threads == 2 or dropout
    ]
    for attn, dtype, autocast, dropout, threads in [*settings, ("sdpa", "float32", False, 0.05, 2)]:
        rows.append(run(args.data, args.model, attn, dtype, autocast, dropout, threads, args.repeats, args.tokens))
        print(rows[-1], flush=True)
    return rows


if __name__ == "__main__":
    main()
