"""``run_experiment``: the paper's comparison for one safety kind, in one resumable run directory.

RUN/
  config.resolved.yaml, versions.json, stages.json   what ran, on which model/data/code, how long each stage took
  data/                the built mix (unless data.d_noisy/d_safe name files)
  eval_inputs/         the evaluation prompts, plain and with the self-correction cue
  filter/              the ForgetFilter run: s1/adapter (M1), s1_plus/adapter (M2), scores, curves, kept/removed
                       (with filter_from: an earlier run's outputs, copied, and reused_from.json; no adapters)
  selections/          per filter: removed ids and precision/recall
  sessions/<name>/     M0 finetuned on each filter's kept data, and replay
  eval/<method>/       metrics.json and per-item generations
  interleaved/         the interleaved study (when interleaved.rounds > 0)
  results.{md,csv,json}, *.png, report.html
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from forgetfilter.config import FilterConfig
from forgetfilter.errors import ConfigError
from forgetfilter.experiments.config import ExperimentConfig
from forgetfilter.experiments.cues import default_cue
from forgetfilter.experiments.inputs import (
    StudyData,
    prepare_data,
    report_suites,
    safety_suites,
    write_eval_inputs,
)
from forgetfilter.experiments.methods import METHODS, MethodSelection
from forgetfilter.experiments.reuse import copy_reused_filter, load_reused_filter
from forgetfilter.experiments.stages import Echo, eval_stage, train_stage
from forgetfilter.pipeline import StageLog, record_precision
from forgetfilter.precision import PROBES_FILE, run_probes
from forgetfilter.training import SessionSettings

NEEDS_FILTER_RUN = {"m1", "m2", "forgetfilter", "random_filter"}


@dataclass
class ExperimentResult:
    """Rows of the results table (one per method), interleaved points, and the files written."""

    run_dir: Path
    rows: list[dict[str, Any]]
    points: list[dict[str, Any]] = field(default_factory=list)
    paths: dict[str, Path] = field(default_factory=dict)


def check_run_dir(config: ExperimentConfig, run_dir: Path) -> None:
    """Refuse to resume a run directory made with a different config (only ``methods`` may change)."""
    import yaml

    path = run_dir / "config.resolved.yaml"
    if not path.is_file():
        return
    old, new = _flatten(yaml.safe_load(path.read_text(encoding="utf-8")) or {}), _flatten(config.to_dict())
    changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k) and k != "methods")
    if changed:
        diffs = "; ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in changed[:5])
        raise ConfigError(f"{run_dir} holds a run with a different config ({diffs}); use another --out or delete it")


def _flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict) and key != "max_new_tokens":
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def run_experiment(config: ExperimentConfig, run_dir: str | Path, *, echo: Echo | None = None) -> ExperimentResult:
    """Train what the methods need (each shared session once), evaluate every method, write the report."""
    import yaml

    from forgetfilter import distributed
    from forgetfilter.models import check_model, resolve_model
    from forgetfilter.report import collect_versions
    from forgetfilter.run_dir import write_atomic

    check_model(config.model)  # before the run folder and the data: a missing model is a one-line error
    run_dir = Path(run_dir)
    check_run_dir(config, run_dir)
    resolved = yaml.safe_dump(config.to_dict(), sort_keys=False)
    distributed.on_main(run_dir.mkdir, parents=True, exist_ok=True)  # launched in N processes: the main one writes
    distributed.on_main(write_atomic, run_dir / "config.resolved.yaml", resolved)
    log = StageLog.load(run_dir / "stages.json")
    precision = record_precision(config.filter_config(), log)
    echo = echo if distributed.is_main() else None  # launched in several processes, the main one reports
    if echo:
        echo(f"precision: {precision.dtype} ({precision.reason}), {precision.threads} threads")
    data = prepare_data(config, run_dir)
    suites = report_suites(config.kind)
    cue = config.cue or default_cue(config.kind)
    data.eval_plain, data.eval_cue = distributed.on_main(write_eval_inputs, config, run_dir, suites, cue)
    with run_probes(run_dir / PROBES_FILE):  # every session of the run (its filter's too) records its choices here
        adapters, selections = train_models(config, data, run_dir, log, echo)
        rows = [
            evaluate_method(config, name, adapters, selections, data, suites, run_dir, log, echo)
            for name in config.methods
        ]
        points = run_interleaved_study(config, data, run_dir, log, echo) if config.interleaved.rounds else []
    inputs = {**data.files, **{f"eval_inputs/{p.parent.name}/{p.name}": p for p in _eval_files(data)}}
    source = resolve_model(config.model)  # converted already: the sessions loaded it
    versions = {**collect_versions(config.model, source, inputs), "precision": precision.to_dict()}
    distributed.on_main(write_atomic, run_dir / "versions.json", json.dumps(versions, indent=2) + "\n")
    paths = distributed.on_main(_report, config, run_dir, rows, points, data)
    return ExperimentResult(run_dir, rows, points, paths)


def _eval_files(data: StudyData) -> list[Path]:
    return sorted(p for d in (data.eval_plain, data.eval_cue) if d is not None for p in d.glob("*.jsonl"))


def train_models(
    config: ExperimentConfig, data: StudyData, run_dir: Path, log: StageLog, echo: Echo | None
) -> tuple[dict[str, Path | None], dict[str, MethodSelection]]:
    """Adapters by model name (``m0`` is None) and the filters' selections; every session is trained once."""
    from forgetfilter import distributed
    from forgetfilter.api import find_unsafe_examples

    needed = {METHODS[m].model for m in config.methods}
    fcfg = config.filter_config()
    adapters: dict[str, Path | None] = {"m0": None}
    forgetfilter = None
    if config.filter_from is not None:
        forgetfilter = load_reused_filter(config.filter_from, fcfg, data.noisy, data.safe)
        distributed.on_main(copy_reused_filter, config.filter_from, run_dir / "filter")
        if echo:
            echo(f"ForgetFilter selection reused from {config.filter_from} ({forgetfilter.n_removed} removed)")
    elif needed & NEEDS_FILTER_RUN:
        if echo:
            echo("ForgetFilter run: S1 (M1), scoring, S1+ (M2), scoring")
        result = find_unsafe_examples(data.noisy, data.safe, config=fcfg, out_dir=run_dir / "filter")
        forgetfilter = MethodSelection("forgetfilter", result.mask, result.scores)
        adapters["m1"], adapters["m2"] = run_dir / "filter/s1/adapter", run_dir / "filter/s1_plus/adapter"
    selections = select_all(config, data, forgetfilter, needed)
    session = method_session(fcfg, config.train_seed)
    for name, selection in selections.items():
        distributed.on_main(_write_selection, run_dir / "selections" / f"{name}.json", selection, data)
        kept = selection.kept(data.noisy)
        if not kept:
            raise ConfigError(f"the {name} filter removed every example of D_noisy; nothing is left to finetune on")
        adapters[name] = train_stage(fcfg, kept, session, run_dir / "sessions" / name, log, name, echo=echo)
    if "replay" in needed:
        replay = [*data.noisy, *data.safe]
        random.Random(config.seed).shuffle(replay)
        adapters["replay"] = train_stage(fcfg, replay, session, run_dir / "sessions/replay", log, "replay", echo=echo)
    return adapters, selections


def method_session(fcfg: FilterConfig, train_seed: int | None) -> SessionSettings:
    """The settings of every method's own finetune: the filter's S1, with ``train_seed`` (LoRA initialisation and
    batch order) in place of its seed when set, so a method can be retrained under another training seed against
    the same selection (``filter_from``)."""
    return fcfg.s1 if train_seed is None else replace(fcfg.s1, seed=train_seed)


def select_all(
    config: ExperimentConfig, data: StudyData, forgetfilter: MethodSelection | None, needed: set[str]
) -> dict[str, MethodSelection]:
    """The selection of every filter method asked for; the random filter removes as many as ForgetFilter."""
    from forgetfilter.evaluate.toxicity import get_scorer
    from forgetfilter.experiments.methods import classifier_selection, oracle_selection, random_selection

    out: dict[str, MethodSelection] = {}
    if forgetfilter is not None:
        out["forgetfilter"] = forgetfilter
    if "classifier_filter" in needed:
        settings = config.classifier
        scorer = get_scorer(settings.scorer, checkpoint=config.eval.detoxify_checkpoint)
        out["classifier_filter"] = classifier_selection(
            data.noisy, scorer, threshold=settings.threshold, keywords=settings.keywords
        )
    if "random_filter" in needed:
        out["random_filter"] = random_selection(len(data.noisy), out["forgetfilter"].n_removed, seed=config.seed)
    if "oracle" in needed:
        out["oracle"] = oracle_selection(data.noisy)
    return {k: v for k, v in out.items() if k in needed}


def _write_selection(path: Path, selection: MethodSelection, data: StudyData) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    removed = [ex.id for ex, m in zip(data.noisy, selection.mask, strict=True) if m]
    record = {"method": selection.name, "quality": selection.quality(data.noisy), "removed_ids": removed}
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


def evaluate_method(
    config: ExperimentConfig,
    name: str,
    adapters: dict[str, Path | None],
    selections: dict[str, MethodSelection],
    data: StudyData,
    suites: list[str],
    run_dir: Path,
    log: StageLog,
    echo: Echo | None,
) -> dict[str, Any]:
    """One results row: the method's metrics per suite and, for filters, the removal accounting."""
    method = METHODS[name]
    eval_dir = data.eval_cue if method.cue else data.eval_plain
    assert eval_dir is not None  # written by run_experiment before any evaluation
    metrics = eval_stage(
        config.filter_config(),
        adapters[method.model],
        config.eval,
        suites=suites,
        eval_dir=eval_dir,
        n=config.eval.n,
        seed=config.seed,
        out_dir=run_dir / "eval" / name,
        log=log,
        name=f"eval_{name}",
        echo=echo,
    )
    row: dict[str, Any] = {
        "method": name,
        "model": method.model,
        "cue": method.cue,
        "n_train": _n_train(method.model, data, selections),
    }
    if method.model in selections:
        row.update(selections[method.model].quality(data.noisy))
        row["n_removed"] = selections[method.model].n_removed
    row["metrics"] = {s: metrics[s] for s in suites}
    return row


def _n_train(model: str, data: StudyData, selections: dict[str, MethodSelection]) -> int | None:
    """Examples the evaluated model was finetuned on (M2: D_noisy then D_safe)."""
    from forgetfilter.experiments.study_report import n_trained

    removed = selections[model].n_removed if model in selections else None
    return n_trained(model, len(data.noisy), len(data.safe), removed)


def run_interleaved_study(
    config: ExperimentConfig, data: StudyData, run_dir: Path, log: StageLog, echo: Echo | None
) -> list[dict[str, Any]]:
    from forgetfilter.experiments.interleaved import run_interleaved

    fcfg, suites = config.filter_config(), safety_suites(config.kind)
    assert data.eval_plain is not None

    def evaluate_fn(adapter: Path | None, out_dir: Path, name: str) -> dict[str, Any]:
        return eval_stage(
            fcfg,
            adapter,
            config.eval,
            suites=suites,
            eval_dir=data.eval_plain,
            n=config.interleaved.n_eval or config.eval.n,
            seed=config.seed,
            out_dir=out_dir,
            log=log,
            name=f"eval_{name}",
            echo=echo,
        )

    return run_interleaved(
        data.noisy, data.safe, fcfg, config.interleaved, evaluate_fn, run_dir / "interleaved", log, echo=echo
    )


def _report(
    config: ExperimentConfig, run_dir: Path, rows: list[dict[str, Any]], points: list, data: StudyData
) -> dict[str, Path]:
    from forgetfilter.experiments.study_report import write_study_report

    return write_study_report(
        config,
        run_dir,
        rows,
        points,
        n_noisy=len(data.noisy),
        n_safe=len(data.safe),
        d_noisy=str(data.files["d_noisy"]),
        d_safe=str(data.files["d_safe"]),
    )
