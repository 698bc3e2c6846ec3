"""The study's report: results table (markdown, CSV, JSON), PNG plots, one self-contained HTML page, and the
versions of model, data and code that produced it."""

from __future__ import annotations

import base64
import csv
import html
import json
import math
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from forgetfilter.evaluate.registry import HEADLINE, SUITE_COLUMNS
from forgetfilter.paths import sha256_file

FILTER_COLUMNS: tuple[str, ...] = ("n_train", "n_removed", "precision", "recall", "f1", "auroc")
Row = Mapping[str, Any]
_STYLE = (
    "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:3px 6px}img{max-width:100%}"
)


def flat_row(row: Row, suites: Sequence[str]) -> dict[str, Any]:
    """A results row as table cells: method, accounting, then the suites' columns."""
    cells: dict[str, Any] = {"method": row["method"], **{k: row.get(k) for k in FILTER_COLUMNS}}
    for suite in suites:
        cells.update({c: row["metrics"].get(suite, {}).get(c) for c in SUITE_COLUMNS[suite]})
    return cells


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.0f}" if value.is_integer() and abs(value) >= 1 else f"{value:.3f}"
    return str(value)


def markdown_table(cells: Sequence[Mapping[str, Any]]) -> str:
    keys = list(dict.fromkeys(k for c in cells for k in c))
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(_fmt(c.get(k)) for k in keys) + " |" for c in cells]
    return "\n".join(lines)


def relative_change(value: float | None, reference: float | None) -> float | None:
    """(value - reference) / |reference|; None when either is missing or the reference is 0.

    >>> relative_change(0.25, 1.0)
    -0.75
    """
    if value is None or reference is None or reference == 0 or math.isnan(value) or math.isnan(reference):
        return None
    return (value - reference) / abs(reference)


def comparisons(rows: Sequence[Row], suites: Sequence[str]) -> list[str]:
    """The paper's comparisons, as produced: ForgetFilter's headline safety metric against no_filter and
    self_correction (the paper: toxicity 75% and 62% lower), and its task metrics against no_filter."""
    by = {r["method"]: r["metrics"] for r in rows}
    if "forgetfilter" not in by:
        return []
    lines = []
    for suite in suites:
        keys = (HEADLINE[suite],) if suite in HEADLINE else SUITE_COLUMNS[suite]
        for key in keys:
            mine = by["forgetfilter"].get(suite, {}).get(key)
            for other in ("no_filter", "self_correction"):
                change = relative_change(mine, by.get(other, {}).get(suite, {}).get(key))
                if change is not None:
                    lines.append(
                        f"- {key}: forgetfilter {_fmt(mine)} is {abs(change):.0%} "
                        f"{'lower' if change < 0 else 'higher'} than {other} "
                        f"({_fmt(by[other][suite][key])})"
                    )
    return lines


def plot_methods(rows: Sequence[Row], suites: Sequence[str], path: Path) -> Path:
    """One bar panel per headline safety metric and per task metric, methods on the y axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [(s, HEADLINE[s]) for s in suites if s in HEADLINE]
    keys += [("task", k) for k in SUITE_COLUMNS["task"] if "task" in suites]
    methods = [r["method"] for r in rows]
    fig, axes = plt.subplots(1, len(keys), figsize=(3.6 * len(keys), 0.35 * len(methods) + 1.6), squeeze=False)
    for ax, (suite, key) in zip(axes[0], keys, strict=True):
        values = [r["metrics"].get(suite, {}).get(key) for r in rows]
        ax.barh(methods, [float("nan") if v is None else v for v in values], color="tab:blue")
        ax.set_title(key, fontsize=9)
        ax.invert_yaxis()
        ax.tick_params(labelsize=8)
        if ax is not axes[0][0]:
            ax.set_yticklabels([])
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_interleaved(points: Sequence[Row], path: Path) -> Path:
    """Safety metric after every session of every round, one line per arm (the paper's interleaved figure)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [k for k in HEADLINE.values() if any(k in p for p in points)]
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics), 3.6), squeeze=False)
    for ax, key in zip(axes[0], metrics, strict=True):
        for arm in dict.fromkeys(p["arm"] for p in points):
            mine = [p for p in points if p["arm"] == arm]
            xs = [p["round"] - (0.5 if p["after"] == "noisy" else 0.0) for p in mine]
            ax.plot(xs, [p.get(key) for p in mine], marker="o", label=arm)
        ax.set_xticks(sorted({p["round"] for p in points}))
        ax.set_xlabel("round (x.5: after noisy finetuning, x: after safety finetuning)")
        ax.set_ylabel(key)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def collect_versions(model: str | None, source: str, data_files: Mapping[str, Path]) -> dict[str, Any]:
    """Code (package, git commit, libraries), model (``source``: the folder or hub id it was loaded from, sha256 of
    its weight/config files) and data (sha256 of every input file). Loads and converts nothing."""
    from importlib.metadata import PackageNotFoundError, version

    libraries = {}
    for name in ("forgetfilter", "torch", "transformers", "peft"):
        try:
            libraries[name] = version(name)
        except PackageNotFoundError:
            libraries[name] = None
    status = _git("status", "--porcelain", "--untracked-files=no")
    files = (
        sorted(p for p in Path(source).glob("*") if p.suffix in (".safetensors", ".json"))
        if Path(source).is_dir()
        else []
    )
    return {
        "code": {
            **libraries,
            "git_commit": _git("rev-parse", "HEAD"),
            "git_dirty": bool(status) if status is not None else None,
        },
        "model": {
            "name": model or "smollm2-135m-instruct",
            "source": source,
            "files": {p.name: sha256_file(p) for p in files},
        },
        "data": {name: {"path": str(p), "sha256": sha256_file(p)} for name, p in sorted(data_files.items())},
    }


def write_tables(run_dir: Path, rows: Sequence[Row], suites: Sequence[str]) -> dict[str, Path]:
    """results.csv (flat cells) and results.json (every metric, nested per suite)."""
    cells = [flat_row(r, suites) for r in rows]
    paths = {"csv": run_dir / "results.csv", "json": run_dir / "results.json"}
    with paths["csv"].open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(cells[0]) if cells else ["method"])  # no row: header only
        writer.writeheader()
        writer.writerows(cells)
    paths["json"].write_text(json.dumps(list(rows), indent=2, default=str) + "\n", encoding="utf-8")
    return paths


def write_report(
    run_dir: Path,
    *,
    title: str,
    rows: Sequence[Row],
    suites: Sequence[str],
    points: Sequence[Row] = (),
    notes: Sequence[str] = (),
    next_command: str = "",
    verdicts: Sequence[str] = (),
    claims: str = "",
) -> dict[str, Path]:
    """Everything a reader opens: results.{md,csv,json}, methods.png, curves.png, interleaved.png (when there is
    data for them), forgetting_hist.png, and report.html with the images embedded. ``verdicts``: lines on whether
    the run can show the paper's claims at all (``experiments.verdict``), the report's first section; ``claims``:
    the claims table (``experiments.claims``), the second."""
    paths = write_tables(run_dir, rows, suites)
    images = {"methods": plot_methods(rows, suites, run_dir / "methods.png")} if rows else {}
    curves = run_dir / "filter" / "curves.jsonl"
    if curves.is_file():
        from forgetfilter.curves import plot_curves, read_curves

        images["curves"] = plot_curves(read_curves(curves), run_dir / "curves.png")
    hist = run_dir / "filter" / "forgetting_hist.png"
    if hist.is_file():
        images["forgetting_hist"] = run_dir / "forgetting_hist.png"
        images["forgetting_hist"].write_bytes(hist.read_bytes())
    if points:
        images["interleaved"] = plot_interleaved(points, run_dir / "interleaved.png")
    sections = _sections(rows, suites, points, notes)
    if claims:
        sections.insert(0, ("The paper's claims in this run", claims))
    if verdicts:
        sections.insert(0, ("Can this run show the paper's claims?", "\n".join(verdicts)))
    paths["md"] = run_dir / "results.md"
    md = [f"# {title}", ""] + [f"## {h}\n\n{body}\n" for h, body in sections]
    md += [f"![{name}]({p.name})" for name, p in images.items()]
    md += ["", f"Next: `{next_command}`" if next_command else ""]
    paths["md"].write_text("\n".join(md) + "\n", encoding="utf-8")
    paths["html"] = write_html(run_dir / "report.html", title, rows, suites, sections, images, next_command)
    return {**paths, **{f"png_{k}": v for k, v in images.items()}}


def _sections(rows: Sequence[Row], suites: Sequence[str], points: Sequence[Row], notes: Sequence[str]) -> list:
    table = markdown_table([flat_row(r, suites) for r in rows]) if rows else "no method evaluated in this run"
    sections = [("Results", table)]
    compared = comparisons(rows, suites)
    if compared:
        sections.append(("ForgetFilter against the baselines", "\n".join(compared)))
    if points:
        sections.append(("Interleaved training", markdown_table([dict(p) for p in points])))
    if notes:
        sections.append(("Setting", "\n".join(f"- {n}" for n in notes)))
    return sections


def write_html(
    path: Path,
    title: str,
    rows: Sequence[Row],
    suites: Sequence[str],
    sections: Sequence[tuple[str, str]],
    images: Mapping[str, Path],
    next_command: str,
) -> Path:
    """One page with no external files: tables as HTML, plots as base64 PNG data URIs."""
    body = [f"<h1>{html.escape(title)}</h1>"]
    for heading, text in sections:
        body.append(f"<h2>{html.escape(heading)}</h2>")
        body.append(_html_table(text) if text.startswith("|") else "<pre>" + html.escape(text) + "</pre>")
    for name, image in images.items():
        data = base64.b64encode(image.read_bytes()).decode("ascii")
        body.append(f"<h2>{html.escape(name)}</h2><img alt='{name}' src='data:image/png;base64,{data}'>")
    if next_command:
        body.append(f"<p>Next: <code>{html.escape(next_command)}</code></p>")
    head = f"<meta charset='utf-8'><title>{html.escape(title)}</title><style>{_STYLE}</style>"
    page = f"<!doctype html><html><head>{head}</head><body>{''.join(body)}</body></html>"
    path.write_text(page, encoding="utf-8")
    return path


def _html_table(markdown: str) -> str:
    lines = [ln for ln in markdown.splitlines() if ln.startswith("|") and not ln.startswith("|---")]
    cells = [[html.escape(c.strip()) for c in ln.strip("|").split("|")] for ln in lines]
    head = "".join(f"<th>{c}</th>" for c in cells[0])
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in cells[1:])
    return f"<table><tr>{head}</tr>{body}</table>"
