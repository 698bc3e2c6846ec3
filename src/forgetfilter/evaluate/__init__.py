"""Safety (toxicity, bias, harmfulness) and task (SQuAD, Alpaca) evaluation of a model."""

from forgetfilter.evaluate.audit import rescore
from forgetfilter.evaluate.bias import BBQItem, bbq_scores, bias_score, parse_choice
from forgetfilter.evaluate.harmfulness import classify_response, coherence_problem, harmfulness_scores, is_refusal
from forgetfilter.evaluate.prompts import load_prompts
from forgetfilter.evaluate.registry import DEFAULT_MAX_NEW_TOKENS, REGISTRY, SUITES, Suite
from forgetfilter.evaluate.suite import evaluate
from forgetfilter.evaluate.task import alpaca_scores, exact_match, normalize_answer, rouge_l, squad_scores, token_f1
from forgetfilter.evaluate.toxicity import SCORERS, first_words, get_scorer, toxicity_summary
from forgetfilter.generation import Generations, generate

__all__ = [
    "DEFAULT_MAX_NEW_TOKENS",
    "REGISTRY",
    "SCORERS",
    "SUITES",
    "BBQItem",
    "Suite",
    "Generations",
    "alpaca_scores",
    "bbq_scores",
    "bias_score",
    "classify_response",
    "coherence_problem",
    "evaluate",
    "exact_match",
    "first_words",
    "generate",
    "get_scorer",
    "harmfulness_scores",
    "is_refusal",
    "load_prompts",
    "normalize_answer",
    "parse_choice",
    "rouge_l",
    "rescore",
    "squad_scores",
    "token_f1",
    "toxicity_summary",
]
