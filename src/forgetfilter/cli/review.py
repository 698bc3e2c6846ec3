"""``forgetfilter review`` (a page to check and override a run's decisions) and ``forgetfilter apply`` (a
decisions file from that page into kept/removed files)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from forgetfilter.cli._common import console, user_errors

_FORMAT = "The run's --format, for input that is not detected on its own."


@user_errors
def review_command(
    run: Annotated[Path, typer.Argument(help="A finished `forgetfilter filter` run folder.")],
    out: Annotated[Path | None, typer.Option(help="Where to write the page (default RUN/review.html).")] = None,
    data_format: Annotated[str | None, typer.Option("--format", help=_FORMAT)] = None,
) -> None:
    """Write RUN/review.html: one self-contained page to sort, search and check every example, move the cut,
    override decisions and export kept/removed data and a decisions file.

    Example: forgetfilter review runs/bias && forgetfilter apply runs/bias --decisions ~/Downloads/decisions.jsonl
    """
    from forgetfilter.review import write_review

    path = write_review(run, out=out, data_format=data_format)
    size = path.stat().st_size / 2**20
    console.print(f"Wrote {path} ({size:.1f} MiB); open it in a browser: {path.resolve().as_uri()}")
    console.print(f"Next: export decisions.jsonl from the page, then forgetfilter apply {run} --decisions FILE")


@user_errors
def apply_command(
    run: Annotated[Path, typer.Argument(help="The `forgetfilter filter` run folder the decisions are about.")],
    decisions: Annotated[
        Path, typer.Option(help='JSONL, one {"id": ..., "decision": "keep"|"remove"} line per example.')
    ],
    out: Annotated[
        Path | None, typer.Option(help="Folder for kept/removed/summary.json (default RUN/reviewed).")
    ] = None,
    data_format: Annotated[str | None, typer.Option("--format", help=_FORMAT)] = None,
) -> None:
    """Write the kept and removed examples of a decisions file (from the review page) in the input's own schema
    and file type, with summary.json: the same files the page's export gives.

    Example: forgetfilter apply runs/bias --decisions decisions.jsonl
    """
    import json

    from forgetfilter.decisions import apply_decisions

    paths = apply_decisions(run, decisions, out_dir=out, data_format=data_format)
    s = json.loads(paths["summary"].read_text(encoding="utf-8"))
    typer.echo(
        f"kept {s['n_kept']}, removed {s['n_removed']} of {s['n_examples']}; the review changed "
        f"{s['kept_to_removed'] + s['removed_to_kept']} decisions of the run ({s['removed_to_kept']} kept again, "
        f"{s['kept_to_removed']} newly removed); removed by role: {s['removed_by_role']}"
    )
    console.print(f"Wrote {paths['kept']}, {paths['removed']} and {paths['summary']}")
    console.print(f"Next: finetune on {paths['kept']}")
