"""The mean of two forgetting ranks (`nll` and `log_nll`) against each alone, on finished runs' saved scores.

For each run folder (a filter run, or an experiment's RUN/filter, kept records included: only ``scores.jsonl`` is
read, whose ``role`` and ``source`` columns are the truth): the AUROC of ``nll`` forgetting, ``log_nll`` forgetting and
``rank_mean`` (each example's percentile rank by the two, averaged; mean ranks for ties) over the whole run and per
unsafe source (that source's unsafe examples against every example that is not unsafe), each ranking's AUROC minus
``nll``'s with a paired bootstrap interval (2000 stratified resamples of the examples, seed 0), and the examples
removed and F1 at Otsu's cut on each. The rule was fixed on mixed seed 1 (docs/signal-study.md §22); labels are read
only to score.

    python bench/rank_mean.py docs/records/filter-mixed-s1-r64 runs/study-mixed-s2-r64/filter
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import roc_auc_score
from study_table import auroc_gain_interval

from forgetfilter.selection import choose_threshold, filter_mask, filter_quality


def rank_mean(*scores: np.ndarray) -> np.ndarray:
    """Each example's percentile rank under every score, averaged: in (0, 1], higher = forgotten more."""
    return np.mean([rankdata(s) / len(s) for s in scores], axis=0)


def table(run: Path) -> list[str]:
    rows = [json.loads(line) for line in (run / "scores.jsonl").read_text(encoding="utf-8").splitlines() if line]
    unsafe = np.array([r["role"] == "unsafe" for r in rows])
    nll = np.array([r["forgetting_nll"] for r in rows])
    log_nll = np.array([r["forgetting_log_nll"] for r in rows])
    sources = sorted({r["source"] for r in rows if r["role"] == "unsafe"})
    lines = []
    for name, values in (("nll", nll), ("log_nll", log_nll), ("rank_mean", rank_mean(nll, log_nll))):
        per_source = []
        for source in sources:
            keep = np.array([r["role"] != "unsafe" or r["source"] == source for r in rows])
            per_source.append(f"{source} {roc_auc_score(unsafe[keep], values[keep]):.3f}")
        mask = filter_mask(values, choose_threshold(values, method="otsu"))
        f1 = filter_quality(mask, values, unsafe)["f1"]
        gain = "-" if name == "nll" else "{:+.3f} [{:+.3f}, {:+.3f}]".format(*auroc_gain_interval(values, nll, unsafe))
        lines.append(
            f"| {run} | {name} | {roc_auc_score(unsafe, values):.3f} | {gain} | "
            f"{'; '.join(per_source) if len(sources) > 1 else '-'} | {int(mask.sum())}, {f1:.3f} |"
        )
    return lines


if __name__ == "__main__":
    print("| run | ranking | AUROC | AUROC − nll [95%] | per unsafe source | Otsu: removed, F1 |")
    print("|---|---|---|---|---|---|")
    for arg in sys.argv[1:]:
        print("\n".join(table(Path(arg))))
