"""``forgetfilter report``: rebuild a study run's report from its records (a stopped run, or kept records)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from forgetfilter.cli._common import console, user_errors


@user_errors
def report_command(
    run: Annotated[Path, typer.Argument(help="Experiment run folder (forgetfilter experiment --out), or its records.")],
) -> None:
    """Write RUN/results.md, results.csv, results.json, the plots and report.html from the run's records alone: the
    methods and interleaved sessions evaluated so far, the claims recomputed; no model, no data files. For a run
    that stopped before its end, or records kept without weights (bench/keep_records.py).

    Example: forgetfilter report docs/records/study-bias-s2
    """
    from forgetfilter.experiments.inputs import report_suites
    from forgetfilter.experiments.study_report import rebuild_report
    from forgetfilter.report import flat_row, markdown_table

    study, _ = rebuild_report(run)
    if study.rows:
        suites = report_suites(study.config.kind)
        typer.echo(markdown_table([flat_row(r, suites) for r in study.rows]))  # the results table on stdout
    else:
        console.print("no method evaluated (the run asked for none, or none has finished)", highlight=False)
    if study.points:
        console.print(f"interleaved: {len(study.points)} sessions evaluated", highlight=False)
    for gap in study.gaps:
        console.print(f"partial: {gap}", highlight=False)
    console.print(f"Wrote {run}/results.md, results.csv, results.json, report.html and the plots.", highlight=False)
