"""One job on 1 thread against the same job on every usable core: scoring examples/s and training tokens/s.

Both thread counts run in this one process on the same model, examples and dtype (``--dtype``, default auto as
the CLI resolves it), interleaved ``--repeats`` times; the best of the repeats is reported.

    python bench/threads.py --data runs/bias-data/d_noisy.jsonl --limit 48 --steps 2
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

from machine import RESULTS_MD, append_section, command_line, describe_machine, markdown_table, stratified_sample

from forgetfilter.training import SessionSettings


def measure(model: Any, tokenizer: Any, examples: list, steps: int, batch_size: int) -> tuple[float, float]:
    """(examples/s of teacher-forced scoring, tokens/s of ``steps`` LoRA training steps) at the current threads."""
    from forgetfilter.signals import teacher_forced_signals
    from forgetfilter.training import train_session

    started = time.perf_counter()
    teacher_forced_signals(
        model, tokenizer, examples, token_selection="all", batch_size=16, max_length=384, progress=False
    )
    scoring = len(examples) / (time.perf_counter() - started)
    settings = SessionSettings(max_steps=steps, batch_size=batch_size, grad_accum=1, checkpoint_every=0)
    result = train_session(model, tokenizer, examples, settings, desc="train")
    return scoring, result.tokens_per_s


def main(argv: list[str] | None = None) -> dict[int, tuple[float, float]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model", default=None)
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--limit", type=int, default=48, help="examples, stratified by role")
    parser.add_argument("--steps", type=int, default=2, help="training steps per measurement")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out-md", type=Path, default=RESULTS_MD)
    args = parser.parse_args(argv)

    import torch

    from forgetfilter.data.formats import read_examples
    from forgetfilter.models import LoraSettings, add_lora, load_model

    if os.environ.get("OMP_NUM_THREADS"):
        raise SystemExit("unset OMP_NUM_THREADS: this bench sets the thread count itself")
    examples = list(read_examples(args.data).examples)
    examples = stratified_sample(examples, [ex.role or "unknown" for ex in examples], args.limit, seed=0)
    model, tokenizer = load_model(args.model, dtype=args.dtype)
    model = add_lora(model, LoraSettings())
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    counts = sorted({1, cores})
    best: dict[int, tuple[float, float]] = {}
    measure(model, tokenizer, examples[:4], 1, 2)  # warm-up
    for _ in range(args.repeats):
        for threads in counts:
            torch.set_num_threads(threads)
            scoring, training = measure(model, tokenizer, examples, args.steps, args.batch_size)
            old = best.get(threads, (0.0, 0.0))
            best[threads] = (max(old[0], scoring), max(old[1], training))
    base = best[1]
    rows = [
        [
            t,
            f"{s:.2f}",
            f"{s / base[0]:.2f}x",
            f"{s / base[0] / t:.0%}",
            f"{tr:.0f}",
            f"{tr / base[1]:.2f}x",
            f"{tr / base[1] / t:.0%}",
        ]
        for t, (s, tr) in sorted(best.items())
    ]
    header = ["threads", "scoring ex/s", "speed-up", "efficiency", "training tok/s", "speed-up", "efficiency"]
    dtype = next(p.dtype for p in model.parameters() if not p.requires_grad)
    body = markdown_table(header, rows) + f"\n\n{len(examples)} examples, base weights {dtype}, best of {args.repeats}."
    print(body)
    settings = {"examples": len(examples), "steps": args.steps, "batch_size": args.batch_size, "dtype": args.dtype}
    append_section(
        args.out_md,
        "One job: 1 thread vs all cores",
        command_line(__file__, argv),
        describe_machine(dtype),
        body,
        settings=settings,
    )
    return best


if __name__ == "__main__":
    main()
