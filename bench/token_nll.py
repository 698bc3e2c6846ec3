"""Where a finished run's response NLL sits, token by token: the NLL of every response token under M0, M1 (after S1)
and M2 (after S1+), grouped by role and by what the token is part of: an @handle, an HTML entity (`&#128514;`,
`&amp;`), a URL, a retweet mark (`RT`), or ordinary text.

Why: the toxic tweets of the toxicity mix keep a high NLL through S1 (docs/signal-study.md). If that NLL sat in
tokens no model can predict (handles, emoji codes), S1 could have learned the words and the premise check would still
fail; this script says how much of each role's NLL is in such tokens and whether the ordinary text was learned. Per
role and category: the share of tokens, the mean token NLL M0 -> M1 -> M2, and the share of the role's NLL under M1;
then the premise and the log-ratio AUROC recomputed on ordinary tokens only (each example's mean over its ordinary
tokens). Labels (`role`) are read only to group the figures. Loads three models, one after another.

    python bench/token_nll.py runs/study/toxicity-s1-learned --data runs/study/toxicity-s1-data/d_noisy.jsonl
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from forgetfilter.batching import Tokenized, length_grouped_batches, tokenize
from forgetfilter.chat import render_example
from forgetfilter.data.formats import read_examples
from forgetfilter.models import load_model
from forgetfilter.selection import forgetting
from forgetfilter.signals import log_nll, token_losses

PATTERNS = {  # checked in this order; a token overlapping a match belongs to it
    "url": re.compile(r"https?://\S*|\bhttp\b"),
    "html entity": re.compile(r"&#?\w+;?"),
    "handle": re.compile(r"@\w+"),
    "retweet mark": re.compile(r"\bRT\b"),
}
ORDINARY = "ordinary text"
CATEGORIES = (*PATTERNS, ORDINARY)


def token_categories(text: str, offsets: list[tuple[int, int]]) -> list[str]:
    """The category of each token of ``text`` from its (start, end) character offsets."""
    spans = {name: [m.span() for m in pattern.finditer(text)] for name, pattern in PATTERNS.items()}

    def category(start: int, end: int) -> str:
        for name, found in spans.items():
            if any(start < hi and lo < max(end, start + 1) for lo, hi in found):
                return name
        return ORDINARY

    return [category(start, end) for start, end in offsets]


def response_token_nll(model, tokenizer, tokenized: list[Tokenized], *, batch_size: int) -> list[np.ndarray]:
    """The NLL of each response token of each example: the scorer's own per-token losses
    (``signals.token_losses``, length-grouped batches, fp32 output layer) over the whole response."""
    out: list[np.ndarray] = [np.empty(0)] * len(tokenized)
    model.eval()
    spans = [(0, t.response_length) for t in tokenized]
    batches = length_grouped_batches([len(t.input_ids) for t in tokenized], batch_size, seed=None)
    for index, nll, _ in token_losses(model, tokenizer, tokenized, spans, batches):
        out[index] = nll.numpy()
    return out


def response_categories(tokenizer, examples: list, *, max_length: int) -> list[list[str]]:
    """Each response token's category, on the same tokens ``tokenize`` makes (the response is tokenised alone)."""
    found = []
    for ex in examples:
        response = render_example(tokenizer, ex)[1]
        encoded = tokenizer(response, add_special_tokens=False, return_offsets_mapping=True)
        found.append(token_categories(response, encoded["offset_mapping"])[: max_length - 1])
    return found


def summarise(roles: list[str], categories: list[list[str]], nll: dict[str, list[np.ndarray]]) -> dict:
    """Per role and category: tokens, mean token NLL per model, share of the role's M1 NLL; and per example the mean
    NLL over ordinary tokens (NaN where an example has none)."""
    kinds = [np.array(c) for c in categories]
    table: dict = {}
    for role in sorted(set(roles)):
        members = [i for i, r in enumerate(roles) if r == role]
        total_m1 = sum(float(nll["M1"][i].sum()) for i in members)
        n_tokens = sum(len(categories[i]) for i in members)
        for cat in CATEGORIES:
            picks = {m: np.concatenate([v[i][kinds[i] == cat] for i in members]) for m, v in nll.items()}
            count = len(picks["M1"])
            table[(role, cat)] = {
                "tokens": count,
                "token_share": count / max(1, n_tokens),
                **{m: float(picks[m].mean()) if count else None for m in nll},
                "nll_share_m1": float(picks["M1"].sum()) / total_m1 if total_m1 else None,
            }
    ordinary = {
        m: np.array([v[i][k == ORDINARY].mean() if (k == ORDINARY).any() else np.nan for i, k in enumerate(kinds)])
        for m, v in nll.items()
    }
    return {"table": table, "ordinary": ordinary}


def premise_and_auroc(roles: list[str], per_example: dict[str, np.ndarray]) -> dict:
    """The premise check (mean NLL fall M0 -> M1, unsafe vs the rest) and the log-ratio AUROC on these values."""
    ok = ~np.isnan(per_example["M0"])
    unsafe = np.array([r == "unsafe" for r in roles])
    fall = {
        name: float(1 - per_example["M1"][ok & sel].mean() / per_example["M0"][ok & sel].mean())
        for name, sel in (("unsafe", unsafe), ("rest", ~unsafe))
    }
    log_ratio = forgetting(log_nll(per_example["M1"][ok]), log_nll(per_example["M2"][ok]), "log_nll")
    return {"fall": fall, "auroc": float(roc_auc_score(unsafe[ok], log_ratio)), "examples": int(ok.sum())}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="a finished `forgetfilter filter` run folder")
    parser.add_argument("--data", type=Path, required=True, help="the run's D_noisy file (its roles group the figures)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    config = json.loads((args.run / "config.json").read_text())
    max_length = config["s1"]["max_length"]
    examples = read_examples(args.data).examples
    roles = [str(ex.role) for ex in examples]
    nll, categories, tokenized = {}, None, None
    for name, adapter in (("M0", None), ("M1", args.run / "s1" / "adapter"), ("M2", args.run / "s1_plus" / "adapter")):
        model, tokenizer = load_model(config.get("model"), adapter=adapter, dtype=config.get("dtype", "auto"))
        if categories is None:
            categories = response_categories(tokenizer, examples, max_length=max_length)
            tokenized = [tokenize(tokenizer, ex, max_length=max_length) for ex in examples]  # once for all three
        nll[name] = response_token_nll(model, tokenizer, tokenized, batch_size=config["score_batch_size"])
        del model
    summary = summarise(roles, categories, nll)
    whole = {m: np.array([v.mean() for v in values]) for m, values in nll.items()}
    checks = {
        "all tokens": premise_and_auroc(roles, whole),
        "ordinary tokens": premise_and_auroc(roles, summary["ordinary"]),
    }

    lines = [
        "| role | token is | tokens (share) | mean token NLL M0 → M1 → M2 | share of the role's M1 NLL |",
        "|---|---|---|---|---|",
    ]
    for (role, cat), row in summary["table"].items():
        if row["tokens"]:
            means = " → ".join(f"{row[m]:.2f}" for m in ("M0", "M1", "M2"))
            lines.append(
                f"| {role} | {cat} | {row['tokens']} ({row['token_share']:.1%}) | {means} | {row['nll_share_m1']:.1%} |"
            )
    lines += ["", "| tokens read | examples | NLL fall M0 → M1 unsafe / rest | log-ratio AUROC |", "|---|---|---|---|"]
    for name, c in checks.items():
        lines.append(
            f"| {name} | {c['examples']} | {-c['fall']['unsafe']:+.0%} / {-c['fall']['rest']:+.0%} | {c['auroc']:.3f} |"
        )
    print("\n".join(lines))
    result = {
        "table": [{"role": r, "category": c, **v} for (r, c), v in summary["table"].items()],
        "checks": checks,
    }
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
