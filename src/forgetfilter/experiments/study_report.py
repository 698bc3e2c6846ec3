"""The study's report (results.md/csv/json, plots, report.html), written at the end of ``run_experiment`` or rebuilt
from a run folder's records alone: for a run that stopped before its end, or for records kept without weights
(``bench/keep_records.py``). Reading needs no model and no data files.

A rebuilt report holds the methods evaluated so far (``eval/<method>/metrics.json``), each filter's accounting
(``selections/<filter>.json``), the interleaved sessions evaluated so far, and the claims recomputed from the per-item
records; its first lines name what is missing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from forgetfilter.data.sources._common import read_json
from forgetfilter.errors import ConfigError
from forgetfilter.experiments.config import ExperimentConfig
from forgetfilter.experiments.cues import default_cue
from forgetfilter.experiments.inputs import report_suites
from forgetfilter.experiments.methods import METHODS
from forgetfilter.training import SessionSettings

Row = dict[str, Any]


@dataclass(frozen=True)
class StudyRecords:
    """What a run folder holds: its config, the results rows and interleaved points found, and what is missing.

    ``n_noisy``/``n_safe``: sizes of D_noisy and D_safe (None where the records cannot tell); ``d_noisy``/``d_safe``:
    the files they were read from, as the run names them."""

    config: ExperimentConfig
    rows: list[Row]
    points: list[Row]
    n_noisy: int | None
    n_safe: int | None
    d_noisy: str
    d_safe: str
    missing: list[str] = field(default_factory=list)  # methods asked for with no evaluation yet
    sessions_missing: int = 0  # interleaved sessions (arm x round x noisy/safe) not evaluated yet

    @property
    def gaps(self) -> list[str]:
        """What the run has not evaluated yet, one line each (empty for a finished run)."""
        lines = [f"not evaluated yet: {', '.join(self.missing)}"] if self.missing else []
        if self.sessions_missing:
            lines.append(f"{self.sessions_missing} interleaved sessions not evaluated yet")
        return lines


def session_length(session: SessionSettings) -> str:
    """How long a session trains, as a report note."""
    if session.until == "learned":
        return f"until learned (tolerance {session.tolerance:g}, at most {session.max_epochs:g} epochs)"
    return f"{session.max_steps} steps" if session.max_steps else f"{session.epochs:g} epochs"


def write_study_report(
    config: ExperimentConfig,
    run_dir: Path,
    rows: list[Row],
    points: list[Row],
    *,
    n_noisy: int | None,
    n_safe: int | None,
    d_noisy: str,
    d_safe: str,
    partial: Sequence[str] = (),
) -> dict[str, Path]:
    """results.{md,csv,json}, the plots and report.html in ``run_dir``; ``partial``: lines saying what the report
    lacks, put first."""
    from forgetfilter.experiments.claims import claims_table, paper_claims
    from forgetfilter.experiments.verdict import harm_verdicts, premise_verdict
    from forgetfilter.report import write_report

    claims = paper_claims([run_dir])
    verdicts = [*partial, premise_verdict(run_dir), *harm_verdicts(claims)]
    notes = [
        f"kind: {config.kind}; model: {config.model or 'smollm2-135m-instruct'}; seed: {config.seed}",
        f"D_noisy: {_count(n_noisy)} examples ({d_noisy}); D_safe: {_count(n_safe)}",
        f"signal: {config.filter.signal}; S1: {session_length(config.filter.s1)}; "
        f"S1+: {session_length(config.filter.s1_plus)}",
        f"evaluation: {config.eval.n} prompts per suite, toxicity scorer {config.eval.scorer}",
        f"self-correction cue: {config.cue or default_cue(config.kind)!r}",
        "config: config.resolved.yaml; versions: versions.json; stage times: stages.json, filter/stages.json",
    ]
    if config.filter_from is not None:
        notes.insert(3, f"ForgetFilter selection reused from {config.filter_from} (filter/reused_from.json), not rerun")
    return write_report(
        run_dir,
        title=f"ForgetFilter study: {config.kind}",
        rows=rows,
        suites=report_suites(config.kind),
        points=points,
        notes=notes,
        verdicts=verdicts,
        claims=claims_table(claims),
        next_command=f"forgetfilter filter --data {d_noisy} --safe {d_safe} --out RUN",
    )


def read_study(run_dir: str | Path) -> StudyRecords:
    """The results rows and interleaved points a run folder's records hold, in the order the run writes them."""
    from forgetfilter.experiments.config import load_experiment_config

    run_dir = Path(run_dir)
    config_path = run_dir / "config.resolved.yaml"
    if not config_path.is_file():
        raise ConfigError(f"{run_dir} is not an experiment run folder: no config.resolved.yaml in it")
    config = load_experiment_config(config_path)  # a malformed file is a ConfigError naming it
    n_noisy, n_safe = _sizes(run_dir, config)
    suites = report_suites(config.kind)
    evaluated = [m for m in METHODS if (run_dir / "eval" / m / "metrics.json").is_file()]
    rows = [_row(run_dir, name, suites, n_noisy, n_safe) for name in evaluated]
    points, sessions_missing = _points(run_dir, config)
    if not rows and not points:
        raise ConfigError(
            f"{run_dir}: nothing evaluated yet (no eval/<method>/metrics.json, no interleaved/*/round*/eval_*)"
        )
    built = config.data.d_noisy is None
    return StudyRecords(
        config=config,
        rows=rows,
        points=points,
        n_noisy=n_noisy,
        n_safe=n_safe,
        d_noisy=str(run_dir / "data" / "d_noisy.jsonl") if built else str(config.data.d_noisy),
        d_safe=str(run_dir / "data" / "d_safe.jsonl") if built else str(config.data.d_safe),
        missing=[m for m in config.methods if m not in evaluated],
        sessions_missing=sessions_missing,
    )


def rebuild_report(run_dir: str | Path) -> tuple[StudyRecords, dict[str, Path]]:
    """Write the report of a run folder from its records (see the module docstring); returns what was read and the
    files written."""
    run_dir = Path(run_dir)
    study = read_study(run_dir)
    partial = [f"- **partial run**: {gap}" for gap in study.gaps]
    if partial:
        partial.append("- rebuilt from the run's records by `forgetfilter report`; rerun the experiment to finish it")
    paths = write_study_report(
        study.config,
        run_dir,
        study.rows,
        study.points,
        n_noisy=study.n_noisy,
        n_safe=study.n_safe,
        d_noisy=study.d_noisy,
        d_safe=study.d_safe,
        partial=partial,
    )
    return study, paths


def n_trained(model: str, n_noisy: int | None, n_safe: int | None, n_removed: int | None) -> int | None:
    """Examples the evaluated model was finetuned on: M0 none, M1 D_noisy, M2 D_noisy then D_safe, a filter's
    session D_noisy less what it removed."""
    if n_removed is not None:
        return None if n_noisy is None else n_noisy - n_removed
    if model == "m0":
        return 0
    if model == "m1":
        return n_noisy
    return None if n_noisy is None or n_safe is None else n_noisy + n_safe


def _row(run_dir: Path, name: str, suites: list[str], n_noisy: int | None, n_safe: int | None) -> Row:
    method = METHODS[name]
    metrics = read_json(run_dir / "eval" / name / "metrics.json")
    selection_path = run_dir / "selections" / f"{method.model}.json"
    selection = read_json(selection_path) if selection_path.is_file() else None
    n_removed = len(selection["removed_ids"]) if selection is not None else None
    row: Row = {
        "method": name,
        "model": method.model,
        "cue": method.cue,
        "n_train": n_trained(method.model, n_noisy, n_safe, n_removed),
    }
    if selection is not None:
        row.update(selection["quality"])
        row["n_removed"] = n_removed
    row["metrics"] = {s: metrics[s] for s in suites if s in metrics}
    return row


def _points(run_dir: Path, config: ExperimentConfig) -> tuple[list[Row], int]:
    """The interleaved points of every session evaluated so far (its ``metrics.json``; the accounting from
    ``interleaved/points.jsonl`` where that has the session) and how many configured sessions have none."""
    from forgetfilter.experiments.interleaved import ARMS, session_point

    folder = run_dir / "interleaved"
    saved_path = folder / "points.jsonl"
    saved = {}
    if saved_path.is_file():
        for number, line in enumerate(saved_path.read_text(encoding="utf-8").splitlines(), start=1):
            try:
                point = json.loads(line)
                saved[(point["arm"], point["round"], point["after"])] = point
            except (json.JSONDecodeError, KeyError, TypeError):
                raise ConfigError(f"{saved_path}, line {number}: not an interleaved point") from None
    points, expected = [], 0
    for r in range(1, config.interleaved.rounds + 1):
        for arm in ARMS:
            for after in ("noisy", "safe"):
                expected += 1
                path = folder / arm / f"round{r}" / f"eval_{after}" / "metrics.json"
                if path.is_file():
                    points.append(saved.get((arm, r, after)) or session_point(arm, r, after, read_json(path)))
    return points, expected - len(points)


def _sizes(run_dir: Path, config: ExperimentConfig) -> tuple[int | None, int | None]:
    """Sizes of D_noisy (the filter's summary, else the built mix's) and D_safe (its file, else the built mix's)."""
    summary = run_dir / "filter" / "summary.json"
    n_noisy = read_json(summary).get("n_examples") if summary.is_file() else None
    if config.data.d_noisy is None:
        n_noisy = config.data.n if n_noisy is None else n_noisy
        return n_noisy, config.data.n_safe if config.data.n_safe is not None else config.data.n // 2
    safe = Path(str(config.data.d_safe))
    return n_noisy, _lines(safe) if safe.is_file() and safe.suffix == ".jsonl" else None


def _lines(path: Path) -> int:
    with path.open(encoding="utf-8") as handle:
        return sum(1 for line in handle if line.strip())


def _count(n: int | None) -> str:
    return "?" if n is None else str(n)
