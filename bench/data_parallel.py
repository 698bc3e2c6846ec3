"""Data parallel on one machine: N processes x 1 thread against 1 process x N threads (and 1 x 1, the baseline).

Each setup is a fresh launch of this script in ``--child`` mode (N processes through torchrun, as a user launches
``forgetfilter filter``), each process pinned to its own core; the coordinator resolves ``--dtype`` once, as a
one-process run on every core would, and gives every setup that explicit dtype. A child loads the model with a
fresh LoRA adapter, warms up, then times teacher-forced scoring of ``--limit`` examples (sharded over the processes
and gathered, as the pipeline scores) and ``--steps`` training steps at the same global batch (each process takes
its rows of every micro-batch, gradients summed). Model loading and start-up are not timed. Efficiency is the
speed-up over 1 process x 1 thread divided by N (100% = linear).

    python bench/data_parallel.py --data runs/bias-data/d_noisy.jsonl --limit 96 --steps 4 --repeats 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from machine import RESULTS_MD, append_section, command_line, describe_machine, markdown_table, stratified_sample


def child(args: argparse.Namespace) -> None:
    """One setup's measurement; the main process writes ``args.result`` (JSON)."""
    import torch

    cores = [int(c) for c in args.cores.split(",")]
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if hasattr(os, "sched_setaffinity"):  # one core per process, or all of them for one multi-threaded process
        os.sched_setaffinity(0, {cores[local % len(cores)]} if args.processes > 1 else set(cores))
    torch.set_num_threads(args.threads)

    from forgetfilter import distributed
    from forgetfilter.data.formats import read_examples
    from forgetfilter.models import LoraSettings, add_lora, load_model
    from forgetfilter.signals import teacher_forced_signals
    from forgetfilter.training import SessionSettings, train_session

    examples = list(read_examples(args.data).examples)
    examples = stratified_sample(examples, [ex.role or "unknown" for ex in examples], args.limit, seed=0)
    model, tokenizer = load_model(args.model, dtype=args.dtype, device="cpu")
    torch.set_num_threads(args.threads)  # load_model sets threads from the affinity unless OMP_NUM_THREADS is set
    torch.manual_seed(0)
    model = add_lora(model, LoraSettings())
    settings = SessionSettings(max_steps=args.steps, batch_size=args.batch_size, grad_accum=1, checkpoint_every=0)

    def score(items: list) -> None:
        teacher_forced_signals(
            model, tokenizer, items, token_selection="all", batch_size=16, max_length=384, progress=False
        )

    score(examples[: 2 * args.processes])  # warm-up: kernel selection, allocator, the process group's first calls
    train_session(model, tokenizer, examples, SessionSettings(max_steps=1, batch_size=args.batch_size, grad_accum=1))
    distributed.barrier()
    started = time.perf_counter()
    score(examples)
    distributed.barrier()
    scoring_s = time.perf_counter() - started
    started = time.perf_counter()
    result = train_session(model, tokenizer, examples, settings, desc="train")
    distributed.barrier()
    training_s = time.perf_counter() - started
    if distributed.is_main():
        dtype = next(p.dtype for p in model.parameters() if not p.requires_grad)
        Path(args.result).write_text(
            json.dumps(
                {
                    "scoring_ex_s": len(examples) / scoring_s,
                    "training_tok_s": result.tokens / training_s,  # every process's tokens (the global batch)
                    "examples": len(examples),
                    "tokens": result.tokens,
                    "dtype": str(dtype).replace("torch.", ""),
                }
            )
        )


def launch(args: argparse.Namespace, processes: int, threads: int, cores: list[int], result: Path) -> dict[str, Any]:
    """One setup as its own launch: plain python for 1 process, torchrun for more."""
    script = [str(Path(__file__).resolve()), "--child", "--result", str(result), "--data", str(args.data)]
    script += ["--dtype", args.dtype, "--limit", str(args.limit), "--steps", str(args.steps)]
    script += ["--batch-size", str(args.batch_size), "--processes", str(processes), "--threads", str(threads)]
    script += ["--cores", ",".join(map(str, cores))] + (["--model", args.model] if args.model else [])
    if processes == 1:
        command = [sys.executable, *script]
    else:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes)]
        command += script
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return json.loads(result.read_text())


def main(argv: list[str] | None = None) -> dict[str, dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=False)
    parser.add_argument("--model", default=None)
    parser.add_argument("--dtype", default="auto", help="resolved once as a one-process run on every core does")
    parser.add_argument("--limit", type=int, default=96, help="examples, stratified by role")
    parser.add_argument("--steps", type=int, default=4, help="training steps per measurement")
    parser.add_argument("--batch-size", type=int, default=8, help="global micro-batch (rows over all processes)")
    parser.add_argument("--processes", type=int, default=0, help="N (default: the cores this process may use)")
    parser.add_argument("--repeats", type=int, default=2, help="launches per setup; the best is reported")
    parser.add_argument("--out-md", type=Path, default=RESULTS_MD)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--result", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--cores", default="0", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.data is None:
        parser.error("--data is required")
    if args.child:
        child(args)
        return {}

    import torch

    from forgetfilter.precision import choose_precision

    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
    n = args.processes or len(cores)
    if n < 2:
        raise SystemExit("data parallel needs at least 2 processes: give --processes 2")
    torch.set_num_threads(min(n, len(cores)))
    precision = choose_precision(args.dtype, "cpu")  # what a one-process run on these cores would choose
    args.dtype = precision.dtype
    setups = {"1 process x 1 thread": (1, 1), f"1 process x {n} threads": (1, n), f"{n} processes x 1 thread": (n, 1)}
    best: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):  # interleaved, so a change in the machine's load hits every setup
            for name, (processes, threads) in setups.items():
                got = launch(args, processes, threads, cores, Path(tmp) / f"{repeat}-{processes}-{threads}.json")
                old = best.get(name)
                best[name] = {
                    **got,
                    "scoring_ex_s": max(got["scoring_ex_s"], old["scoring_ex_s"] if old else 0.0),
                    "training_tok_s": max(got["training_tok_s"], old["training_tok_s"] if old else 0.0),
                    "workers": processes * threads,
                }
    base = best["1 process x 1 thread"]
    rows = []
    for name, figures in best.items():
        score_up = figures["scoring_ex_s"] / base["scoring_ex_s"]
        train_up = figures["training_tok_s"] / base["training_tok_s"]
        figures.update(
            scoring_efficiency=score_up / figures["workers"], training_efficiency=train_up / figures["workers"]
        )
        rows.append(
            [
                name,
                f"{figures['scoring_ex_s']:.2f}",
                f"{score_up:.2f}x",
                f"{figures['scoring_efficiency']:.0%}",
                f"{figures['training_tok_s']:.0f}",
                f"{train_up:.2f}x",
                f"{figures['training_efficiency']:.0%}",
            ]
        )
    header = ["setup", "scoring ex/s", "speed-up", "efficiency", "training tok/s", "speed-up", "efficiency"]
    body = markdown_table(header, rows)
    body += (
        f"\n\n{base['examples']} examples scored, {args.steps} training steps at global batch {args.batch_size} "
        f"({base['tokens']} tokens); base weights {base['dtype']} ({precision.reason}); best of {args.repeats} "
        "launches per setup; efficiency = speed-up over 1 x 1 / workers (100% = linear)."
    )
    print(body)
    settings = {"examples": base["examples"], "steps": args.steps, "batch_size": args.batch_size, "processes": n}
    append_section(
        args.out_md,
        f"Data parallel: {n} processes x 1 thread vs 1 process x {n} threads",
        command_line(__file__, argv),
        describe_machine(base["dtype"]),
        body,
        settings={**settings, "dtype": base["dtype"]},
    )
    return best


if __name__ == "__main__":
    main()
