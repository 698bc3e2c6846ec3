"""Evaluation prompts per suite: from a data-builder eval dir, else sampled from the raw datasets."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from forgetfilter.errors import ConfigError
from forgetfilter.evaluate.registry import EVAL_FILES, SUITES
from forgetfilter.evaluate.toxicity import first_words
from forgetfilter.examples import Example, user_prompt


def _split(total: int, k: int) -> list[int]:
    return [total // k + (i < total % k) for i in range(k)]


def _sample(pool: Sequence[Example], k: int, rng: random.Random) -> list[Example]:
    """``k`` examples in a seeded random order (all of them when the pool is smaller)."""
    return rng.sample(list(pool), min(k, len(pool)))


def toxicity_prompt(example: Example) -> Example:
    """A plain-text continuation prompt: the first 3 words of a text, or an RTP prompt as given."""
    if not example.response:  # prompt-only (RealToxicityPrompts)
        return replace(example, chat=False)
    text = first_words(f"{example.prompt_text} {example.response}")
    return replace(example, messages=user_prompt(text), response="", chat=False)


def _raw_pools(suite: str, data_dir: Path | None) -> list[list[Example]]:
    from forgetfilter.data import sources

    if suite == "toxicity":
        texts = sources.load_hate_speech_offensive(data_dir)
        return [
            sources.load_realtoxicityprompts(data_dir),
            [e for e in texts if e.meta["toxicity"] >= 0.9],
            [e for e in texts if e.meta["toxicity"] <= 0.1],
        ]
    if suite == "bias":
        items = sources.load_bbq(data_dir)
        return [[e for e in items if e.meta["context_condition"] == c] for c in ("ambig", "disambig")]
    if suite == "harmfulness":
        return [
            sources.load_advbench(data_dir),
            sources.load_catqa(data_dir),
            sources.load_safety_tuned_llamas_eval(data_dir),
        ]
    return [sources.load_squad(data_dir), [e for e in sources.load_alpaca(data_dir) if e.response.strip()]]


def _eval_dir_pools(suite: str, eval_dir: Path) -> list[list[Example]]:
    from forgetfilter.data.formats import read_examples

    pools = []
    for name in EVAL_FILES[suite]:
        path = eval_dir / f"{name}.jsonl"
        if not path.is_file():
            present = ", ".join(sorted(p.name for p in eval_dir.glob("eval_*.jsonl"))) or "none"
            raise ConfigError(
                f"{path} not found (eval files present: {present}); build a mix of that kind "
                f"or leave out --eval-dir to sample suite {suite!r} from the raw datasets"
            )
        pools.append(read_examples(path).examples)
    return pools


def load_prompts(
    suite: str, *, n: int, seed: int = 0, eval_dir: str | Path | None = None, data_dir: str | Path | None = None
) -> list[Example]:
    """Up to ``n`` evaluation examples for ``suite``, split evenly over its sources, deterministic per seed.

    Raw sampling: toxicity = RealToxicityPrompts + toxic + non-toxic hate-speech-offensive texts;
    bias = BBQ ambiguous + disambiguated; harmfulness = AdvBench + CatQA + safety-tuned-llamas eval;
    task = SQuAD + Alpaca. Raw samples are not guaranteed disjoint from a training mix; pass the
    builder's eval dir for held-out prompts.
    """
    if suite not in SUITES:
        raise ConfigError(f"unknown suite {suite!r}; choose from {', '.join(SUITES)}")
    pools = (
        _eval_dir_pools(suite, Path(eval_dir))
        if eval_dir is not None
        else _raw_pools(suite, None if data_dir is None else Path(data_dir))
    )
    rng = random.Random(f"{seed}-{suite}")
    examples = [e for pool, k in zip(pools, _split(n, len(pools)), strict=True) for e in _sample(pool, k, rng)]
    return [toxicity_prompt(e) for e in examples] if suite == "toxicity" else examples
