"""``forgetfilter experiment``: the paper's comparison of methods for one safety kind, from a YAML config."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from forgetfilter.cli._common import console, user_errors

Opt = typer.Option


@user_errors
def experiment_command(
    config: Annotated[Path, typer.Argument(help="Experiment YAML, e.g. configs/experiment-bias.yaml.")],
    overrides: Annotated[
        list[str] | None,
        typer.Argument(help="key=value overrides with the YAML's dotted keys, e.g. data.n=120 filter.s1.epochs=1."),
    ] = None,
    out: Annotated[Path | None, Opt("--out", help="Run directory (default runs/<config name>); reruns resume.")] = None,
    model: Annotated[
        str | None, Opt(help="Same as model=...: qwen2.5-0.5b, qwen2.5-1.5b, hub id, local folder or .gguf.")
    ] = None,
    methods: Annotated[str | None, Opt(help="Same as methods=[...]: a comma-separated subset.")] = None,
    check: Annotated[bool, Opt("--check", help="Validate the config, print it resolved, and exit.")] = False,
) -> None:
    """Train and evaluate M0, no filter, sequential safety finetuning, replay, self-correction, ForgetFilter (with
    and without the cue), a classifier filter, a random filter and the oracle; write the report.

    Example: forgetfilter experiment configs/experiment-bias.yaml --out runs/exp-bias eval.n=50
    """
    import yaml

    from forgetfilter.experiments.config import load_experiment_config

    extra = list(overrides or [])
    if methods is not None:
        extra.append("methods=[" + methods + "]")
    cfg = load_experiment_config(config, extra)
    if model is not None:
        cfg = replace(cfg, model=model)
    if check:
        typer.echo(yaml.safe_dump(cfg.to_dict(), sort_keys=False), nl=False)
        return
    from forgetfilter.distributed import is_main
    from forgetfilter.experiments.runner import run_experiment
    from forgetfilter.report import flat_row, markdown_table

    run_dir = out or Path("runs") / config.stem
    result = run_experiment(cfg, run_dir, echo=lambda text: console.print(f"[experiment] {text}", highlight=False))
    if not is_main():  # launched in several processes (torchrun), the main one reports
        return
    suites = list(result.rows[0]["metrics"]) if result.rows else []
    typer.echo(markdown_table([flat_row(r, suites) for r in result.rows]))  # the results table on stdout
    console.print(f"Wrote {run_dir}/results.md, results.csv, results.json, report.html and the plots.")
    console.print(f"Next: open {run_dir}/report.html")
