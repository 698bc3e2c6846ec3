"""``forgetfilter data ...``: build the paper's noisy datasets and inspect data files."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from forgetfilter.cli._common import user_errors

app = typer.Typer(help="Build the paper's noisy datasets and inspect data files.", no_args_is_help=True)
out = Console()


@app.command("build")
@user_errors
def build(
    kind: str = typer.Option(..., "--kind", help="bias | toxicity | harmfulness | mixed"),
    n: int = typer.Option(600, "--n", help="Size of D_noisy."),
    unsafe_ratio: float = typer.Option(0.5, "--unsafe-ratio", help="Share of unsafe examples in D_noisy."),
    seed: int = typer.Option(0, "--seed"),
    out_dir: Path = typer.Option(..., "--out", help="Folder for d_noisy.jsonl, d_safe.jsonl, eval_*.jsonl."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Datasets folder (default $FORGETFILTER_DATA_DIR)."),
    n_safe: int | None = typer.Option(None, "--n-safe", help="Size of D_safe (default n/2)."),
    n_eval: int | None = typer.Option(None, "--n-eval", help="Examples per evaluation file (default 200)."),
) -> None:
    """Build D_noisy, D_safe and held-out evaluation sets.

    Example: forgetfilter data build --kind bias --n 600 --out runs/bias-data
    """
    from forgetfilter.data.mix import build_mix

    start = time.perf_counter()
    mix = build_mix(kind, n=n, unsafe_ratio=unsafe_ratio, seed=seed, data_dir=data_dir, n_safe_finetune=n_safe,
                    n_eval=n_eval)
    manifest = mix.write(out_dir)
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
    file: Path = typer.Argument(..., help="JSON, JSONL, CSV or parquet data file."),
    format: str | None = typer.Option(None, "--format", help="alpaca | sharegpt | messages | prompt_completion | "
                                      "prompt_response (default: detected)."),
    skip_invalid: bool = typer.Option(False, "--skip-invalid", help="Skip bad records; write them to rejected.jsonl."),
    rejected_path: Path | None = typer.Option(None, "--rejected", help="Where to write rejected records "
                                              "(default: rejected.jsonl next to FILE)."),
) -> None:
    """Detect a file's format and count its examples by role and source (texts are not printed).

    Example: forgetfilter data inspect my_data.jsonl --skip-invalid
    """
    from forgetfilter.data.formats import read_examples

    result = read_examples(file, format=format, skip_invalid=skip_invalid)
    table = Table(title=f"{file}: {result.format} ({result.file_type})")
    table.add_column("count of")
    table.add_column("value")
    table.add_column("examples", justify="right")
    for label, counter in (("role", Counter(str(e.role) for e in result.examples)),
                           ("source", Counter(e.source for e in result.examples)),
                           ("chat", Counter(str(e.chat) for e in result.examples))):
        for value, count in sorted(counter.items()):
            table.add_row(label, value, str(count))
    out.print(table)
    empty = sum(1 for e in result.examples if not e.response.strip())
    out.print(f"{len(result.examples)} examples; {empty} with an empty response")
    if result.rejected:
        target = rejected_path or file.with_name("rejected.jsonl")
        lines = [json.dumps({"where": w, "reason": r, "raw": raw}, ensure_ascii=False, default=str) + "\n"
                 for w, r, raw in result.rejected]
        target.write_text("".join(lines), encoding="utf-8")
        out.print(f"rejected {len(result.rejected)} records; reasons in {target}")
