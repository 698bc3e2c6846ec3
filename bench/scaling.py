"""Scaling: wall time and peak memory of a full ``forgetfilter filter`` run for N = 300, 1000, 3000 examples.

For each N: ``forgetfilter data build --kind bias --n N`` writes the paper's noisy mix (D_safe = N/2), then
``forgetfilter filter`` runs in its own subprocess (so peak memory is per run) and reports its wall time, its
peak resident memory (getrusage high-water mark) and, on a GPU, ``torch.cuda.max_memory_allocated``; the
per-stage times come from RUN/stages.json. ``--s1-epochs``, ``--s1-plus-steps`` and ``--signals`` shorten the
sessions so that the largest N fits on a CPU; the settings used go into results.md.

    python bench/scaling.py --sizes 300,1000,3000 --s1-epochs 0.5 --s1-plus-steps 20
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from machine import RESULTS_MD, append_section, command_line, describe_machine, markdown_table

STAGES = ("score_m0", "s1", "score_m1", "s1_plus", "score_m2")
_MARK = "BENCH_RESULT "


def child(filter_args: list[str]) -> None:
    """Run ``forgetfilter filter ARGS`` in this process and print its wall time and peak memory as JSON."""
    import torch

    from forgetfilter.cli import app
    from forgetfilter.pipeline import peak_rss_mib

    started = time.perf_counter()
    app(args=["filter", *filter_args], standalone_mode=False)
    seconds = time.perf_counter() - started
    peak_rss = peak_rss_mib()
    cuda = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None
    print(_MARK + json.dumps({"seconds": seconds, "peak_rss_mib": peak_rss, "cuda_peak_mib": cuda}))


def _run(cmd: list[str]) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"`{shlex.join(cmd)}` failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout


def _flags(values: dict[str, Any]) -> list[str]:
    """``{"--n": 300, "--model": None}`` -> ``["--n", "300"]``: options with a value, in order."""
    return [part for flag, value in values.items() if value is not None for part in (flag, str(value))]


def measure(n: int, args: argparse.Namespace) -> dict[str, Any]:
    """Build the mix of size ``n`` and time one filter run on it in a fresh subprocess."""
    data, run = args.workdir / f"data-{n}", args.workdir / f"run-{n}"
    build = ["data", "build"] + _flags(
        {"--kind": args.kind, "--n": n, "--unsafe-ratio": args.unsafe_ratio, "--seed": args.seed, "--out": data,
         "--data-dir": args.data_dir}
    )  # fmt: skip
    _run([sys.executable, "-m", "forgetfilter", *build])
    shutil.rmtree(run, ignore_errors=True)  # a leftover run would resume instead of running
    config = args.workdir / "config.json"
    config.write_text(json.dumps({"signals": args.signals.split(",")}))
    flags = _flags(
        {"--data": data / "d_noisy.jsonl", "--safe": data / "d_safe.jsonl", "--out": run, "--config": config,
         "--model": args.model, "--s1-epochs": args.s1_epochs, "--s1-plus-steps": args.s1_plus_steps}
    )  # fmt: skip
    started = time.perf_counter()
    out = _run([sys.executable, str(Path(__file__).resolve()), "--child", *flags])
    wall = time.perf_counter() - started
    child_result = json.loads(next(ln for ln in reversed(out.splitlines()) if ln.startswith(_MARK))[len(_MARK) :])
    n_safe = sum(1 for _ in (data / "d_safe.jsonl").open())
    commands = [shlex.join(["forgetfilter", *build]), shlex.join(["forgetfilter", "filter", *flags])]
    stages = json.loads((run / "stages.json").read_text())
    return {"n": n, "n_safe": n_safe, "wall": wall, **child_result, "stages": stages, "commands": commands}


def render(results: list[dict[str, Any]]) -> str:
    header = [
        "N",
        "|D_safe|",
        "wall s (process)",
        "filter s",
        *[f"{s} s" for s in STAGES],
        "other s",
        "S1/S1+ steps",
        "ms/example",
        "peak RSS MiB",
        "peak RSS after score_m0/s1/score_m1/s1_plus/score_m2 MiB",
        "CUDA peak MiB",
    ]
    rows = []
    for r in results:
        st = r["stages"]
        cuda = f"{r['cuda_peak_mib']:.0f}" if r["cuda_peak_mib"] is not None else "n/a"
        rows.append(
            [
                r["n"],
                r["n_safe"],
                f"{r['wall']:.1f}",
                f"{r['seconds']:.1f}",
                *[f"{st.get(s, {}).get('seconds', float('nan')):.1f}" for s in STAGES],
                f"{r['seconds'] - sum(st[s]['seconds'] for s in STAGES if s in st):.1f}",
                f"{st['s1']['steps']:.0f}/{st['s1_plus']['steps']:.0f}",
                f"{1000 * r['seconds'] / r['n']:.1f}",
                f"{r['peak_rss_mib']:.0f}",
                "/".join(f"{st[s]['peak_rss_mib']:.0f}" if "peak_rss_mib" in st.get(s, {}) else "n/a" for s in STAGES),
                cuda,
            ]
        )
    costs = {s: results[-1]["stages"].get(s, {}).get("seconds", 0.0) for s in STAGES}
    costs["other"] = results[-1]["seconds"] - sum(costs.values())
    largest = max(costs, key=lambda s: costs[s])
    share = costs[largest] / results[-1]["seconds"]
    commands = "\n".join(c for r in results for c in r["commands"])
    return (
        f"{markdown_table(header, rows)}\n\nLargest cost at N={results[-1]['n']}: {largest} ({share:.0%} of the "
        f"filter time). 'wall s' includes starting Python; 'filter s' is the CLI call; 'other s' is the part of it "
        "outside the four stages (loading the model and data, writing outputs and the plot).\n\n"
        f"Commands run:\n\n```bash\n{commands}\n```"
    )


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        child(argv[1:])
        return []
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="300,1000,3000", help="comma-separated sizes N of D_noisy")
    parser.add_argument("--model", default=None, help="hub id, folder or .gguf (default: SmolLM2-135M-Instruct)")
    parser.add_argument("--kind", default="bias")
    parser.add_argument("--unsafe-ratio", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--s1-epochs", type=float, default=None, help="epochs of S1 (default: FilterConfig's)")
    parser.add_argument("--s1-plus-steps", type=int, default=None, help="optimizer steps of S1+ (default: epochs)")
    parser.add_argument("--signals", default="nll,token_accuracy", help="signals computed on M1 and M2")
    parser.add_argument("--data-dir", type=Path, default=None, help="shared datasets folder")
    parser.add_argument("--workdir", type=Path, default=Path("runs/bench-scaling"), help="data and runs go here")
    parser.add_argument("--out-md", type=Path, default=RESULTS_MD, help="markdown file to append the results to")
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    results = []
    for n in (int(s) for s in args.sizes.split(",")):
        results.append(measure(n, args))
        print(f"N={n}: {results[-1]['seconds']:.1f} s, peak RSS {results[-1]['peak_rss_mib']:.0f} MiB", flush=True)
    body = render(results)
    print(body)
    from forgetfilter.config import FilterConfig
    from forgetfilter.models import pick_device, pick_dtype

    defaults = FilterConfig()
    settings = {
        "model": args.model or "default (SmolLM2-135M-Instruct)",
        "kind": args.kind,
        "unsafe_ratio": args.unsafe_ratio,
        "seed": args.seed,
        "s1 epochs": args.s1_epochs or defaults.s1.epochs,
        "s1_plus": f"{args.s1_plus_steps} steps" if args.s1_plus_steps else f"{defaults.s1_plus.epochs} epochs",
        "signals": args.signals,
        "batch": f"{defaults.s1.batch_size}x{defaults.s1.grad_accum}",
        "max_length": defaults.s1.max_length,
    }
    machine = describe_machine(pick_dtype(defaults.dtype), pick_device(defaults.device))
    append_section(
        args.out_md, "Scaling of forgetfilter filter", command_line(__file__, argv), machine, body, settings=settings
    )
    return results


if __name__ == "__main__":
    main()
