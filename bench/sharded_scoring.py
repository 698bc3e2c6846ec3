"""Sharded scoring on the real model: the same adapter scored by 1 process and by N processes, value for value.

Scores ``--data`` under M0 + RUN/s1/adapter (M1 of a finished ``forgetfilter filter`` run, default model) once with one
process and once with ``--processes`` processes launched by torchrun (each process one thread on its own core, the
one-process run one thread too, so only the sharding differs), through ``forgetfilter.pipeline.score`` as the
filter scores, in the run's dtype. Prints the largest absolute difference of every signal and the time of each
launch; ``--out-md`` appends the table to bench/results.md.

    python bench/sharded_scoring.py runs/readme-job/auto --data runs/bias-data/d_noisy.jsonl
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

from machine import append_section, command_line, describe_machine, markdown_table


def child(args: argparse.Namespace) -> None:
    """One launch: score and write ``args.result`` from the main process."""
    import dataclasses

    from forgetfilter import config_io, distributed
    from forgetfilter.config import FilterConfig
    from forgetfilter.data.formats import read_examples
    from forgetfilter.pipeline import StageLog, score

    local = int(os.environ.get("LOCAL_RANK", "0"))
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {local % (os.cpu_count() or 1)})
    stages = json.loads((args.run / "stages.json").read_text(encoding="utf-8"))
    config = config_io.from_dict(FilterConfig, json.loads((args.run / "config.json").read_text(encoding="utf-8")))
    config = dataclasses.replace(config, dtype=stages["precision"]["dtype"])
    examples = list(read_examples(args.data).examples)
    distributed.barrier()
    started = time.perf_counter()
    signals = score(
        config,
        args.run / "s1" / "adapter",
        examples,
        args.result.with_suffix(".scores.json"),
        StageLog(args.result.with_suffix(".log.json")),
        "score",
    )
    seconds = time.perf_counter() - started
    if distributed.is_main():
        args.result.write_text(json.dumps({"signals": signals, "seconds": seconds}), encoding="utf-8")


def main(argv: list[str] | None = None) -> dict[str, float] | None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--out-md", type=Path, default=None)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args)
        return None
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for processes in (1, args.processes):
            result = Path(tmp) / f"{processes}p.json"
            script = [__file__, str(args.run), "--data", str(args.data), "--child", "--result", str(result)]
            launcher = ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
            cmd = [sys.executable, *script] if processes == 1 else [sys.executable, *launcher, *script]  # 1: no group
            env = {**os.environ, "OMP_NUM_THREADS": "1"}
            started = time.perf_counter()
            subprocess.run(cmd, check=True, env=env)
            results[processes] = {**json.loads(result.read_text()), "wall": time.perf_counter() - started}
    one, many = results[1]["signals"], results[args.processes]["signals"]
    rows, largest = [], {}
    for signal in one:
        diffs = [abs(a - b) for a, b in zip(one[signal], many[signal], strict=True) if a is not None and b is not None]
        largest[signal] = max(diffs)
        rows.append([signal, len(diffs), f"{largest[signal]:.2e}"])
    table = markdown_table(["signal", "examples", f"max |1 process - {args.processes} processes|"], rows)
    body = (
        f"{table}\n\nScoring M1 of {args.run} (RUN/s1/adapter): 1 process {results[1]['seconds']:.1f} s, "
        f"{args.processes} processes {results[args.processes]['seconds']:.1f} s (scoring only; launches "
        f"{results[1]['wall']:.0f} s and {results[args.processes]['wall']:.0f} s); one thread per process."
    )
    print(body)
    if args.out_md:
        append_section(
            args.out_md, "Sharded scoring on the real model", command_line(__file__, argv), describe_machine(), body
        )
    return largest


if __name__ == "__main__":
    main()
