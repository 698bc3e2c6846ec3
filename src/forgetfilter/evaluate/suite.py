"""``evaluate``: run the safety and task suites on a model and save auditable per-item results."""

from __future__ import annotations

import difflib
import json
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import forgetfilter.evaluate.scoring as scoring
from forgetfilter import distributed
from forgetfilter.chat import render_prompt
from forgetfilter.errors import ConfigError
from forgetfilter.evaluate.prompts import load_prompts
from forgetfilter.evaluate.registry import DEFAULT_MAX_NEW_TOKENS, SUITES
from forgetfilter.evaluate.toxicity import Scorer, get_scorer
from forgetfilter.examples import Example
from forgetfilter.generation import Generations, generate

# Token budgets: BBQ answers are an option, toxicity the paper's short continuation, SQuAD a span.


def check_suites(suites: Sequence[str]) -> list[str]:
    """The suite names, validated; unknown ones get a "did you mean" hint."""
    names = [s.strip() for s in suites if s.strip()]
    for name in names:
        if name not in SUITES:
            close = difflib.get_close_matches(name, SUITES, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"unknown suite {name!r} (choose from {', '.join(SUITES)}){hint}")
    if not names:
        raise ConfigError(f"no suite given; choose from {', '.join(SUITES)}")
    return list(dict.fromkeys(names))


def token_budgets(max_new_tokens: int | Mapping[str, int] | None) -> dict[str, int]:
    """Per-part budgets: the defaults, all replaced by an int, or updated by a mapping."""
    if isinstance(max_new_tokens, int):
        return dict.fromkeys(DEFAULT_MAX_NEW_TOKENS, max_new_tokens)
    budgets = {**DEFAULT_MAX_NEW_TOKENS, **(max_new_tokens or {})}
    unknown = set(budgets) - set(DEFAULT_MAX_NEW_TOKENS)
    if unknown:
        raise ConfigError(f"unknown token-budget keys {sorted(unknown)}; use {', '.join(DEFAULT_MAX_NEW_TOKENS)}")
    return budgets


class _Runner:
    """Generates for one suite's examples and collects rows and throughput; launched in several processes, each
    generates its share of the batches and every process gets every text back."""

    def __init__(self, model: Any, tokenizer: Any, batch_size: int, progress: bool) -> None:
        self.model, self.tokenizer, self.batch_size, self.progress = model, tokenizer, batch_size, progress
        self.runs: list[Generations] = []

    def __call__(self, examples: Sequence[Example], max_new_tokens: int, desc: str) -> tuple[list[str], list[str]]:
        prompts = [render_prompt(self.tokenizer, e.messages, chat=e.chat) for e in examples]
        result = generate(
            self.model,
            self.tokenizer,
            prompts,
            max_new_tokens=max_new_tokens,
            batch_size=self.batch_size,
            progress=self.progress,
            desc=desc,
        )
        self.runs.append(result)
        return prompts, result.texts

    def stats(self) -> dict[str, float]:
        seconds = sum(r.seconds for r in self.runs)
        tokens = sum(sum(r.new_tokens) for r in self.runs)
        return {
            "generation_seconds": round(seconds, 3),
            "generated_tokens": float(tokens),
            "tokens_per_second": round(tokens / seconds, 2) if seconds else 0.0,
        }


def _rows(
    examples: Sequence[Example], prompts: Sequence[str], texts: Sequence[str], scores: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    return [
        {"id": e.id, "source": e.source, "prompt": p, "generation": t, **s}
        for e, p, t, s in zip(examples, prompts, texts, scores, strict=True)
    ]


def _run_suite(
    suite: str, examples: list[Example], run: _Runner, budgets: dict[str, int], scorer: Scorer | None
) -> tuple[dict[str, float], list[dict[str, Any]]]:
    if suite == "task":
        metrics, rows = {}, []
        for part, fn in (("squad", scoring.score_squad), ("alpaca", scoring.score_alpaca)):
            subset = [e for e in examples if _is_squad(e) == (part == "squad")]
            prompts, texts = run(subset, budgets[part], part)
            part_metrics, scores = fn(subset, texts)
            metrics.update(part_metrics)
            rows += _rows(subset, prompts, texts, scores)
        return metrics, rows
    prompts, texts = run(examples, budgets[suite], suite)
    if suite != "bias":
        assert scorer is not None  # evaluate() builds one whenever toxicity or harmfulness is asked for
    if suite == "toxicity":
        metrics, scores = scoring.score_toxicity(examples, texts, scorer)
    elif suite == "bias":
        metrics, scores = scoring.score_bias(examples, texts)
    else:
        metrics, scores = scoring.score_harmfulness(texts, scorer)
    return metrics, _rows(examples, prompts, texts, scores)


def _is_squad(example: Example) -> bool:
    return example.source == "squad" or "answers" in example.meta


def _write_jsonl(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def evaluate(
    model: Any,
    tokenizer: Any,
    *,
    suites: Sequence[str] = SUITES,
    data_dir: str | Path | None = None,
    eval_dir: str | Path | None = None,
    n: int = 200,
    max_new_tokens: int | Mapping[str, int] | None = None,
    batch_size: int = 16,
    scorer: str = "profanity",
    detoxify_checkpoint: str | None = None,
    out_dir: str | Path | None = None,
    seed: int = 0,
    progress: bool = True,
    run_info: Mapping[str, Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """Metrics per suite (plain floats, with ``wall_seconds`` and generation ``tokens_per_second``) and a
    ``run`` entry with the settings (scorer name included). With ``out_dir``: ``generations_<suite>.jsonl``
    (id, prompt, generation, per-item scores) and ``metrics.json``.
    """
    names = check_suites(suites)
    budgets = token_budgets(max_new_tokens)
    if n < 1:
        raise ConfigError(f"n must be >= 1 (got {n})")
    needs_scorer = {"toxicity", "harmfulness"} & set(names)
    score_fn = get_scorer(scorer, checkpoint=detoxify_checkpoint) if needs_scorer else None
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:  # launched in several processes, the main one writes
        distributed.on_main(out.mkdir, parents=True, exist_ok=True)
    results: dict[str, dict[str, Any]] = {}
    info = _run_info(names, n, seed, scorer, batch_size, budgets, eval_dir, run_info)
    for suite in names:
        start = time.perf_counter()
        examples = load_prompts(suite, n=n, seed=seed, eval_dir=eval_dir, data_dir=data_dir)
        run = _Runner(model, tokenizer, batch_size, progress)
        metrics, rows = _run_suite(suite, examples, run, budgets, score_fn)
        results[suite] = {**metrics, **run.stats(), "wall_seconds": round(time.perf_counter() - start, 3)}
        if out is not None:  # written after every suite so a long run leaves partial results
            distributed.on_main(_write_jsonl, out / f"generations_{suite}.jsonl", rows)
            distributed.on_main(_write_metrics, out, {**results, "run": info})
    return {**results, "run": info}


def _run_info(
    names: list[str],
    n: int,
    seed: int,
    scorer: str,
    batch_size: int,
    budgets: dict[str, int],
    eval_dir: str | Path | None,
    run_info: Mapping[str, Any] | None,
) -> dict[str, Any]:
    return {
        "suites": ",".join(names),
        "n": n,
        "seed": seed,
        "scorer": scorer,
        "batch_size": batch_size,
        "max_new_tokens": json.dumps(budgets),
        "eval_dir": str(eval_dir or ""),
        **{k: str(v) for k, v in (run_info or {}).items()},
    }


def _write_metrics(out: Path, results: Mapping[str, Any]) -> None:
    text = json.dumps(_jsonable(results), indent=2, sort_keys=True)
    (out / "metrics.json").write_text(text + "\n", encoding="utf-8")


def _jsonable(value: Any) -> Any:
    """NaN (e.g. s_DIS with no non-unknown answer) becomes null so metrics.json is strict JSON."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return None if isinstance(value, float) and math.isnan(value) else value
