"""Resumable stages of a study: a LoRA session saved as an adapter, and an evaluation saved as metrics.json.

A stage whose output exists is skipped, so a rerun of the same command resumes where it stopped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from forgetfilter.config import FilterConfig
from forgetfilter.examples import Example
from forgetfilter.experiments.config import EvalSettings
from forgetfilter.pipeline import StageLog
from forgetfilter.training import SessionSettings

Echo = Callable[[str], None]


def train_stage(
    config: FilterConfig,
    examples: Sequence[Example],
    settings: SessionSettings,
    stage_dir: Path,
    log: StageLog,
    name: str,
    *,
    start: Path | None = None,
    echo: Echo | None = None,
) -> Path:
    """``pipeline.train_or_resume`` (from M0, or continuing the adapter at ``start``), announced with ``echo``.
    Returns the adapter folder ``stage_dir/adapter``."""
    from forgetfilter.pipeline import adapter_complete, train_or_resume

    if echo and not adapter_complete(stage_dir / "adapter"):
        echo(f"training {name}: {len(examples)} examples")
    return train_or_resume(config, examples, settings, stage_dir, log, name, start=start)


def _complete(path: Path, suites: Sequence[str]) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    metrics = json.loads(path.read_text(encoding="utf-8"))
    return metrics if all(s in metrics for s in suites) else None


def eval_stage(
    config: FilterConfig,
    adapter: Path | None,
    settings: EvalSettings,
    *,
    suites: Sequence[str],
    eval_dir: Path,
    n: int,
    seed: int,
    out_dir: Path,
    log: StageLog,
    name: str,
    echo: Echo | None = None,
) -> dict[str, Any]:
    """forgetfilter.evaluate.suite.evaluate of M0 (+ ``adapter``) on the prompts in ``eval_dir``; skipped when
    ``out_dir/metrics.json`` holds every suite."""
    done = _complete(out_dir / "metrics.json", suites)
    if done is not None:
        return done
    from forgetfilter.evaluate.suite import evaluate
    from forgetfilter.models import load_model
    from forgetfilter.pipeline import release_freed_memory

    if echo:
        echo(f"evaluating {name}: {', '.join(suites)}")
    started = time.perf_counter()
    model, tokenizer = load_model(config.model, adapter=adapter, dtype=config.dtype, device=config.device)
    evaluate(
        model,
        tokenizer,
        suites=suites,
        eval_dir=eval_dir,
        n=n,
        max_new_tokens=settings.max_new_tokens,
        batch_size=settings.batch_size,
        scorer=settings.scorer,
        detoxify_checkpoint=settings.detoxify_checkpoint,
        out_dir=out_dir,
        seed=seed,
        run_info={"method": name, "adapter": adapter or "", "eval_dir": eval_dir},
    )
    log.record(name, seconds=time.perf_counter() - started, prompts=float(n * len(suites)))
    del model, tokenizer
    release_freed_memory()
    return json.loads((out_dir / "metrics.json").read_text(encoding="utf-8"))  # NaN stored as null, as on resume
