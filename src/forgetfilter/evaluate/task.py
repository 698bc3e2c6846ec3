"""Task metrics: SQuAD v1.1 exact match and token F1, ROUGE-L for Alpaca. Higher is better for all."""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """The official SQuAD v1.1 normalisation: lower case, no punctuation, no articles, single spaces.

    >>> normalize_answer("The  Eiffel Tower!")
    'eiffel tower'
    """
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, answers: Sequence[str]) -> float:
    """1.0 if the normalised prediction equals any normalised gold answer (higher is better).

    >>> exact_match("the Broncos", ["Denver Broncos", "Broncos"])
    1.0
    """
    return max((float(normalize_answer(prediction) == normalize_answer(a)) for a in answers), default=0.0)


def _f1(prediction: str, answer: str) -> float:
    pred, gold = normalize_answer(prediction).split(), normalize_answer(answer).split()
    common = sum((Counter(pred) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def token_f1(prediction: str, answers: Sequence[str]) -> float:
    """Best token-overlap F1 against the gold answers, after normalisation (higher is better).

    >>> round(token_f1("Denver Broncos won", ["Denver Broncos"]), 3)
    0.8
    """
    return max((_f1(prediction, a) for a in answers), default=0.0)


def squad_answer(generation: str) -> str:
    """The answer part of a generation: its first non-empty line, without an ``Answer:`` label."""
    line = next((ln.strip() for ln in generation.splitlines() if ln.strip()), "")
    return re.sub(r"^(the\s+)?answer\s*(is)?\s*[:\-]?\s*", "", line, flags=re.IGNORECASE) if line else ""


def squad_scores(generations: Sequence[str], answers: Sequence[Sequence[str]]) -> dict[str, float]:
    """Mean exact match and F1 (0-1, higher is better) of generations against their gold answer lists."""
    preds = [squad_answer(g) for g in generations]
    n = max(len(preds), 1)
    return {
        "squad_exact_match": sum(exact_match(p, a) for p, a in zip(preds, answers, strict=True)) / n,
        "squad_f1": sum(token_f1(p, a) for p, a in zip(preds, answers, strict=True)) / n,
        "squad_n": float(len(preds)),
    }


@lru_cache(maxsize=1)
def _rouge_scorer() -> Any:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F-measure (rouge-score, stemmed), 0-1, higher is better.

    >>> rouge_l("the cat sat", "the cat sat down")
    0.8571428571428571
    """
    return _rouge_scorer().score(reference, prediction)["rougeL"].fmeasure


def alpaca_scores(generations: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Mean ROUGE-L of generations against the reference outputs (higher is better)."""
    scores = [rouge_l(g, r) for g, r in zip(generations, references, strict=True)]
    return {"alpaca_rouge_l": sum(scores) / max(len(scores), 1), "alpaca_n": float(len(scores))}
