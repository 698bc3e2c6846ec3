"""Compare forgetting-signal variants on a finished `forgetfilter filter` run.

Reads RUN/scores_m1.json and RUN/scores_m2.json (the run's own token selection) and RUN/scores_m0.json when the
run scored M0, optionally re-scores RUN/s1/adapter (M1) and RUN/s1_plus/adapter (M2) with other token selections,
and prints per variant: AUROC and AUPRC (unsafe vs rest), F1 and the number removed at the Otsu, GMM and (when the
run had canaries) canary label-free thresholds, and mean score per role. With M0 it adds the rankings a user could
try without forgetting (the NLL under M0 and under M1) and statistics of the share of S1's gain that S1+ undid.
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


def variants(before: dict, after: dict, selection: str, reference: dict | None = None) -> dict[str, np.ndarray]:
    """Per-example scores, higher = more likely unsafe, keyed by a readable name."""
    out = {}
    for signal in ("nll", "token_accuracy", "rouge"):
        if signal in before:
            out[f"{signal} [{selection}]"] = forgetting(before[signal], after[signal], signal)
    if "nll" not in before:
        return out
    b, a = (np.log(np.maximum(np.asarray(x, dtype=float), 1e-6)) for x in (before["nll"], after["nll"]))
    out[f"log nll ratio [{selection}]"] = a - b  # log(NLL_M2 / NLL_M1)
    out[f"M1 nll, no forgetting [{selection}]"] = np.asarray(before["nll"], dtype=float)
    if reference is not None and "nll" in reference:
        m0 = np.log(np.maximum(np.asarray(reference["nll"], dtype=float), 1e-6))
        out[f"M0 nll, no training [{selection}]"] = np.exp(m0)
        gain = m0 - b  # what S1 taught, in log NLL
        out[f"share of S1 gain undone [{selection}]"] = (a - b) / np.maximum(gain, 0.05)
        out[f"log nll M2 vs M0 [{selection}]"] = a - m0
        out[f"log nll ratio + M0 log nll, z-sum [{selection}]"] = _zscore(a - b) + _zscore(m0)
    return out


def classifier_scores(examples: list) -> np.ndarray:
    """The offline toxicity classifier's score of each response (forgetfilter.evaluate's ``profanity`` scorer):
    a ranking that assumes the unsafe content has words a classifier knows."""
    from forgetfilter.evaluate.toxicity import get_scorer

    return np.asarray(get_scorer("profanity")([ex.response for ex in examples]), dtype=float)


def representations(examples: list, model_name: str | None) -> np.ndarray:
    """Unit-length M0 representation of each example: last hidden layer, mean over its response tokens."""
    import torch

    from forgetfilter.batching import collate, tokenize
    from forgetfilter.models import load_model

    model, tok = load_model(model_name)
    vectors = []
    with torch.no_grad():
        for start in range(0, len(examples), 16):
            items = [tokenize(tok, ex, max_length=384) for ex in examples[start : start + 16]]
            batch = collate(items, tok.pad_token_id)
            hidden = model(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], output_hidden_states=True
            ).hidden_states[-1]
            for row, item in enumerate(items):
                vectors.append(hidden[row, item.response_start : len(item.input_ids)].float().mean(0))
    return torch.nn.functional.normalize(torch.stack(vectors), dim=-1).numpy()


def similarity_scores(examples: list, anchors: list[int], model_name: str | None) -> np.ndarray:
    """Max cosine similarity of each example's M0 representation (``representations``) to those of a few labelled
    unsafe ``anchors`` (He et al. 2024, representation similarity): needs labels."""
    v = representations(examples, model_name)
    return (v @ v[anchors].T).max(axis=1)


def _zscore(x: np.ndarray) -> np.ndarray:
    return (x - x.mean()) / (x.std() or 1.0)


def table(scores: dict[str, np.ndarray], roles: list[str], canaries: dict[str, np.ndarray] | None = None) -> str:
    unsafe = [r == "unsafe" for r in roles]
    role_names = sorted(set(roles))
    methods = ["otsu", "gmm", *(["canary"] if canaries else [])]
    head = (
        "| variant | AUROC | AUPRC | "
        + " | ".join(f"F1 ({m}) | removed ({m})" for m in methods)
        + " | "
        + " | ".join(f"mean {r}" for r in role_names)
        + " |"
    )
    lines = [head, "|" + "---|" * (3 + 2 * len(methods) + len(role_names))]
    arr = np.asarray(roles)
    for name, s in scores.items():
        cells = [name]
        for method in methods:
            null = (canaries or {}).get(name)
            if method == "canary" and null is None:
                cells += ["–", "–"]
                continue
            t = choose_threshold(s, method=method, null=null)
            q = filter_quality(filter_mask(s, t), s, unsafe)
            if method == "otsu":
                cells += [f"{q['auroc']:.3f}", f"{q['auprc']:.3f}"]
            cells += [f"{q['f1']:.3f}", f"{int(q['n_removed'])}"]
        cells += [f"{s[arr == r].mean():+.3f}" for r in role_names]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path)
    parser.add_argument("--data", type=Path, required=True, help="the run's D_noisy file")
    parser.add_argument("--rescore", nargs="*", default=[], choices=["all", "answer"], help="extra token selections")
    parser.add_argument("--classifier", action="store_true", help="add the offline toxicity classifier's ranking")
    parser.add_argument(
        "--similarity", type=int, default=0, metavar="K", help="add M0 representation similarity to K labelled unsafe"
    )
    args = parser.parse_args(argv)
    examples = list(read_examples(args.data).examples)
    n = len(examples)
    config = json.loads((args.run / "config.json").read_text())
    stored = {}
    for stage in ("m0", "m1", "m2"):
        path = args.run / f"scores_{stage}.json"
        stored[stage] = json.loads(path.read_text())["signals"] if path.is_file() else None

    def part(signals: dict | None, canary: bool) -> dict | None:
        return None if signals is None else {k: (v[n:] if canary else v[:n]) for k, v in signals.items()}

    selection = config["token_selection"]
    scores = variants(part(stored["m1"], False), part(stored["m2"], False), selection, part(stored["m0"], False))
    canaries = None
    if len(stored["m1"]["nll"]) > n:  # the run mixed canaries into S1: scores past the data are theirs
        canaries = variants(part(stored["m1"], True), part(stored["m2"], True), selection, part(stored["m0"], True))
        print(f"{len(stored['m1']['nll']) - n} canaries; canary cut at a 5% false-positive rate on them")
    for extra in args.rescore:
        b, a, seconds = rescore(args.run, examples, extra)
        print(f"re-scored M1 and M2 with token_selection={extra} in {seconds:.0f} s")
        scores.update(variants(b, a, extra))
    roles = [ex.role or "unknown" for ex in examples]
    if args.classifier:
        scores["toxicity classifier (profanity model)"] = classifier_scores(examples)
    if args.similarity:  # the anchors are labelled unsafe examples: they leave the evaluation for every variant
        unsafe = [i for i, r in enumerate(roles) if r == "unsafe"]
        anchors = [int(i) for i in np.random.default_rng(0).choice(unsafe, args.similarity, replace=False)]
        scores[f"M0 similarity to {args.similarity} labelled unsafe"] = similarity_scores(
            examples, anchors, config["model"]
        )
        keep = np.setdiff1d(np.arange(n), anchors)
        scores = {k: v[keep] for k, v in scores.items()}
        roles = [roles[i] for i in keep]
        print(f"{args.similarity} unsafe anchors left out of every row's figures")
    text = table(scores, roles, canaries)
    print(text)
    return text


if __name__ == "__main__":
    main()
