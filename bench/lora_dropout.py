"""LoRA dropout: torch's ``nn.Dropout`` (one draw per element) against forgetfilter.dropout.FastDropout.

Both sides in one process on the same model and batch, interleaved (torch, fast, torch, fast, ...): the default
LoRA adapter (r8 on q/v, dropout 0.05) with fp32 AdamW, one optimizer step (forward, backward, step) on 8 rows of
real examples at the run's dtype, only response positions through the output layer as in a training session.
Prints the best and median step time of each side, and the drop rate FastDropout drew on a large tensor.

    python bench/lora_dropout.py --data runs/bias-data/d_noisy.jsonl
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from machine import describe_machine


def main(argv: list[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model", default=None, help="hub id, folder or .gguf (default: SmolLM2-135M-Instruct)")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--repeats", type=int, default=5, help="timed steps per side (after one warm-up each)")
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args(argv)

    import torch

    from forgetfilter.batching import collate, tokenize
    from forgetfilter.data.formats import read_examples
    from forgetfilter.dropout import FastDropout, dropout_scale
    from forgetfilter.forward import logits_at
    from forgetfilter.models import LoraSettings, add_lora, load_model

    model, tokenizer = load_model(args.model, dtype=args.dtype)
    torch.manual_seed(0)
    model = add_lora(model, LoraSettings())
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    examples = read_examples(args.data).examples[: args.batch]
    batch = collate([tokenize(tokenizer, ex, max_length=384) for ex in examples], tokenizer.pad_token_id)
    tokens = int(batch["attention_mask"].sum())
    dropouts = [getattr(m, "lora_dropout", None) for m in model.modules()]
    dropouts = [d for d in dropouts if isinstance(d, torch.nn.ModuleDict)]
    p = LoraSettings().dropout

    def use(kind: str) -> None:
        for module_dict in dropouts:
            for name in module_dict:
                module_dict[name] = torch.nn.Dropout(p) if kind == "torch" else FastDropout(p)

    targets = batch["labels"][:, 1:]
    rows, cols = (targets != -100).nonzero(as_tuple=True)

    def step() -> float:
        model.train()
        started = time.perf_counter()
        logits = logits_at(model, batch["input_ids"], batch["attention_mask"], rows, cols)
        loss = torch.nn.functional.cross_entropy(logits.float(), targets[rows, cols])
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        return time.perf_counter() - started

    times: dict[str, list[float]] = {"torch": [], "fast": []}
    for repeat in range(args.repeats + 1):
        for kind in times:
            use(kind)
            seconds = step()
            if repeat:  # the first round is a warm-up
                times[kind].append(seconds)
    machine = describe_machine(dtype=next(model.parameters()).dtype)
    print("Machine: " + "; ".join(f"{k}: {v}" for k, v in machine.items()))
    print(f"\n{len(examples)} rows, {tokens} real tokens; {len(dropouts)} LoRA dropouts; p = {p}\n")
    rows = ["| LoRA dropout | best step s | median step s | vs torch (median) |", "|---|---|---|---|"]
    base = statistics.median(times["torch"])
    for kind, label in (("torch", "torch nn.Dropout"), ("fast", "forgetfilter FastDropout")):
        median = statistics.median(times[kind])
        rows.append(f"| {label} | {min(times[kind]):.2f} | {median:.2f} | {base / median:.2f}x |")
    drawn = dropout_scale(torch.ones(1 << 22), p)
    rows.append("")
    rows.append(f"FastDropout drop rate on 2^22 draws: {(drawn == 0).double().mean().item():.4f} (p = {p})")
    print("\n".join(rows))
    return rows


if __name__ == "__main__":
    main()
