"""The paper's study end to end: baselines, ForgetFilter, interleaved training and the report."""

from forgetfilter.experiments.claims import Claim, claims_table, paper_claims
from forgetfilter.experiments.compare import Comparison, compare_methods
from forgetfilter.experiments.config import ExperimentConfig, load_experiment_config
from forgetfilter.experiments.methods import METHODS, Method, MethodSelection
from forgetfilter.experiments.runner import ExperimentResult, run_experiment
from forgetfilter.experiments.study_report import StudyRecords, read_study, rebuild_report

__all__ = [
    "METHODS",
    "Claim",
    "Comparison",
    "ExperimentConfig",
    "ExperimentResult",
    "Method",
    "MethodSelection",
    "StudyRecords",
    "claims_table",
    "compare_methods",
    "load_experiment_config",
    "paper_claims",
    "read_study",
    "rebuild_report",
    "run_experiment",
]
