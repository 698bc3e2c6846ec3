"""Resident memory over a training session with micro-batches of varying width: glibc's heap, not the model.

A long S1 of the default model grew to 16-17.6 GiB of RSS with LoRA r64 on every linear layer (toxicity mix) and to
8 GiB with the default adapter (the README job), 1.5 to 2 times what sessions of the same settings reach with
another allocator (below; bench/results.md): glibc raises its mmap threshold each time a large block is freed (up to
32 MiB), so later activations of other sizes come from the heap, and freed heap holes of the wrong size are not
given back. Each variant is a fresh child process that loads the model, adds the adapter and runs ``train_session``
for ``--steps`` optimizer steps on the first ``--limit`` examples (their own micro-batching: widths vary step to
step, as in a run), reading its RSS after every step and its peak (``ru_maxrss``) at the end.

Variants: glibc as it is; a fixed mmap threshold (``MALLOC_MMAP_THRESHOLD_``: blocks of that size or more are
mapped and unmapped, never left in the heap); ``malloc_trim(0)`` after every optimizer step (free heap pages handed
back, the heap's layout unchanged); and where installed, jemalloc or tcmalloc in place of glibc's malloc
(``LD_PRELOAD``). Reports RSS after the first step and the last, the peak, seconds per
step (wall, trimming included), and whether every step's loss equals the first variant's (the allocator should
change where memory comes from, not what is computed).

    python bench/heap_growth.py --data runs/toxicity-s1-data/d_noisy.jsonl --steps 30 --lora-r 64 --all-linear
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

from machine import RESULTS_MD, append_section, command_line, describe_machine, markdown_table, run_child

VARIANTS: dict[str, tuple[dict[str, str], bool]] = {  # name: (environment, malloc_trim after every step)
    "glibc default": ({}, False),
    "MALLOC_MMAP_THRESHOLD_=131072": ({"MALLOC_MMAP_THRESHOLD_": "131072"}, False),
    "MALLOC_MMAP_THRESHOLD_=4194304": ({"MALLOC_MMAP_THRESHOLD_": "4194304"}, False),
    "malloc_trim(0) every step": ({}, True),
    "jemalloc (LD_PRELOAD)": ({"LD_PRELOAD": "libjemalloc.so.2"}, False),
    "tcmalloc (LD_PRELOAD)": ({"LD_PRELOAD": "libtcmalloc_minimal.so.4"}, False),
}


def _installed(environment: dict[str, str]) -> bool:
    """False for a variant whose preloaded library this machine lacks (it would run glibc under another name); the
    glibc variants preload nothing and always run. Debian packages: libjemalloc2, libtcmalloc-minimal4."""
    from ctypes.util import find_library

    library = environment.get("LD_PRELOAD")
    return library is None or find_library(library.removeprefix("lib").split(".so")[0]) is not None


def child(args: argparse.Namespace) -> None:
    import ctypes

    import psutil

    from forgetfilter.data.formats import read_examples
    from forgetfilter.models import LoraSettings, add_lora, load_model
    from forgetfilter.pipeline import seed_everything
    from forgetfilter.training import SessionSettings, train_session

    model, tokenizer = load_model(args.model, dtype=args.dtype)
    seed_everything(0)  # LoRA's A matrices are drawn here: unseeded, every process would train another adapter
    targets = ("all-linear",) if args.all_linear else LoraSettings().target_modules
    model = add_lora(model, LoraSettings(r=args.lora_r, alpha=2 * args.lora_r, target_modules=targets))
    examples = list(read_examples(args.data).examples)[: args.limit]
    settings = SessionSettings(
        max_steps=args.steps, checkpoint_every=0, batch_size=8, grad_accum=2, attention=args.attention
    )
    process = psutil.Process()
    trim = ctypes.CDLL(None).malloc_trim if args.trim else None
    rss: list[float] = []

    def after_step(step: int, model: object) -> None:
        if trim is not None:
            trim(0)
        rss.append(process.memory_info().rss / 2**20)

    started = time.perf_counter()
    losses = train_session(model, tokenizer, examples, settings, on_step=after_step).losses
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures = {"rss": rss, "peak": peak, "s_per_step": seconds / args.steps, "losses": losses}
    Path(args.result).write_text(json.dumps(figures))


def main(argv: list[str] | None = None) -> dict[str, dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model", default=None)
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--limit", type=int, default=344)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--lora-r", type=int, default=8)
    parser.add_argument("--all-linear", action="store_true", help="LoRA on every linear layer (default: q, v)")
    parser.add_argument(
        "--attention",
        default="sdpa",
        help="the training attention kernel, pinned so that no variant's timing probe picks another (session setting)",
    )
    parser.add_argument(
        "--variants",
        default=",".join(name for name, (env, _) in VARIANTS.items() if _installed(env)),
        help="comma-separated names to run (default: the four glibc ones, and each other allocator installed)",
    )
    parser.add_argument("--out-md", default=None, help=f"append the table to this file (e.g. {RESULTS_MD})")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--trim", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--result", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args)
        return {}
    results = {}
    for name in args.variants.split(","):
        if name not in VARIANTS:
            parser.error(f"--variants: no variant {name!r}; the variants are {', '.join(VARIANTS)}")
        env, trim = VARIANTS[name]
        if not _installed(env):
            parser.error(f"--variants: {name} needs {env['LD_PRELOAD']}, which this machine does not have")
        child_args = ["--data", str(args.data), "--dtype", args.dtype, "--limit", str(args.limit)]
        child_args += ["--steps", str(args.steps), "--lora-r", str(args.lora_r), "--attention", args.attention]
        child_args += (["--model", args.model] if args.model else []) + (["--all-linear"] if args.all_linear else [])
        results[name] = run_child(__file__, child_args + (["--trim"] if trim else []), env)
        print(name, json.dumps(results[name]), flush=True)
    first = next(iter(results))
    header = ["variant", "RSS after step 1 MiB", "RSS after the last step MiB", "peak RSS MiB", "s / step"]
    header.append(f"losses identical to {first}'s")
    rows = [
        [name, f"{r['rss'][0]:.0f}", f"{r['rss'][-1]:.0f}", f"{r['peak']:.0f}", f"{r['s_per_step']:.2f}"]
        + ["yes" if r["losses"] == results[first]["losses"] else "no"]
        for name, r in results.items()
    ]
    adapter = f"LoRA r{args.lora_r} on {'every linear layer' if args.all_linear else 'q_proj, v_proj'}"
    body = (
        f"{markdown_table(header, rows)}\n\n{args.steps} optimizer steps of 8 x 2 rows on the first {args.limit} "
        f"examples of {args.data.name} (the session's own micro-batches, widths varying), {adapter}, dtype "
        f"{args.dtype}, attention {args.attention}; RSS read after every step; one fresh process per variant, one "
        "after another."
    )
    print(body)
    if args.out_md:
        title = "Heap growth in a training session"
        append_section(args.out_md, title, command_line(__file__, argv), describe_machine(), body)
    return results


if __name__ == "__main__":
    main()
