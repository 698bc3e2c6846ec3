"""The ``forgetfilter`` command. Subcommands map one-to-one to library functions.

Heavy libraries (torch, transformers) are imported inside the commands so ``--help`` is instant.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="forgetfilter",
    help=(
        "Find and drop unsafe examples in finetuning data by how much safety finetuning makes a model "
        "forget them.\n\nExample: forgetfilter data build --kind bias --n 600 --out runs/bias-data"
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register() -> None:
    from forgetfilter.cli import compare, data, evaluate, experiment, filter, recut, report, review

    app.add_typer(data.app, name="data")
    app.command("filter")(filter.filter_command)
    app.command("recut")(recut.recut_command)
    app.command("evaluate")(evaluate.evaluate_command)
    app.command("experiment")(experiment.experiment_command)
    app.command("compare")(compare.compare_command)
    app.command("claims")(compare.claims_command)
    app.command("report")(report.report_command)
    app.command("review")(review.review_command)
    app.command("apply")(review.apply_command)


_register()
