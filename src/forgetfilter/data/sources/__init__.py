"""Loaders for every dataset in the shared datasets folder; each returns ``list[Example]``."""

from forgetfilter.data.sources.bbq import bbq_example, bbq_meta, format_bbq_prompt, load_bbq
from forgetfilter.data.sources.eval_prompts import (
    load_advbench,
    load_catqa,
    load_dangerousqa,
    load_safety_tuned_llamas_eval,
)
from forgetfilter.data.sources.harmful import (
    load_harmfulqa_conversations,
    load_harmfulqa_questions,
    load_hh_rlhf,
    load_safety_tuned_llamas_training,
)
from forgetfilter.data.sources.task import load_alpaca, load_squad
from forgetfilter.data.sources.toxicity import (
    load_hate_speech_offensive,
    load_pile_detoxify,
    load_realtoxicityprompts,
)

__all__ = [
    "bbq_example",
    "bbq_meta",
    "format_bbq_prompt",
    "load_advbench",
    "load_alpaca",
    "load_bbq",
    "load_catqa",
    "load_dangerousqa",
    "load_harmfulqa_conversations",
    "load_harmfulqa_questions",
    "load_hate_speech_offensive",
    "load_hh_rlhf",
    "load_pile_detoxify",
    "load_realtoxicityprompts",
    "load_safety_tuned_llamas_eval",
    "load_safety_tuned_llamas_training",
    "load_squad",
]
