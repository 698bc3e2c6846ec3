"""The labelled alternative to forgetting, on labelled mixes without any training: rank D_noisy by the similarity of
each example's representation under the aligned model M0 to a handful of labelled unsafe examples (He et al. 2024,
"What's in your safe data", representation variant).

Per mix and per K (number of labelled unsafe anchors, drawn with a fixed seed from the mix's unsafe examples): the
AUROC (95% stratified bootstrap interval) and AUPRC of the max cosine similarity to the anchors, over the examples
that are not anchors; beside it, on the same examples, the offline toxicity classifier's AUROC (label-free, no
training; also a check that a rebuilt mix is the one the study tables measured). One M0 forward pass per mix;
forgetting itself needs the three-session run (bench/study_table.py), whose AUROC over all examples is what the
rows are read against.

    python bench/similarity_ranker.py runs/study/bias-s1-data/d_noisy.jsonl ... --anchors 10 30
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from forgetfilter.data.formats import read_examples

REPRESENTATION = "last hidden layer under M0, mean over response tokens; max cosine similarity to the anchors"


def mix_rows(data: Path, anchors_per_row: list[int], model_name: str | None) -> list[dict]:
    """One row per anchor count: the similarity ranking and the classifier's on the examples that are not anchors."""
    from signal_study import classifier_scores, representations  # bench/ is on sys.path when run as a script
    from study_table import auroc_interval

    examples = list(read_examples(data).examples)
    truth = np.array([ex.role == "unsafe" for ex in examples])
    started = time.perf_counter()
    vectors = representations(examples, model_name)
    seconds = time.perf_counter() - started
    classifier = classifier_scores(examples)
    rows = []
    for k in anchors_per_row:
        anchors = np.random.default_rng(0).choice(np.flatnonzero(truth), k, replace=False)
        keep = np.setdiff1d(np.arange(len(examples)), anchors)
        similarity = (vectors @ vectors[anchors].T).max(axis=1)
        row = {"mix": str(data.parent.name), "anchors": k, "n": len(keep), "seconds": seconds}
        for name, scores in (("similarity", similarity), ("classifier", classifier)):
            s, t = scores[keep], truth[keep]
            row[name] = (roc_auc_score(t, s), *auroc_interval(s, t.tolist()), average_precision_score(t, s))
        rows.append(row)
    return rows


def markdown(rows: list[dict]) -> str:
    lines = [
        "| mix | labelled anchors | examples scored | similarity AUROC [95%] | similarity AUPRC "
        "| classifier AUROC | M0 pass s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        auc, low, high, ap = r["similarity"]
        lines.append(
            f"| {r['mix']} | {r['anchors']} | {r['n']} | {auc:.3f} [{low:.2f}, {high:.2f}] | {ap:.3f} "
            f"| {r['classifier'][0]:.3f} | {r['seconds']:.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path, nargs="+", help="labelled D_noisy files (role per example)")
    parser.add_argument("--anchors", type=int, nargs="+", default=[10], help="labelled unsafe anchors per row")
    parser.add_argument("--model", default=None, help="M0: a named model, folder or hub id (default SmolLM2)")
    args = parser.parse_args(argv)
    rows = []
    for data in args.data:
        rows += mix_rows(data, args.anchors, args.model)
        print(markdown(rows[-len(args.anchors) :]).splitlines()[-1], flush=True)
    text = markdown(rows)
    print(f"\nRepresentation: {REPRESENTATION}.\n")
    print(text)
    return text


if __name__ == "__main__":
    main()
