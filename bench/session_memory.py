"""Memory a process keeps between stages: training sessions one after another in one process, as a study runs them.

Each variant is a fresh child process that runs ``--sessions`` short training sessions (``pipeline.train_or_resume``
from M0, ``--steps`` optimizer steps of 8 x 2 rows on the first ``--limit`` examples of ``--data``) and reads its
resident memory after each. Variants: the tool as it is (``release_freed_memory`` after every stage: gc, then glibc's
``malloc_trim``), and the same with that call made a no-op. Reports RSS after each session and the peak.

    python bench/session_memory.py --data runs/bias-data/d_noisy.jsonl
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
from pathlib import Path

from machine import RESULTS_MD, append_section, command_line, describe_machine, markdown_table, run_child

VARIANTS = ("released after each stage", "kept (no release)")


def child(args: argparse.Namespace) -> None:
    import psutil

    import forgetfilter.pipeline as pipeline
    from forgetfilter.config import FilterConfig
    from forgetfilter.data.formats import read_examples
    from forgetfilter.training import SessionSettings

    if args.variant == VARIANTS[1]:
        pipeline.release_freed_memory = lambda: None
    examples = list(read_examples(args.data).examples)[: args.limit]
    config = FilterConfig(model=args.model, dtype=args.dtype)
    settings = SessionSettings(max_steps=args.steps, until="steps", batch_size=8, grad_accum=2, checkpoint_every=0)
    process = psutil.Process()
    after = []
    with tempfile.TemporaryDirectory() as tmp:
        log = pipeline.StageLog.load(Path(tmp) / "stages.json")
        for i in range(args.sessions):
            pipeline.train_or_resume(config, examples, settings, Path(tmp) / f"s{i}", log, f"s{i}")
            after.append(process.memory_info().rss / 2**20)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    Path(args.result).write_text(json.dumps({"after": after, "peak": peak}))


def main(argv: list[str] | None = None) -> dict[str, dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model", default=None)
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--sessions", type=int, default=3)
    parser.add_argument("--out-md", default=None, help=f"append the table to this file (e.g. {RESULTS_MD})")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--variant", default=VARIANTS[0], help=argparse.SUPPRESS)
    parser.add_argument("--result", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args)
        return {}
    results = {}
    for variant in VARIANTS:
        child_args = ["--variant", variant, "--data", str(args.data), "--dtype", args.dtype, "--limit", str(args.limit)]
        child_args += ["--steps", str(args.steps), "--sessions", str(args.sessions)]
        results[variant] = run_child(__file__, child_args + (["--model", args.model] if args.model else []))
        print(variant, results[variant], flush=True)
    header = ["memory between stages", *(f"RSS after session {i + 1} MiB" for i in range(args.sessions)), "peak MiB"]
    rows = [[name, *(f"{x:.0f}" for x in r["after"]), f"{r['peak']:.0f}"] for name, r in results.items()]
    body = (
        f"{markdown_table(header, rows)}\n\n{args.sessions} sessions from M0 in one process, {args.steps} optimizer "
        f"steps of 8 x 2 rows on the first {args.limit} examples each, dtype {args.dtype}; one fresh process per row."
    )
    print(body)
    if args.out_md:
        append_section(
            args.out_md, "Memory kept between stages", command_line(__file__, argv), describe_machine(), body
        )
    return results


if __name__ == "__main__":
    main()
