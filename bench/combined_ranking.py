"""Does forgetting combined with the aligned model's NLL beat both? Choose the weight on some runs, report on others.

The combined score of an example is z(log_nll forgetting) + w * z(log NLL under M0), each z-scored within its run
(label-free: a user can compute it on any run that scored M0). The weight w is chosen on the --choose runs (the one
that maximises their mean AUROC, over a fixed grid) and then applied unchanged to the --report runs, where the table
gives the AUROC of forgetting alone, of M0's NLL alone and of the combination. Labels (`role`) are read only to score.

    python bench/combined_ranking.py --choose runs/study/bias-s0-learned=runs/study/bias-s0-data/d_noisy.jsonl \
        --report runs/study/bias-s1-learned=runs/study/bias-s1-data/d_noisy.jsonl ...
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from forgetfilter.data.formats import read_examples
from forgetfilter.saved_run import read_run
from forgetfilter.selection import forgetting
from forgetfilter.signals import log_nll

WEIGHTS = (-1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 1.0, 2.0, 4.0)


def _z(values: np.ndarray) -> np.ndarray:
    spread = values.std()
    return (values - values.mean()) / spread if spread > 0 else values - values.mean()


def run_scores(run: Path, data: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(z-scored log_nll forgetting, z-scored log NLL under M0, is_unsafe) of one run, in input order."""
    result = read_run(run).result
    if not result.reference or "nll" not in result.reference:
        raise SystemExit(f"{run}: the run did not score M0 (scores_m0.json); rerun it with the current version")
    forgot = forgetting(result.before["log_nll"], result.after["log_nll"], "log_nll")
    m0 = np.asarray(log_nll(result.reference["nll"]))
    unsafe = np.array([ex.role == "unsafe" for ex in read_examples(data).examples])
    if len(unsafe) != len(forgot):
        raise SystemExit(f"{data} has {len(unsafe)} examples, {run} scored {len(forgot)}: not the run's D_noisy")
    return _z(forgot), _z(m0), unsafe


def aurocs(forgot: np.ndarray, m0: np.ndarray, unsafe: np.ndarray, weights: tuple[float, ...]) -> list[float]:
    return [float(roc_auc_score(unsafe, forgot + w * m0)) for w in weights]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--choose", nargs="+", required=True, help="RUN=D_NOISY pairs the weight is chosen on")
    parser.add_argument("--report", nargs="+", required=True, help="RUN=D_NOISY pairs it is reported on")
    args = parser.parse_args(argv)
    from study_table import parse_pairs  # bench/ is on sys.path when run as a script

    chosen_runs = {run.name: aurocs(*run_scores(run, data), WEIGHTS) for run, data in parse_pairs(args.choose, parser)}
    means = [statistics.fmean(values[i] for values in chosen_runs.values()) for i in range(len(WEIGHTS))]
    weight = WEIGHTS[int(np.argmax(means))]
    lines = ["Choosing: AUROC of z(log_nll forgetting) + w * z(log M0 NLL)", ""]
    lines += ["| run | " + " | ".join(f"w = {w:g}" for w in WEIGHTS) + " |", "|---|" + "---|" * len(WEIGHTS)]
    for name, values in chosen_runs.items():
        lines.append(f"| {name} | " + " | ".join(f"{v:.3f}" for v in values) + " |")
    lines.append("| mean | " + " | ".join(f"{v:.3f}" for v in means) + " |")
    lines += ["", f"Chosen: w = {weight:g}. Reporting:", ""]
    lines += ["| run | forgetting alone | M0 NLL alone | combined | beats both |", "|---|---|---|---|---|"]
    reported = {}
    for run, data in parse_pairs(args.report, parser):
        forgot, m0, unsafe = run_scores(run, data)
        alone, combined = aurocs(forgot, m0, unsafe, (0.0, weight))
        m0_alone = float(roc_auc_score(unsafe, m0))
        reported[run.name] = {"forgetting": alone, "m0_nll": m0_alone, "combined": combined}
        beats = "yes" if combined > max(alone, m0_alone) else "no"
        lines.append(f"| {run.name} | {alone:.3f} | {m0_alone:.3f} | {combined:.3f} | {beats} |")
    print("\n".join(lines))
    return {"weight": weight, "choosing": chosen_runs, "reported": reported}


if __name__ == "__main__":
    main()
