"""Compare forgetting-signal variants on a finished `forgetfilter filter` run.

Reads RUN/scores_m1.json and RUN/scores_m2.json (the run's own token selection), optionally re-scores
RUN/s1/adapter (M1) and RUN/s1_plus/adapter (M2) with other token selections, and prints per variant:
AUROC (unsafe vs rest), F1 at the Otsu and GMM label-free thresholds, and mean forgetting per role.
Choose variants on one run; report them on another (never on the labels you report).

    python bench/signal_study.py runs/bias --data runs/bias-data/d_noisy.jsonl --rescore all
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from forgetfilter.config import FilterConfig
from forgetfilter.data.formats import read_examples
from forgetfilter.selection import choose_threshold, filter_mask, filter_quality, forgetting


def rescore(run: Path, examples: list, selection: str) -> tuple[dict, dict, float]:
    from peft import PeftModel

    from forgetfilter.models import load_model
    from forgetfilter.signals import teacher_forced_signals

    config = FilterConfig.from_dict(json.loads((run / "config.json").read_text()))
    out, started = [], time.perf_counter()
    for stage in ("s1", "s1_plus"):
        base, tok = load_model(config.model)
        model = PeftModel.from_pretrained(base, str(run / stage / "adapter"))
        out.append(
            teacher_forced_signals(
                model,
                tok,
                examples,
                token_selection=selection,
                batch_size=config.score_batch_size,
                max_length=config.s1.max_length,
                desc=f"{stage}/{selection}",
            )
        )
    return out[0], out[1], time.perf_counter() - started


def variants(before: dict, after: dict, selection: str) -> dict[str, np.ndarray]:
    out = {}
    for signal in ("nll", "token_accuracy", "rouge"):
        if signal in before:
            out[f"{signal} [{selection}]"] = forgetting(before[signal], after[signal], signal)
    if "nll" in before:  # relative change: log(NLL_M2 / NLL_M1)
        b, a = np.asarray(before["nll"]), np.asarray(after["nll"])
        out[f"log nll ratio [{selection}]"] = np.log(np.maximum(a, 1e-6)) - np.log(np.maximum(b, 1e-6))
    return out


def table(scores: dict[str, np.ndarray], roles: list[str]) -> str:
    unsafe = [r == "unsafe" for r in roles]
    role_names = sorted(set(roles))
    head = (
        "| variant | AUROC | F1 (otsu) | removed (otsu) | F1 (gmm) | removed (gmm) | "
        + " | ".join(f"mean forgetting {r}" for r in role_names)
        + " |"
    )
    lines = [head, "|" + "---|" * (6 + len(role_names))]
    arr = np.asarray(roles)
    for name, s in scores.items():
        cells = [name]
        for method in ("otsu", "gmm"):
            q = filter_quality(filter_mask(s, t := choose_threshold(s, method=method)), s, unsafe)
            if method == "otsu":
                cells.append(f"{q['auroc']:.3f}")
            cells += [f"{q['f1']:.3f}", f"{int(q['n_removed'])} (phi={t.phi:.3g})"]
        cells += [f"{s[arr == r].mean():+.3f}" for r in role_names]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path)
    parser.add_argument("--data", type=Path, required=True, help="the run's D_noisy file")
    parser.add_argument("--rescore", nargs="*", default=[], choices=["all", "answer"], help="extra token selections")
    args = parser.parse_args()
    examples = list(read_examples(args.data).examples)
    config = json.loads((args.run / "config.json").read_text())
    before = json.loads((args.run / "scores_m1.json").read_text())["signals"]
    after = json.loads((args.run / "scores_m2.json").read_text())["signals"]
    scores = variants(before, after, config["token_selection"])
    for selection in args.rescore:
        b, a, seconds = rescore(args.run, examples, selection)
        print(f"re-scored M1 and M2 with token_selection={selection} in {seconds:.0f} s")
        scores.update(variants(b, a, selection))
    print(table(scores, [ex.role or "unknown" for ex in examples]))


if __name__ == "__main__":
    main()
