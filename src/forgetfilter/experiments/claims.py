"""The paper's claims, each with this study's figure, its 95% interval and a verdict, from one or more runs of one
experiment config (other seeds pooled).

Verdicts: **reproduced** (the interval excludes zero in the paper's direction), **contradicted** (it excludes zero
the other way), **not shown** (it holds zero: the run could not detect an effect smaller than about half its width,
which the figure gives), **not testable here** (a condition the claim needs failed: S1 did not teach the unsafe
examples, or finetuning on D_noisy did no measurable harm for a filter to undo; the figure is still given; or
only some of the pooled runs evaluated the methods compared, named in the note).
The model-size claim needs runs at several sizes: ``bench/study_table.py --size-plot``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from forgetfilter.errors import ConfigError
from forgetfilter.evaluate.registry import REGISTRY
from forgetfilter.experiments.compare import (
    Comparison,
    bootstrap_pairs,
    compare_groups,
    pair_records,
    read_records,
)
from forgetfilter.experiments.run_groups import RunGroup, first_holding, group_runs, only_holding

# a drop in a task metric smaller than this share of no filter's value counts as "task performance kept"
TASK_KEPT_MARGIN = 0.10
LEARNED = ("M1 learns the unsafe examples in S1", "response NLL M0 → M1, unsafe vs the rest, per run")
FORGOTTEN = (
    "unsafe examples are forgotten more than the rest in S1+",
    "AUROC of forgetting for the unsafe role (0.5 = chance); mean forgetting gap unsafe − rest",
)
HARM = "finetuning on D_noisy makes the model less safe"
PAPER_TOXICITY_FALL = {"no_filter": -0.75, "self_correction": -0.62}  # the abstract: 75% / 62% lower toxicity


@dataclass(frozen=True)
class Claim:
    """One row of the claims table."""

    claim: str  # what the paper says
    measure: str  # what is compared here
    figure: str  # this study's number with its interval
    verdict: str  # reproduced | contradicted | not shown | not testable here
    note: str = ""
    comparison: Comparison | None = None  # the paired bootstrap behind the figure, where there is one


def paper_claims(
    runs: Sequence[str | Path], *, companions: Sequence[str | Path] = (), n_boot: int = 2000
) -> list[Claim]:
    """Every claim the runs can speak to; ``runs``: runs of one config, other seeds (pooled); ``companions``: runs
    that added methods or interleaved training to them (``filter_from``), each read with the run whose data and
    prompts it shares (``run_groups``)."""
    groups = group_runs(runs, companions)
    kind = _kind(groups)
    premise = _premise(groups)
    claims = [premise, _forgetting(groups, n_boot)]
    for suite in _safety_suites(kind):
        claims += _safety_claims(groups, suite, _evaluated(groups, suite), premise, n_boot)
    claims += _task_claims(groups, _evaluated(groups, "task"), n_boot)
    claims += _interleaved_claims(groups, kind, n_boot)
    return claims


def claims_table(claims: Sequence[Claim]) -> str:
    """The claims as a markdown table."""
    lines = ["| the paper says | compared here | ours [95% interval] | verdict |", "|---|---|---|---|"]
    for c in claims:
        verdict = f"**{c.verdict}**" + (f": {c.note}" if c.note else "")
        lines.append(f"| {c.claim} | {c.measure} | {c.figure} | {verdict} |")
    return "\n".join(lines)


def _kind(groups: list[RunGroup]) -> str:
    import yaml

    kinds = set()
    for run in (run for group in groups for run in group):
        path = run / "config.resolved.yaml"
        if not path.is_file():
            raise ConfigError(f"{run} is not an experiment run (no config.resolved.yaml)")
        kinds.add((yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("kind"))
    if len(kinds) != 1:
        raise ConfigError(f"the runs are of different kinds ({sorted(map(str, kinds))}); pool runs of one config")
    return str(kinds.pop())


def _safety_suites(kind: str) -> list[str]:
    from forgetfilter.experiments.inputs import safety_suites

    return safety_suites(kind)


def _evaluated(groups: list[RunGroup], suite: str) -> list[set[str]]:
    """Per run (with its companions), the methods evaluated on ``suite``: their metrics.json has it, written after
    its answers (a method still being evaluated is left out)."""
    return [
        {p.parent.name for run in group for p in (run / "eval").glob("*/metrics.json") if _has_suite(p.parent, suite)}
        for group in groups
    ]


def _in_every_run(evaluated: list[set[str]], methods: set[str]) -> bool:
    return all(methods <= done for done in evaluated)


def _partly_pooled(
    text: str, measure: str, runs: list[RunGroup], evaluated: list[set[str]], methods: set[str]
) -> list[Claim]:
    """A row saying why a comparison is missing when only some of the pooled runs evaluated its methods (empty when
    none or all did): pooling needs the same methods in every run."""
    having = [run for run, done in zip(runs, evaluated, strict=True) if methods <= done]
    if not having or len(having) == len(runs):
        return []
    lacking = [run[0].name for run, done in zip(runs, evaluated, strict=True) if not methods <= done]
    note = (
        f"{' and '.join(sorted(methods))} evaluated in {len(having)} of {len(runs)} pooled runs (not in "
        f"{', '.join(lacking)}): evaluate them there (--methods) or pool only the runs that have them"
    )
    return [Claim(text, measure, "–", "not testable here", note)]


def _premise(runs: list[RunGroup]) -> Claim:
    held, figures = 0, []
    for group in runs:
        path = first_holding(group, "filter/summary.json") / "filter" / "summary.json"
        premise = json.loads(path.read_text()).get("premise") if path.is_file() else None
        if premise is None:
            return Claim(*LEARNED, f"no premise figures in {path}", "not testable here")
        held += bool(premise["holds"])
        figures.append(f"{-premise['unsafe']['fall']:+.0%} vs {-premise['rest']['fall']:+.0%}")
    return Claim(
        *LEARNED,
        "; ".join(figures),
        "reproduced" if held == len(runs) else "not shown",
        f"held in {held} of {len(runs)} runs",
    )


def _forgetting(runs: list[RunGroup], n_boot: int = 2000) -> Claim:
    """AUROC of forgetting for "unsafe", pooled over runs, resampling unsafe and other examples within each run."""
    from sklearn.metrics import roc_auc_score

    parts = []
    for group in runs:
        path = first_holding(group, "filter/scores.jsonl") / "filter" / "scores.jsonl"
        if not path.is_file():
            return Claim(*FORGOTTEN, f"no {path}", "not testable here")
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        scores = np.array([r["forgetting"] for r in rows], dtype=float)
        unsafe = np.array([r.get("role") == "unsafe" for r in rows])
        if unsafe.all() or not unsafe.any():
            return Claim(*FORGOTTEN, f"no role labels in {path}", "not testable here")
        parts.append((scores[unsafe], scores[~unsafe]))
    rng = np.random.default_rng(0)

    def auroc(pieces: list[tuple[np.ndarray, np.ndarray]]) -> float:
        pos, neg = np.concatenate([p for p, _ in pieces]), np.concatenate([n for _, n in pieces])
        return float(roc_auc_score(np.r_[np.ones(len(pos)), np.zeros(len(neg))], np.r_[pos, neg]))

    value = auroc(parts)
    draws = [auroc([(rng.choice(p, len(p)), rng.choice(n, len(n))) for p, n in parts]) for _ in range(n_boot)]
    low, high = np.percentile(draws, [2.5, 97.5])
    gap = float(np.mean([p.mean() - n.mean() for p, n in parts]))
    each = f" ({len(parts)} runs: {', '.join(f'{auroc([part]):.3f}' for part in parts)})" if len(parts) > 1 else ""
    return Claim(
        *FORGOTTEN,
        f"{value:.3f} [{low:.3f}, {high:.3f}]{each}; gap {gap:+.3f}",
        _verdict(low - 0.5, high - 0.5, "higher"),
    )


def _safety_claims(
    runs: list[RunGroup], suite: str, evaluated: list[set[str]], premise: Claim, n_boot: int
) -> list[Claim]:
    spec = REGISTRY[suite]
    zero_best = spec.better == "zero"
    claims: list[Claim] = []
    why = ""
    if _in_every_run(evaluated, {"m0", "no_filter"}):
        harm = compare_groups(runs, "no_filter", "m0", suite, magnitude=zero_best, n_boot=n_boot)
        claims.append(_claim(HARM, f"{suite}: no filter − M0", harm, "higher"))
        harmed = harm.low > 0
        for extra in spec.also_safer_when_higher:
            c = compare_groups(runs, "no_filter", "m0", suite, metric=extra, n_boot=n_boot)
            claims.append(_claim(HARM, f"{suite}: no filter − M0", c, "lower"))
            harmed = harmed or c.high < 0
        why = "" if harmed else "no measurable harm from D_noisy on this suite for a method to undo"
    else:  # runs of baselines alone: the methods they hold are still compared with each other
        claims += _partly_pooled(HARM, f"{suite}: no filter − M0", runs, evaluated, {"m0", "no_filter"})
    if premise.verdict != "reproduced":
        why = "; ".join(filter(None, [why, "S1 did not teach the unsafe examples in every run"]))
    rows = [
        ("sequential safety finetuning recovers safety", "sequential", "no_filter"),
        ("ForgetFilter is safer than no safety measure", "forgetfilter", "no_filter"),
        ("ForgetFilter is safer than moral self-correction", "forgetfilter", "self_correction"),
        ("ForgetFilter is safer than replay", "forgetfilter", "replay"),
    ]
    for text, a, b in rows:
        if not _in_every_run(evaluated, {a, b}):
            claims += _partly_pooled(text, f"{suite}: {a} vs {b}", runs, evaluated, {a, b})
            continue
        relative = spec.better == "lower"  # rates (toxicity, harmful compliance): "x% lower", as the paper puts it
        c = compare_groups(runs, a, b, suite, magnitude=zero_best, relative=relative, n_boot=n_boot)
        paper = PAPER_TOXICITY_FALL.get(b) if (suite == "toxicity" and a == "forgetfilter") else None
        if paper is not None:
            text += f" (toxicity {-paper:.0%} lower)"
        claim = _claim(text, f"{suite}: {a} vs {b}", c, "lower", why)
        if paper is not None:
            inside = c.low <= paper <= c.high
            claim = replace(claim, note=_join(claim.note, f"paper's {paper:+.0%} {_in(inside)}"))
        claims.append(claim)
        for extra in spec.also_safer_when_higher:
            c = compare_groups(runs, a, b, suite, metric=extra, n_boot=n_boot)
            claims.append(_claim(text, f"{suite}: {a} − {b}", c, "higher", why))
    return claims


def _task_claims(runs: list[RunGroup], evaluated: list[set[str]], n_boot: int) -> list[Claim]:
    claims = []
    for metric in ("squad_f1", "alpaca_rouge_l"):
        for text, a in (
            ("sequential safety finetuning forgets task knowledge", "sequential"),
            ("ForgetFilter keeps task performance", "forgetfilter"),
        ):
            claims += _partly_pooled(text, f"task: {a} vs no filter, {metric}", runs, evaluated, {a, "no_filter"})
        if _in_every_run(evaluated, {"sequential", "no_filter"}):
            c = compare_groups(runs, "sequential", "no_filter", "task", metric=metric, relative=True, n_boot=n_boot)
            claims.append(
                _claim(
                    "sequential safety finetuning forgets task knowledge",
                    "task: sequential vs no filter",
                    c,
                    "lower",
                )
            )
        if _in_every_run(evaluated, {"forgetfilter", "no_filter"}):
            c = compare_groups(runs, "forgetfilter", "no_filter", "task", metric=metric, relative=True, n_boot=n_boot)
            kept = c.low > -TASK_KEPT_MARGIN
            claims.append(
                Claim(
                    "ForgetFilter keeps task performance",
                    f"task: forgetfilter vs no filter, {c.metric}",
                    _figure(c),
                    _undefined_or(
                        c, "reproduced" if kept else ("contradicted" if c.high < -TASK_KEPT_MARGIN else "not shown")
                    ),
                    _undefined_note(c) or f"kept = the interval excludes a drop of {TASK_KEPT_MARGIN:.0%} or more",
                    c,
                )
            )
    return claims


def _interleaved_claims(runs: list[RunGroup], kind: str, n_boot: int) -> list[Claim]:
    """Relearning in interleaved training: each arm's safety after its last evaluated noisy session (round r >= 2)
    against after round r-1's safety session, and the two arms after the last noisy session both have; by the
    suite's headline and by each metric whose fall also shows harm (bias: ambiguous accuracy). A run still in its
    rounds is read as far as it got (the rounds are named in each row)."""
    folders = [only_holding(group, "interleaved", "interleaved training is in") / "interleaved" for group in runs]
    claims = []
    for suite in _safety_suites(kind):
        spec = REGISTRY[suite]
        done = {arm: _rounds_done(folders, arm, suite) for arm in ("no_filter", "forgetfilter")}
        # (metric, compare magnitudes, +1: a larger value is less safe; -1: a smaller one is)
        metrics = [(None, spec.better == "zero", 1), *((m, False, -1) for m in spec.also_safer_when_higher)]
        for metric, magnitude, worse in metrics:
            worse_way, safer_way = ("higher", "lower") if worse > 0 else ("lower", "higher")

            settings = (suite, metric, magnitude, n_boot)
            relearned = None
            for arm in ("no_filter", "forgetfilter"):
                r = done[arm]
                if r < 2:
                    continue
                a, b = f"{arm}/round{r}/eval_noisy", f"{arm}/round{r - 1}/eval_safe"
                c, measure = _compare_sessions(folders, a, b, *settings), f"interleaved {suite}: {a} − {b}"
                if arm == "no_filter":
                    relearned = c
                    text = "a model only safety-finetuned relearns unsafe behaviour at once"
                    claims.append(_claim(text, measure, c, worse_way))
                elif relearned is not None:  # "does not relearn": its harm rises less than the unfiltered arm's
                    low, high = sorted((worse * c.low, worse * c.high))
                    verdict = (
                        "contradicted" if low > 0 else ("reproduced" if high < worse * relearned.diff else "not shown")
                    )
                    note = (
                        "reproduced = no measurable move toward harm, and less than the unfiltered arm's "
                        f"({relearned.diff:+.3f}); contradicted = a measurable move toward harm"
                    )
                    claims.append(
                        Claim(
                            "a filtered model does not relearn it",
                            f"{measure}, {c.metric}",
                            _figure(c),
                            verdict,
                            note,
                            c,
                        )
                    )
            r = min(done.values())
            if r >= 1:
                a, b = f"forgetfilter/round{r}/eval_noisy", f"no_filter/round{r}/eval_noisy"
                text, measure = "interleaved: the filtered model ends safer", f"interleaved {suite}: {a} − {b}"
                claims.append(_claim(text, measure, _compare_sessions(folders, a, b, *settings), safer_way))
    return claims


def _compare_sessions(
    folders: list[Path], a: str, b: str, suite: str, metric: str | None, magnitude: bool, n_boot: int
) -> Comparison:
    """The paired bootstrap between two interleaved sessions, pooled over the runs."""
    pairs = interleaved_pairs(folders, a, b, suite)
    return bootstrap_pairs(pairs, suite, a, b, metric=metric, magnitude=magnitude, n_boot=n_boot)


def _rounds_done(folders: list[Path], arm: str, suite: str) -> int:
    """The last round whose noisy session is evaluated on ``suite`` in every run (0: none)."""
    r = 0
    while all(_has_suite(f / arm / f"round{r + 1}" / "eval_noisy", suite) for f in folders):
        r += 1
    return r


def _has_suite(eval_dir: Path, suite: str) -> bool:
    path = eval_dir / "metrics.json"
    return path.is_file() and suite in json.loads(path.read_text(encoding="utf-8"))


def interleaved_pairs(folders: list[Path], a: str, b: str, suite: str) -> list[tuple[list, list]]:
    """Per run folder (a run's ``interleaved/``), the paired records of two of its sessions (``a``, ``b``:
    ``<arm>/round<r>/eval_<after>``), as ``bootstrap_pairs`` takes them; shared by ``forgetfilter claims`` and
    ``bench/interleaved_sessions.py``. A session not evaluated on ``suite`` is a ``ConfigError`` naming its file."""
    spec = REGISTRY[suite]
    return [
        pair_records(
            read_records(f / a / f"generations_{suite}.jsonl"),
            read_records(f / b / f"generations_{suite}.jsonl"),
            spec,
            f"{f} ({a} vs {b})",
        )
        for f in folders
    ]


def _claim(text: str, measure: str, c: Comparison, expect: str, untestable: str = "") -> Claim:
    row = f"{measure}, {c.metric}"
    if _undefined_note(c):
        return Claim(text, row, _figure(c), "not testable here", _undefined_note(c), c)
    verdict = _verdict(c.low, c.high, expect)
    if untestable and verdict != "reproduced":
        return Claim(text, row, _figure(c), "not testable here", untestable, c)
    return Claim(text, row, _figure(c), verdict, _detectable(c) if verdict == "not shown" else "", c)


def _verdict(low: float, high: float, expect: str) -> str:
    """``expect``: the sign of the difference the paper claims, ``higher`` (> 0) or ``lower`` (< 0)."""
    if np.isnan(low) or np.isnan(high):
        return "not shown"
    if (expect == "higher" and low > 0) or (expect == "lower" and high < 0):
        return "reproduced"
    if (expect == "higher" and high < 0) or (expect == "lower" and low > 0):
        return "contradicted"
    return "not shown"


def _figure(c: Comparison) -> str:
    runs = f", {c.n_runs} runs: " + ", ".join(f"{d:+.3f}" for d in c.per_run) if c.per_run else ""
    return (
        f"{c.value_a:.3f} vs {c.value_b:.3f}: {c.diff:+.3f} [{c.low:+.3f}, {c.high:+.3f}] ({c.n_prompts} prompts{runs})"
    )


def _detectable(c: Comparison) -> str:
    if c.high == c.low:
        return "the two are equal on every resample of the prompts"
    return f"a difference under about {(c.high - c.low) / 2:.3f} could not be told from zero"


def _undefined_note(c: Comparison) -> str:
    """Why a comparison has no value (a relative one against 0, or no prompt giving a value), else ''."""
    if not (np.isnan(c.diff) or np.isnan(c.low) or np.isnan(c.high)):
        return ""
    return f"undefined here ({c.method_b} scores {c.value_b:.3f}; a relative difference needs it above 0)"


def _undefined_or(c: Comparison, verdict: str) -> str:
    return "not testable here" if _undefined_note(c) else verdict


def _in(inside: bool) -> str:
    return "inside the interval" if inside else "outside the interval"


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)
