"""``forgetfilter recut``: decide a finished run again from its saved scores (another signal or cut), no model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from forgetfilter.cli._common import CountOption, FractionOption, PhiOption, console, user_errors


@user_errors
def recut_command(
    run: Annotated[Path, typer.Argument(help="A finished `forgetfilter filter` run folder (adapters not needed).")],
    out: Annotated[Path, typer.Option(help="New folder for the re-decided run (the run itself is never written).")],
    signal: Annotated[
        str | None, typer.Option(help="Deciding signal, one the run saved: log_nll, nll, token_accuracy, rouge.")
    ] = None,
    threshold_method: Annotated[
        str | None,
        typer.Option(help="Label-free cut: rise (log_nll only), otsu, robust_otsu, gmm, canary (a run with canaries)."),
    ] = None,
    phi: PhiOption = None,
    fraction: FractionOption = None,
    count: CountOption = None,
    rise: Annotated[float | None, typer.Option(help="The rise cut's value on the log_nll scale.")] = None,
    canary_fpr: Annotated[float | None, typer.Option(help="The canary cut's false-positive rate.")] = None,
    data: Annotated[
        Path | None,
        typer.Option(help="The run's input (D_noisy), for a folder kept without kept/removed files; checked."),
    ] = None,
    data_format: Annotated[str | None, typer.Option("--format", help="The run's --format, if it gave one.")] = None,
) -> None:
    """Write RUN's examples decided again with another signal or cut, from the scores the run saved: the same
    files `forgetfilter filter` writes, in a new folder, without loading a model. Settings not given keep the run's.

    Example: forgetfilter recut runs/harm --out runs/harm-robust --threshold-method robust_otsu
    """
    from forgetfilter.recut import recut_run

    given = {
        "signal": signal,
        "threshold_method": threshold_method,
        "phi": phi,
        "fraction": fraction,
        "count": count,
        "rise": rise,
        "canary_fpr": canary_fpr,
    }
    settings = {key: value for key, value in given.items() if value is not None}
    result = recut_run(run, out, data=data, data_format=data_format, **settings)
    typer.echo(result.report())
    console.print(f"Wrote {out}: kept/removed data, scores.jsonl, summary.md and recut_from.json (from {run}).")
    console.print(f"Next: forgetfilter review {out}, or filter_from={out} in an experiment")
