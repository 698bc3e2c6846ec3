"""Peak memory of S1 training: what sets the README job's 7.4 GiB, and what brings it down.

Each variant is a fresh child process (its own ru_maxrss) that loads the model at ``--dtype``, adds the default LoRA
adapter and runs ``train_session`` for ``--steps`` optimizer steps on the ``--limit`` longest examples of ``--data``
(batch 8 x accumulation 2, as S1), so every micro-batch is as wide as the data gets. Variants: the default; glibc
told to return every allocation of 128 KiB or more to the system when freed (``MALLOC_MMAP_THRESHOLD_``, an
environment variable, nothing in the tool changes); gradient checkpointing (``s1.gradient_checkpointing: true``).
Reports the peak RSS after loading and after training, and seconds per step.

    python bench/training_memory.py --data runs/bias-data/d_noisy.jsonl
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

from machine import RESULTS_MD, append_section, command_line, describe_machine, markdown_table, run_child

VARIANTS = {
    "default": ({}, False),
    "MALLOC_MMAP_THRESHOLD_=131072": ({"MALLOC_MMAP_THRESHOLD_": "131072"}, False),
    "gradient checkpointing": ({}, True),
}


def child(args: argparse.Namespace) -> None:
    from forgetfilter.batching import tokenize
    from forgetfilter.data.formats import read_examples
    from forgetfilter.models import LoraSettings, add_lora, load_model
    from forgetfilter.training import SessionSettings, train_session

    model, tokenizer = load_model(args.model, dtype=args.dtype)
    examples = list(read_examples(args.data).examples)
    lengths = [len(tokenize(tokenizer, ex, max_length=384).input_ids) for ex in examples]
    longest = sorted(range(len(examples)), key=lambda i: -lengths[i])[: args.limit]
    loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    model = add_lora(model, LoraSettings())
    settings = SessionSettings(
        max_steps=args.steps, checkpoint_every=0, gradient_checkpointing=args.checkpointing, batch_size=8, grad_accum=2
    )
    started = time.perf_counter()
    result = train_session(model, tokenizer, [examples[i] for i in longest], settings)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    width = max(lengths[i] for i in longest)
    Path(args.result).write_text(
        json.dumps({"loaded": loaded, "peak": peak, "s_per_step": seconds / result.steps, "width": width})
    )


def main(argv: list[str] | None = None) -> dict[str, dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model", default=None)
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--limit", type=int, default=48)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--out-md", default=None, help=f"append the table to this file (e.g. {RESULTS_MD})")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--checkpointing", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--result", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args)
        return {}
    results = {}
    for name, (env, checkpointing) in VARIANTS.items():
        child_args = ["--data", str(args.data), "--dtype", args.dtype, "--limit", str(args.limit)]
        child_args += ["--steps", str(args.steps)] + (["--model", args.model] if args.model else [])
        results[name] = run_child(__file__, child_args + (["--checkpointing"] if checkpointing else []), env)
        print(name, results[name], flush=True)
    rows = [[name, f"{r['loaded']:.0f}", f"{r['peak']:.0f}", f"{r['s_per_step']:.1f}"] for name, r in results.items()]
    table = markdown_table(["variant", "peak RSS after loading MiB", "peak RSS after training MiB", "s / step"], rows)
    width = next(iter(results.values()))["width"]
    body = (
        f"{table}\n\n{args.steps} optimizer steps of 8 x 2 rows on the {args.limit} longest examples (up to {width} "
        f"tokens), default LoRA adapter, dtype {args.dtype}; one fresh process per variant."
    )
    print(body)
    if args.out_md:
        append_section(
            args.out_md, "Peak memory of S1 training", command_line(__file__, argv), describe_machine(), body
        )
    return results


if __name__ == "__main__":
    main()
