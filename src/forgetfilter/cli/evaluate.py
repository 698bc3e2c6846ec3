"""``forgetfilter evaluate``: safety and task metrics for a model or adapter."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from forgetfilter.cli._common import user_errors
from forgetfilter.errors import ConfigError

Opt = typer.Option


@user_errors
def evaluate_command(
    out: Annotated[Path, Opt("--out", help="Folder for metrics.json and generations_<suite>.jsonl.")],
    model: Annotated[
        str | None, Opt(help="qwen2.5-0.5b, qwen2.5-1.5b, hub id, local folder or .gguf (default: SmolLM2-135M).")
    ] = None,
    adapter: Annotated[Path | None, Opt(help="A saved LoRA/PEFT adapter folder applied on top.")] = None,
    suite: Annotated[str, Opt(help="Comma-separated: toxicity, bias, harmfulness, task.")] = (
        "toxicity,bias,harmfulness,task"
    ),
    n: Annotated[int, Opt("--n", help="Prompts per suite.")] = 200,
    eval_dir: Annotated[Path | None, Opt(help="Eval files of `forgetfilter data build`.")] = None,
    data_dir: Annotated[Path | None, Opt(help="Raw datasets folder (used without --eval-dir).")] = None,
    batch_size: Annotated[int, Opt(help="Prompts per generation batch.")] = 16,
    max_new_tokens: Annotated[
        str | None,
        Opt(
            help="One budget for all (e.g. 32) or per part (e.g. bias=8,alpaca=48); defaults: "
            "toxicity 32, bias 16, harmfulness 64, squad 24, alpaca 96."
        ),
    ] = None,
    scorer: Annotated[str, Opt(help="Toxicity scorer: profanity (offline) or detoxify.")] = "profanity",
    detoxify_checkpoint: Annotated[str | None, Opt(help="Detoxify 'original' .ckpt file.")] = None,
    seed: Annotated[int, Opt(help="Seed of the prompt sample.")] = 0,
    dtype: Annotated[str, Opt(help="auto, float32, bfloat16 or float16.")] = "auto",
) -> None:
    """Evaluate toxicity, BBQ bias, harmfulness and task skill (SQuAD, Alpaca) of a model.

    Example: forgetfilter evaluate --suite bias,task --n 100 --out runs/eval-m0
    """
    from forgetfilter.evaluate.suite import check_suites
    from forgetfilter.evaluate.toxicity import get_scorer

    suites = check_suites(suite.split(","))  # fail on a typo before loading the model
    budgets = _budgets(max_new_tokens)
    get_scorer(scorer, checkpoint=detoxify_checkpoint)
    from forgetfilter.evaluate import evaluate
    from forgetfilter.models import load_model

    lm, tokenizer = load_model(model, adapter=adapter, dtype=dtype)
    results = evaluate(
        lm,
        tokenizer,
        suites=suites,
        data_dir=data_dir,
        eval_dir=eval_dir,
        n=n,
        max_new_tokens=budgets,
        batch_size=batch_size,
        scorer=scorer,
        detoxify_checkpoint=detoxify_checkpoint,
        out_dir=out,
        seed=seed,
        run_info={"model": model or "smollm2-135m-instruct", "adapter": adapter or "", "dtype": dtype},
    )
    from forgetfilter.distributed import is_main

    if not is_main():  # launched in several processes (torchrun), each generated its share; the main one reports
        return
    _print_table(results)
    typer.echo(f"wrote {out / 'metrics.json'}; per-item generations in {out}/generations_<suite>.jsonl")


def _budgets(text: str | None) -> int | dict[str, int] | None:
    """``"32"`` -> 32; ``"bias=8,alpaca=48"`` -> a mapping (keys are checked by ``evaluate``)."""
    if not text:
        return None
    try:
        if "=" not in text:
            return int(text)
        return {k.strip(): int(v) for k, v in (part.split("=", 1) for part in text.split(",") if part.strip())}
    except ValueError:
        raise ConfigError(
            f"--max-new-tokens {text!r}: expected an integer or part=integer pairs such as bias=8,alpaca=48"
        ) from None


def _print_table(results: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"forgetfilter evaluate (toxicity scorer: {results['run']['scorer']})")
    for column in ("suite", "metric", "value"):
        table.add_column(column)
    for name, metrics in results.items():
        if name == "run":
            continue
        for key, value in metrics.items():
            table.add_row(name, key, f"{value:.4g}" if isinstance(value, float) else json.dumps(value))
    Console().print(table)
