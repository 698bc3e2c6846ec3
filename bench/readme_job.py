"""The README's main job timed as whole processes, once per dtype, and whether the dtypes agree.

For each ``--dtypes`` entry this runs ``forgetfilter filter`` on the same data (the README's bias mix by default)
in a child process and reports its wall time, peak resident memory (the child's ru_maxrss), the per-stage times
from RUN/stages.json, the dtype the run computed in (``auto`` resolves per machine, see forgetfilter.precision)
and the filter's quality. Then it compares every run with the first: log_nll AUROC difference and overlap of the
removed sets (|A and B| / |A|, and Jaccard). The model cache must be warm (run the README job once before).

    python bench/readme_job.py --data runs/bias-data --dtypes float32,auto --out runs/readme-job
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from machine import RESULTS_MD, append_section, command_line, describe_machine, markdown_table

STAGES = ("s1", "score_m1", "s1_plus", "score_m2")


def run_filter(data: Path, out: Path, dtype: str, extra: list[str]) -> dict[str, Any]:
    """One ``forgetfilter filter`` child process; wall seconds and its peak RSS (MiB) from ru_maxrss."""
    if out.exists():
        raise SystemExit(f"{out} exists: give --out a fresh folder (a finished run would only be read back)")
    cmd = [sys.executable, "-m", "forgetfilter", "filter", "--data", str(data / "d_noisy.jsonl")]
    cmd += ["--safe", str(data / "d_safe.jsonl"), "--out", str(out), "--dtype", dtype, *extra]
    started = time.perf_counter()
    child = subprocess.Popen(cmd)
    _, status, usage = os.wait4(child.pid, 0)  # this child's own rusage, not the maximum over all children
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"forgetfilter filter failed ({os.waitstatus_to_exitcode(status)}): {' '.join(cmd)}")
    summary = json.loads((out / "summary.json").read_text())
    removed = {
        json.loads(line)["id"]
        for line in (out / "scores.jsonl").read_text().splitlines()
        if json.loads(line)["removed"]
    }
    return {
        "dtype_asked": dtype,
        "command": " ".join(["forgetfilter", *cmd[3:]]),
        "wall": wall,
        "peak_rss_mib": usage.ru_maxrss / 1024,  # KiB on Linux
        "stages": json.loads((out / "stages.json").read_text()),
        "quality": summary["quality"],
        "removed": removed,
        "n": summary["n_examples"],
    }


def compare(reference: dict[str, Any], other: dict[str, Any]) -> dict[str, float]:
    a, b = reference["removed"], other["removed"]
    return {
        "auroc_diff": other["quality"]["log_nll"]["auroc"] - reference["quality"]["log_nll"]["auroc"],
        "overlap_of_reference": len(a & b) / len(a) if a else float("nan"),
        "jaccard": len(a & b) / len(a | b) if a | b else float("nan"),
    }


def render(runs: list[dict[str, Any]]) -> str:
    rows = []
    for run in runs:
        st, q = run["stages"], run["quality"]["log_nll"]
        rows.append(
            [
                run["dtype_asked"],
                st["precision"]["dtype"],
                f"{run['wall']:.0f}",
                *(f"{st[s]['seconds']:.0f}" for s in STAGES),
                f"{st['s1']['tokens_per_s']:.0f}",
                f"{st['score_m1']['examples_per_s']:.2f}",
                f"{run['peak_rss_mib']:.0f}",
                f"{q['auroc']:.3f}",
                len(run["removed"]),
                f"{q.get('precision', float('nan')):.3f}",
                f"{q.get('recall', float('nan')):.3f}",
            ]
        )
    header = [
        "--dtype",
        "ran in",
        "wall s",
        *(f"{s} s" for s in STAGES),
        "S1 tok/s",
        "scoring ex/s",
        "peak RSS MiB",
        "log_nll AUROC",
        "removed",
        "precision",
        "recall",
    ]
    lines = [markdown_table(header, rows), ""]
    reference = runs[0]
    for run in runs[1:]:
        c = compare(reference, run)
        lines.append(
            f"- `{run['dtype_asked']}` vs `{reference['dtype_asked']}`: wall {reference['wall'] / run['wall']:.2f}x "
            f"faster, AUROC {c['auroc_diff']:+.4f} (target within 0.01), removed sets overlap "
            f"{c['overlap_of_reference']:.1%} of the reference's (target >= 95%), Jaccard {c['jaccard']:.3f}."
        )
    lines.append("")
    lines.append(
        "Precision chosen: "
        + "; ".join(
            f"`{r['dtype_asked']}` -> {r['stages']['precision']['dtype']} ({r['stages']['precision']['reason']})"
            for r in runs
        )
    )
    lines += ["", "Commands run:", "", "```bash", *(r["command"] for r in runs), "```"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("runs/bias-data"), help="folder with d_noisy/d_safe.jsonl")
    parser.add_argument("--dtypes", default="float32,auto", help="comma-separated; the first is the reference")
    parser.add_argument("--out", type=Path, default=Path("runs/readme-job"), help="one run folder per dtype in it")
    parser.add_argument("--out-md", type=Path, default=RESULTS_MD)
    args, extra = parser.parse_known_args(argv)  # anything else goes to forgetfilter filter (e.g. --model)
    runs = []
    for dtype in args.dtypes.split(","):
        runs.append(run_filter(args.data, args.out / dtype, dtype, extra))
        print(f"{dtype}: {runs[-1]['wall']:.0f} s, peak RSS {runs[-1]['peak_rss_mib']:.0f} MiB", flush=True)
    body = render(runs)
    print(body)
    append_section(
        args.out_md,
        "README job per dtype",
        command_line(__file__, argv),
        describe_machine(),
        body,
        settings={"data": args.data, "dtypes": args.dtypes, "extra": " ".join(extra) or "none"},
    )
    return runs


if __name__ == "__main__":
    main()
