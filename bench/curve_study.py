"""How separation grows with the length of S1+, from a run's forgetting curves (RUN/curves.jsonl).

For every recorded S1+ step, forgetting of each curve-sample example = signal(step) - signal(step 0 = M1)
(sign-corrected so larger means more forgotten); prints AUROC (unsafe vs rest) and the mean forgetting per role.
The curve sample is a fixed per-role sample of D_noisy (``curve_per_role`` in the run's config).

    python bench/curve_study.py runs/bias [--markdown]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from forgetfilter.curves import read_curves
from forgetfilter.selection import filter_quality, forgetting


def by_step(rows: list[dict], signal: str, session: str = "s1_plus") -> list[tuple[int, float, dict[str, float]]]:
    """(step, AUROC unsafe-vs-rest, mean forgetting per role) for each recorded step after the first."""
    rows = [r for r in rows if r["session"] == session]
    steps = sorted({r["step"] for r in rows})
    if not steps:
        return []
    base = {r["id"]: r[signal] for r in rows if r["step"] == steps[0]}
    out = []
    for step in steps[1:]:
        part = [r for r in rows if r["step"] == step and r["id"] in base]
        scores = forgetting([base[r["id"]] for r in part], [r[signal] for r in part], signal)
        roles = np.asarray([r["role"] for r in part])
        unsafe = roles == "unsafe"
        auroc = filter_quality(np.zeros(len(part), dtype=bool), scores, unsafe)["auroc"]
        means = {role: float(scores[roles == role].mean()) for role in sorted(set(roles))}
        out.append((step, auroc, means))
    return out


def levels(rows: list[dict], signal: str) -> list[tuple[str, int, dict[str, float]]]:
    """(session, step, mean raw signal per role): the learning curve in S1 and the forgetting curve in S1+."""
    out = []
    for session in ("s1", "s1_plus"):
        part = [r for r in rows if r["session"] == session]
        for step in sorted({r["step"] for r in part}):
            at = [r for r in part if r["step"] == step]
            roles = sorted({r["role"] for r in at})
            means = {ro: float(np.mean([r[signal] for r in at if r["role"] == ro])) for ro in roles}
            out.append((session, step, means))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path)
    parser.add_argument("--signals", default="nll,token_accuracy")
    args = parser.parse_args()
    rows = read_curves(args.run / "curves.jsonl")
    for signal in args.signals.split(","):
        table = by_step(rows, signal)
        if not table:
            print(f"no S1+ curve rows in {args.run / 'curves.jsonl'}")
            return
        roles = list(table[0][2])
        print(f"\n{signal}: forgetting since the start of S1+ (curve sample)")
        print("| S1+ step | AUROC | " + " | ".join(f"mean {r}" for r in roles) + " |")
        print("|---|---|" + "---|" * len(roles))
        for step, auroc, means in table:
            print(f"| {step} | {auroc:.3f} | " + " | ".join(f"{means[r]:+.3f}" for r in roles) + " |")
        print(f"\n{signal}: mean value per role (learning in S1, then S1+)")
        print("| session | step | " + " | ".join(roles) + " |")
        print("|---|---|" + "---|" * len(roles))
        for session, step, means in levels(rows, signal):
            print(f"| {session} | {step} | " + " | ".join(f"{means.get(r, float('nan')):.3f}" for r in roles) + " |")


if __name__ == "__main__":
    main()
