"""forgetfilter: find the unsafe examples of a finetuning set by how much safety finetuning makes a model forget them.

The main names, by tier (as cleanlab's): signals of one model (``compute_signals``), a pure function from two
models' signals to the examples to remove (``select``), and the whole run (``find_unsafe_examples``).
"""

from forgetfilter.api import find_unsafe_examples
from forgetfilter.config import FilterConfig, signal_settings
from forgetfilter.data.formats import read_examples, write_examples
from forgetfilter.examples import Example
from forgetfilter.models import LoraSettings, load_model
from forgetfilter.pipeline import retrain_on_kept
from forgetfilter.result import ForgetFilterResult
from forgetfilter.selection import (
    Selection,
    Threshold,
    choose_threshold,
    filter_mask,
    filter_quality,
    forgetting,
    select,
)
from forgetfilter.signals import compute_signals
from forgetfilter.training import SessionSettings

__all__ = [
    "Example",
    "FilterConfig",
    "ForgetFilterResult",
    "LoraSettings",
    "Selection",
    "SessionSettings",
    "Threshold",
    "choose_threshold",
    "compute_signals",
    "filter_mask",
    "filter_quality",
    "find_unsafe_examples",
    "forgetting",
    "load_model",
    "read_examples",
    "retrain_on_kept",
    "select",
    "signal_settings",
    "write_examples",
]
