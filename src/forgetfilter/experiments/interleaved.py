"""Interleaved training: R rounds of noisy finetuning (a slice of D_noisy) then safety finetuning (D_safe),
once on the raw slices and once with ForgetFilter applied to each slice; safety measured after every session.

ForgetFilter's scores for a round come from that round's own forgetting: the arm's current model is
finetuned on the slice (probe S1) and then on D_safe (probe S1+), and the slice is scored before and after.
In round 1 both arms start from M0, so the probe is the unfiltered arm's round-1 sessions (trained once).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from forgetfilter import distributed
from forgetfilter.config import FilterConfig
from forgetfilter.examples import Example
from forgetfilter.experiments.config import InterleavedSettings
from forgetfilter.experiments.stages import Echo, train_stage
from forgetfilter.pipeline import StageLog, score

ARMS: tuple[str, ...] = ("no_filter", "forgetfilter")
EvalFn = Callable[[Path | None, Path, str], dict[str, Any]]  # (adapter, out_dir, stage name) -> metrics


def noisy_slices(noisy: Sequence[Example], rounds: int) -> list[list[Example]]:
    """Round r gets every R-th example starting at r: equal sizes and the same role mix in every round."""
    return [list(noisy[r::rounds]) for r in range(rounds)]


def round_mask(
    config: FilterConfig, part: Sequence[Example], scored: tuple[Path, Path], round_dir: Path, log: StageLog, n: int
) -> list[bool]:
    """ForgetFilter's removal mask for one slice from the forgetting between the two probe adapters."""
    from forgetfilter.selection import select

    single = dataclasses.replace(config, signals=(config.signal,))  # rouge generation only if it decides
    name = round_dir.name
    before = score(single, scored[0], part, round_dir / "scores_m1.json", log, f"{name}_score_m1")
    after = score(single, scored[1], part, round_dir / "scores_m2.json", log, f"{name}_score_m2")
    fraction = config.fraction if config.count is None else config.count / n  # a count is for the whole D_noisy
    chosen = select(
        before[config.signal],
        after[config.signal],
        config.signal,
        phi=config.phi,
        fraction=fraction,
        method=config.threshold_method,
        rise=config.rise,
    )
    return chosen.mask.tolist()


def run_interleaved(
    noisy: Sequence[Example],
    safe: Sequence[Example],
    config: FilterConfig,
    settings: InterleavedSettings,
    evaluate_fn: EvalFn,
    run_dir: Path,
    log: StageLog,
    *,
    echo: Echo | None = None,
) -> list[dict[str, Any]]:
    """One row per (arm, round, session) with the safety metrics after it; ``points.jsonl`` is rewritten after each
    session, so a run stopped midway keeps the points it reached."""
    slices = noisy_slices(noisy, settings.rounds)
    state: dict[str, Path | None] = dict.fromkeys(ARMS)
    points: list[dict[str, Any]] = []
    for r, part in enumerate(slices, start=1):
        for arm in ARMS:
            round_dir = run_dir / arm / f"round{r}"
            kept, removed = list(part), None
            if arm == "forgetfilter":
                probe = _probe(config, part, safe, settings, state[arm], round_dir, log, run_dir, r, echo)
                mask = round_mask(config, part, probe, round_dir, log, len(noisy))
                kept = [ex for ex, m in zip(part, mask, strict=True) if not m]
                removed = [ex for ex, m in zip(part, mask, strict=True) if m]
            start = state[arm]
            if kept:  # a slice filtered away entirely leaves the model as it was
                start = train_stage(
                    config, kept, settings.noisy, round_dir / "noisy", log, f"{arm}_r{r}_noisy", start=start, echo=echo
                )
            points.append(
                session_point(arm, r, "noisy", evaluate_fn(start, round_dir / "eval_noisy", f"{arm}_r{r}_noisy"))
            )
            points[-1].update(_accounting(kept, removed))
            _save(points, run_dir)
            state[arm] = train_stage(
                config, safe, settings.safe, round_dir / "safe", log, f"{arm}_r{r}_safe", start=start, echo=echo
            )
            points.append(
                session_point(arm, r, "safe", evaluate_fn(state[arm], round_dir / "eval_safe", f"{arm}_r{r}_safe"))
            )
            points[-1]["n_trained"] = len(safe)
            _save(points, run_dir)
    return points


def _save(points: list[dict[str, Any]], run_dir: Path) -> None:
    from forgetfilter.run_dir import write_atomic

    text = "".join(json.dumps(p) + "\n" for p in points)
    distributed.on_main(write_atomic, run_dir / "points.jsonl", text)  # the main process writes


def _probe(
    config: FilterConfig,
    part: Sequence[Example],
    safe: Sequence[Example],
    settings: InterleavedSettings,
    start: Path | None,
    round_dir: Path,
    log: StageLog,
    run_dir: Path,
    r: int,
    echo: Echo | None,
) -> tuple[Path, Path]:
    """(M1, M2) adapters of this round's forgetting probe."""
    if r == 1:  # from M0 on the same slice with the same settings: the unfiltered arm's round 1
        shared = run_dir / ARMS[0] / "round1"
        return shared / "noisy" / "adapter", shared / "safe" / "adapter"
    p1 = train_stage(
        config, part, settings.noisy, round_dir / "probe_s1", log, f"probe_r{r}_s1", start=start, echo=echo
    )
    p2 = train_stage(config, safe, settings.safe, round_dir / "probe_s1_plus", log, f"probe_r{r}_s1_plus", start=p1)
    return p1, p2


def session_point(arm: str, r: int, after: str, metrics: dict[str, Any]) -> dict[str, Any]:
    """One interleaved session's row: arm, round, which session it follows, and each suite's headline metric."""
    from forgetfilter.evaluate.registry import HEADLINE

    values = {HEADLINE[s]: metrics[s].get(HEADLINE[s]) for s in metrics if s in HEADLINE}
    return {"arm": arm, "round": r, "after": after, **values}


def _accounting(kept: Sequence[Example], removed: Sequence[Example] | None) -> dict[str, Any]:
    out: dict[str, Any] = {"n_trained": len(kept)}
    if removed is not None:
        out["n_removed"] = len(removed)
        out["n_removed_unsafe"] = sum(ex.role == "unsafe" for ex in removed)
    return out
