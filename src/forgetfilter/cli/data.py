"""``forgetfilter data ...``: build the paper's noisy datasets and inspect data files."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from forgetfilter.cli._common import user_errors

app = typer.Typer(help="Build the paper's noisy datasets and inspect data files.", no_args_is_help=True)
out = Console()
_FORMATS = "alpaca | sharegpt | messages | prompt_completion | prompt_response"


@app.command("build")
@user_errors
def build(
    kind: Annotated[str, typer.Option("--kind", help="bias | toxicity | harmfulness | mixed")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for d_noisy.jsonl, d_safe.jsonl, eval_*.jsonl.")],
    n: Annotated[int, typer.Option("--n", help="Size of D_noisy.")] = 600,
    unsafe_ratio: Annotated[float, typer.Option("--unsafe-ratio", help="Share of unsafe examples in D_noisy.")] = 0.5,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Datasets folder.")] = None,
    n_safe: Annotated[int | None, typer.Option("--n-safe", help="Size of D_safe (default n/2).")] = None,
    n_eval: Annotated[int | None, typer.Option("--n-eval", help="Examples per evaluation file (default 200).")] = None,
) -> None:
    """Build D_noisy, D_safe and held-out evaluation sets.

    Example: forgetfilter data build --kind bias --n 600 --out runs/bias-data
    """
    from forgetfilter.data.manifest import write_mix
    from forgetfilter.data.mix import build_mix

    start = time.perf_counter()
    mix = build_mix(
        kind, n=n, unsafe_ratio=unsafe_ratio, seed=seed, data_dir=data_dir, n_safe_finetune=n_safe, n_eval=n_eval
    )
    manifest = write_mix(mix, out_dir)
    table = Table(title=f"{kind} mix, n={n}, unsafe ratio {unsafe_ratio}, seed {seed}")
    for column in ("file", "examples", "by role", "by source"):
        table.add_column(column)
    for name, summary in manifest["files"].items():
        table.add_row(name, str(summary["examples"]), _fmt(summary["by_role"]), _fmt(summary["by_source"]))
    out.print(table)
    for reason, count in manifest["dropped"].items():
        out.print(f"dropped {count} ({reason})")
    out.print(f"wrote {out_dir} in {time.perf_counter() - start:.1f} s; next: forgetfilter filter ...")


def _fmt(counts: dict[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in counts.items())


@app.command("inspect")
@user_errors
def inspect(
    file: Annotated[Path, typer.Argument(help="JSON, JSONL, CSV or parquet data file.")],
    format: Annotated[str | None, typer.Option("--format", help=f"One of {_FORMATS} (default: detected).")] = None,
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="Skip bad records, listed in FILE's stem + .rejected.jsonl.")
    ] = False,
    rejected_path: Annotated[Path | None, typer.Option("--rejected", help="Where to list rejected records.")] = None,
) -> None:
    """Detect a file's format and count its examples by role and source (texts are not printed).

    Example: forgetfilter data inspect my_data.jsonl --skip-invalid
    """
    from forgetfilter.data.formats import read_examples
    from forgetfilter.errors import ConfigError

    target = rejected_path or file.with_name(file.stem + ".rejected.jsonl")
    if target.resolve() == file.resolve():
        raise ConfigError(f"--rejected {target} is the input file itself; choose another path")
    result = read_examples(file, format=format, skip_invalid=skip_invalid)
    table = Table(title=f"{file}: {result.format} ({result.file_type})")
    table.add_column("count of")
    table.add_column("value")
    table.add_column("examples", justify="right")
    for label, counter in (
        ("role", Counter(str(e.role) for e in result.examples)),
        ("source", Counter(e.source for e in result.examples)),
        ("chat", Counter(str(e.chat) for e in result.examples)),
    ):
        for value, count in sorted(counter.items()):
            table.add_row(label, value, str(count))
    out.print(table)
    empty = sum(1 for e in result.examples if not e.response.strip())
    out.print(f"{len(result.examples)} examples; {empty} with an empty response")
    if result.rejected:
        lines = [
            json.dumps({"where": w, "reason": r, "raw": raw}, ensure_ascii=False, default=str) + "\n"
            for w, r, raw in result.rejected
        ]
        target.write_text("".join(lines), encoding="utf-8")
        out.print(f"rejected {len(result.rejected)} records; reasons in {target}")
