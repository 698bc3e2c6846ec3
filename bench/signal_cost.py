"""Signal quality and cost on the same M1/M2: the authors' generation ROUGE against forgetfilter's batched signals.

Reads a finished ``forgetfilter filter`` run (RUN/s1/adapter = M1, RUN/s1_plus/adapter = M2, RUN/config.json)
and its D_noisy file, takes a seeded subsample stratified by role, and scores it on M1 and M2 both ways in
this one process:

- authors: ROUGE-1 F of a greedy generation made one example at a time (batch size 1, up to 500 new tokens,
  as in the authors' scoring code), first non-empty line, lower-cased, punctuation stripped;
- forgetfilter: batched greedy ROUGE (the run's max_new_tokens and batch size) and the teacher-forced NLL and
  token accuracy (one batched forward pass gives both).

Prints AUROC of each forgetting score (positive = role 'unsafe') and examples/s (scored per model, M1 and M2
together), and the speed ratio of each batched signal over the authors' way; appends it all to results.md.

    python bench/signal_cost.py runs/bias --data runs/bias-data/d_noisy.jsonl --limit 120
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from machine import RESULTS_MD, append_section, command_line, describe_machine, markdown_table, stratified_sample

from forgetfilter.config import FilterConfig
from forgetfilter.examples import Example
from forgetfilter.selection import filter_quality, forgetting

AUTHORS_MAX_NEW_TOKENS = 500  # the authors' scoring budget (their released code)


def authors_rouge(model: Any, tokenizer: Any, examples: Sequence[Example], *, max_new_tokens: int) -> dict[str, Any]:
    """ROUGE-1 F of greedy generations made one example at a time, as the authors' scoring loop does."""
    import torch
    from rouge_score import rouge_scorer

    from forgetfilter.chat import render_prompt
    from forgetfilter.generation import stop_token_ids
    from forgetfilter.signals import normalize_generation

    scorer = rouge_scorer.RougeScorer(["rouge1"], use_stemmer=True)
    stops = stop_token_ids(tokenizer)
    device = next(model.parameters()).device
    scores, new_tokens = [], 0
    for ex in examples:
        prompt = render_prompt(tokenizer, ex.messages, chat=ex.chat)
        ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"].to(device)
        with torch.inference_mode():
            out = model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                do_sample=False,
                num_beams=1,
                max_new_tokens=max_new_tokens,
                eos_token_id=stops,
                pad_token_id=tokenizer.pad_token_id,
                temperature=None,
                top_p=None,
                top_k=None,
            )
        new = out[0, ids.shape[1] :]
        new_tokens += int(new.numel())
        text = tokenizer.decode(new, skip_special_tokens=True)
        scores.append(scorer.score(normalize_generation(ex.response), normalize_generation(text))["rouge1"].fmeasure)
    return {"rouge": scores, "new_tokens": new_tokens}


def score_model(
    model: Any, tokenizer: Any, examples: Sequence[Example], config: FilterConfig, authors_tokens: int
) -> tuple[dict[str, list[float]], dict[str, float], int]:
    """Every method's signal on one model, with its seconds; the batched sides run first."""
    from forgetfilter.signals import log_nll, rouge_signal, teacher_forced_signals

    model.eval()
    warm = {"batch_size": config.score_batch_size, "progress": False}  # warm-ups, untimed
    teacher_forced_signals(model, tokenizer, examples[:2], token_selection="all", max_length=64, **warm)
    rouge_signal(model, tokenizer, examples[:2], max_new_tokens=2, **warm)
    signals, seconds = {}, {}
    started = time.perf_counter()
    tf = teacher_forced_signals(
        model,
        tokenizer,
        examples,
        token_selection=config.token_selection,
        batch_size=config.score_batch_size,
        max_length=config.s1.max_length,
        progress=False,
    )
    seconds["nll"] = seconds["token_accuracy"] = seconds["log_nll"] = time.perf_counter() - started
    signals.update(tf)
    signals["log_nll"] = log_nll(tf["nll"])
    started = time.perf_counter()
    signals["rouge"] = rouge_signal(
        model,
        tokenizer,
        examples,
        max_new_tokens=config.max_new_tokens,
        batch_size=config.score_batch_size,
        progress=False,
    )["rouge"]
    seconds["rouge"] = time.perf_counter() - started
    started = time.perf_counter()
    authors = authors_rouge(model, tokenizer, examples, max_new_tokens=authors_tokens)
    seconds["authors_rouge"] = time.perf_counter() - started
    signals["authors_rouge"] = authors["rouge"]
    return signals, seconds, authors["new_tokens"]


METHODS = {  # method: (signal kind, for the forgetting direction; description)
    "authors_rouge": ("rouge", "authors: ROUGE-1, generation at batch size 1"),
    "rouge": ("rouge", "forgetfilter: ROUGE-1, batched generation"),
    "log_nll": ("log_nll", "forgetfilter: log-ratio NLL (the default), batched forward"),
    "nll": ("nll", "forgetfilter: NLL, same forward pass"),
    "token_accuracy": ("token_accuracy", "forgetfilter: token accuracy, same forward pass as NLL"),
}


def summarise(
    before: dict[str, list[float]], after: dict[str, list[float]], seconds: dict[str, float], roles: list[str]
) -> list[dict[str, Any]]:
    """One row per method: AUROC of its forgetting, examples/s (per model scored) and speed vs the authors'."""
    unsafe = [r == "unsafe" for r in roles]
    n_scored = 2 * len(roles)  # M1 and M2
    rows = []
    for name, (kind, description) in METHODS.items():
        scores = forgetting(before[name], after[name], kind)
        auroc = filter_quality(np.zeros(len(scores), dtype=bool), scores, unsafe)["auroc"]
        rows.append(
            {
                "method": name,
                "description": description,
                "auroc": auroc,
                "seconds": seconds[name],
                "examples_per_s": n_scored / max(seconds[name], 1e-9),
            }
        )
    base = rows[0]
    for row in rows:
        row["speedup"] = row["examples_per_s"] / base["examples_per_s"]
        row["auroc_delta"] = row["auroc"] - base["auroc"]
    return rows


def render(rows: list[dict[str, Any]], n: int, n_unsafe: int, authors_tokens: float) -> str:
    table = markdown_table(
        ["method", "AUROC", "ΔAUROC vs authors", "examples/s", "seconds (M1+M2)", "speed vs authors"],
        [
            [
                r["description"],
                f"{r['auroc']:.3f}",
                f"{r['auroc_delta']:+.3f}",
                f"{r['examples_per_s']:.2f}",
                f"{r['seconds']:.1f}",
                f"{r['speedup']:.1f}x",
            ]
            for r in rows
        ],
    )
    best = max(rows[1:], key=lambda r: r["auroc"])
    verdict = "meets" if best["speedup"] >= 30 and best["auroc_delta"] >= -0.02 else "misses"
    return (
        f"{table}\n\n{n} examples ({n_unsafe} unsafe), each scored on M1 and M2; the authors' generations averaged "
        f"{authors_tokens:.1f} new tokens. Best batched signal by AUROC: {best['method']} at {best['speedup']:.1f}x "
        f"the authors' speed, ΔAUROC {best['auroc_delta']:+.3f}: {verdict} the target (>= 30x at ΔAUROC >= -0.02)."
    )


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="a finished `forgetfilter filter` run directory")
    parser.add_argument("--data", type=Path, required=True, help="the run's D_noisy file")
    parser.add_argument("--model", default=None, help="base model of the run (default: the run's config.json)")
    parser.add_argument("--limit", type=int, default=120, help="examples, stratified by role (0: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--token-selection", default=None, help="override the run's token selection: all or answer")
    parser.add_argument("--authors-max-new-tokens", type=int, default=AUTHORS_MAX_NEW_TOKENS)
    parser.add_argument("--out-md", type=Path, default=RESULTS_MD, help="markdown file to append the results to")
    args = parser.parse_args(argv)

    from forgetfilter.data.formats import read_examples
    from forgetfilter.models import load_model, pick_device, pick_dtype

    config = FilterConfig.from_dict(json.loads((args.run / "config.json").read_text()))
    if args.token_selection is not None:
        config = dataclasses.replace(config, token_selection=args.token_selection)
    model_name = args.model if args.model is not None else config.model
    examples = list(read_examples(args.data).examples)
    examples = stratified_sample(
        examples, [ex.role or "unknown" for ex in examples], args.limit or None, seed=args.seed
    )
    roles = [ex.role or "unknown" for ex in examples]
    if "unsafe" not in roles or all(r == "unsafe" for r in roles):
        raise SystemExit(f"AUROC needs unsafe and other examples; roles in the sample: {sorted(set(roles))}")
    per_model, seconds, tokens = [], {k: 0.0 for k in METHODS}, 0
    for stage in ("s1", "s1_plus"):
        model, tokenizer = load_model(
            model_name, adapter=args.run / stage / "adapter", dtype=config.dtype, device=config.device
        )
        signals, secs, new_tokens = score_model(model, tokenizer, examples, config, args.authors_max_new_tokens)
        per_model.append(signals)
        seconds = {k: seconds[k] + secs[k] for k in METHODS}
        tokens += new_tokens
        del model
    rows = summarise(per_model[0], per_model[1], seconds, roles)
    body = render(rows, len(examples), roles.count("unsafe"), tokens / (2 * len(examples)))
    print(body)
    settings = {
        "run": args.run,
        "model": model_name or "default (SmolLM2-135M-Instruct)",
        "limit": len(examples),
        "seed": args.seed,
        "authors max_new_tokens": args.authors_max_new_tokens,
        "batched max_new_tokens": config.max_new_tokens,
        "score_batch_size": config.score_batch_size,
        "token_selection": config.token_selection,
        "max_length": config.s1.max_length,
    }
    machine = describe_machine(pick_dtype(config.dtype), pick_device(config.device))
    append_section(
        args.out_md, "Signal quality and cost", command_line(__file__, argv), machine, body, settings=settings
    )
    return rows


if __name__ == "__main__":
    main()
