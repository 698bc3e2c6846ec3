"""Unsafe, safe, D_safe and evaluation examples for each safety kind (README, "Data"), disjoint by construction."""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

from forgetfilter.data import sources
from forgetfilter.data.sampling import Parts, equal_split, partition, sample, usable
from forgetfilter.examples import Example

TOXIC_MIN, NONTOXIC_MAX = 0.9, 0.1  # the authors' thresholds on the toxicity score
BBQ_SAFE_GROUPS = ("noisy", "d_safe", "eval")


def _template(example: Example) -> tuple[str, str]:
    return example.meta["category"], example.meta["question_index"]


def bbq_templates(items: list[Example], rng: random.Random) -> dict[tuple[str, str], str]:
    """Assign each (category, question_index) template to ``unsafe`` (half of each category) or a safe group."""
    by_category: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for example in items:
        by_category[example.meta["category"]].add(_template(example))
    assignment = {}
    for category in sorted(by_category):
        templates = sorted(by_category[category])
        rng.shuffle(templates)
        half = len(templates) // 2
        for i, template in enumerate(templates):
            assignment[template] = "unsafe" if i < half else BBQ_SAFE_GROUPS[(i - half) % len(BBQ_SAFE_GROUPS)]
    return assignment


def bias_parts(data_dir: Path, rng: random.Random, k_unsafe: int, k_safe: int, n_safe: int, n_eval: int) -> Parts:
    """Unsafe: ambiguous items of half the templates relabelled to the biased answer. Safe: items (both
    context conditions) of other templates with their original label; D_safe and eval from further templates."""
    items = sources.load_bbq(data_dir)
    groups = bbq_templates(items, rng)
    pools: dict[str, list[Example]] = defaultdict(list)
    for example in items:
        group = groups[_template(example)]
        if group == "unsafe" and example.meta["context_condition"] == "ambig":
            example = sources.bbq_example(example.original, label=example.meta["stereotyped_index"], role="unsafe")
        elif group != "unsafe":
            example = replace(example, role=None if group == "eval" else "safe")
        else:
            continue
        pools[group].append(example)
    return Parts(
        unsafe=sample(pools["unsafe"], k_unsafe, rng, what="unsafe bias"),
        safe=sample(pools["noisy"], k_safe, rng, what="safe bias"),
        d_safe=sample(pools["d_safe"], n_safe, rng, what="D_safe bias"),
        evals={"eval_bias": sample(pools["eval"], n_eval, rng, what="eval_bias")},
    )


def toxicity_parts(
    data_dir: Path,
    rng: random.Random,
    k_unsafe: int,
    k_safe: int,
    n_safe: int,
    n_eval: int,
    *,
    pile_detoxify: Path | None = None,
) -> Parts:
    """Unsafe: texts scored >= 0.9; safe: <= 0.1 (hate-speech-offensive, or a pile-detoxify shard if given).
    Eval: held-out toxic texts (first-3-words prompts) and RealToxicityPrompts prompts, half each."""
    parts = Parts()
    corpus = (
        sources.load_pile_detoxify(pile_detoxify) if pile_detoxify else sources.load_hate_speech_offensive(data_dir)
    )
    texts = usable(corpus, parts.dropped)
    toxic = [replace(e, role="unsafe") for e in texts if e.meta["toxicity"] >= TOXIC_MIN]
    clean = [replace(e, role="safe") for e in texts if e.meta["toxicity"] <= NONTOXIC_MAX]
    n_corpus, n_rtp = equal_split(n_eval, 2)
    parts.unsafe, held_out = partition(toxic, [k_unsafe, n_corpus], rng, what="toxic", key=lambda e: e.id)
    parts.safe, parts.d_safe = partition(clean, [k_safe, n_safe], rng, what="non-toxic", key=lambda e: e.id)
    rtp = sample(sources.load_realtoxicityprompts(data_dir), n_rtp, rng, what="RealToxicityPrompts")
    parts.evals["eval_toxicity"] = [replace(e, role=None) for e in held_out] + rtp
    return parts


def _prompt_group(example: Example) -> str:
    return str(example.meta.get("prompt_id", example.id))


def harmfulness_parts(
    data_dir: Path,
    rng: random.Random,
    k_unsafe: int,
    k_safe: int,
    n_safe: int,
    n_eval: int,
    *,
    harmfulqa_conversations: Path | None = None,
) -> Parts:
    """Unsafe: HH-RLHF rejected replies (+ HarmfulQA red if given); safe: chosen replies of OTHER prompts and
    safety-tuned-llamas safe responses (+ HarmfulQA blue). A prompt never lands in two sets."""
    parts = Parts()
    paired = sources.load_hh_rlhf(data_dir)
    if harmfulqa_conversations:
        paired += sources.load_harmfulqa_conversations(harmfulqa_conversations)
    prompts = sorted({_prompt_group(e) for e in paired})
    rng.shuffle(prompts)
    unsafe_side = set(prompts[: len(prompts) // 2])
    pool = usable(paired, parts.dropped)
    unsafe = [e for e in pool if e.role == "unsafe" and _prompt_group(e) in unsafe_side]
    safe = [e for e in pool if e.role == "safe" and _prompt_group(e) not in unsafe_side]
    safe += usable(sources.load_safety_tuned_llamas_training(data_dir), parts.dropped)
    (parts.unsafe,) = partition(unsafe, [k_unsafe], rng, what="unsafe harmfulness", key=_prompt_group)
    parts.safe, parts.d_safe = partition(safe, [k_safe, n_safe], rng, what="safe harmfulness", key=_prompt_group)
    evals = (
        sources.load_advbench(data_dir),
        sources.load_catqa(data_dir),
        sources.load_safety_tuned_llamas_eval(data_dir),
    )
    sizes = equal_split(n_eval, len(evals))
    parts.evals["eval_harmfulness"] = [
        e for pool_, k in zip(evals, sizes, strict=True) for e in sample(pool_, k, rng, what="harmful eval prompt")
    ]
    return parts


def task_parts(data_dir: Path, rng: random.Random, k_squad: int, k_alpaca: int, n_eval: int) -> Parts:
    """SQuAD split by article title (a fifth of the articles held out) and Alpaca split by example."""
    parts = Parts()
    squad = sources.load_squad(data_dir)
    titles = sorted({e.meta["title"] for e in squad})
    rng.shuffle(titles)
    held = set(titles[: max(1, len(titles) // 5)])
    squad_train = sample([e for e in squad if e.meta["title"] not in held], k_squad, rng, what="SQuAD")
    parts.evals["eval_squad"] = sample(
        [e for e in squad if e.meta["title"] in held], n_eval, rng, what="held-out SQuAD"
    )
    alpaca = usable(sources.load_alpaca(data_dir), parts.dropped)
    alpaca_train, parts.evals["eval_alpaca"] = partition(
        alpaca, [k_alpaca, n_eval], rng, what="Alpaca", key=lambda e: e.id
    )
    parts.task = squad_train + alpaca_train
    return parts
