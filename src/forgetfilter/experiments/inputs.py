"""The study's inputs in the run directory: D_noisy, D_safe, and the evaluation prompts every method sees."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from forgetfilter import distributed
from forgetfilter.errors import ConfigError
from forgetfilter.examples import Example
from forgetfilter.experiments.config import ExperimentConfig
from forgetfilter.experiments.cues import with_cue


@dataclass
class StudyData:
    """D_noisy and D_safe as read from disk, the files they came from, and the evaluation prompt folders."""

    noisy: list[Example]
    safe: list[Example]
    files: dict[str, Path]
    eval_plain: Path | None = None
    eval_cue: Path | None = None


def safety_suites(kind: str) -> list[str]:
    return ["bias", "toxicity", "harmfulness"] if kind == "mixed" else [kind]


def report_suites(kind: str) -> list[str]:
    """Every suite a study of ``kind`` evaluates, in report order: its safety suites, then the task suite."""
    return [*safety_suites(kind), "task"]


def prepare_data(config: ExperimentConfig, run_dir: Path) -> StudyData:
    """Read the user's D_noisy/D_safe files, or build the paper's mix once into ``RUN/data``."""
    from forgetfilter.data.formats import read_examples

    if config.data.d_noisy is not None and config.data.d_safe is not None:
        files = {"d_noisy": Path(config.data.d_noisy), "d_safe": Path(config.data.d_safe)}
    else:
        out = run_dir / "data"
        if not (out / "manifest.json").is_file():
            from forgetfilter.data.manifest import write_mix
            from forgetfilter.data.mix import build_mix

            mix = build_mix(
                config.kind,
                n=config.data.n,
                unsafe_ratio=config.data.unsafe_ratio,
                seed=config.seed,
                data_dir=config.data.data_dir,
                n_safe_finetune=config.data.n_safe,
                n_eval=config.eval.n,
            )
            distributed.on_main(write_mix, mix, out)  # launched in several processes, the main one writes
        files = {"d_noisy": out / "d_noisy.jsonl", "d_safe": out / "d_safe.jsonl"}
    noisy = read_examples(files["d_noisy"]).examples
    safe = read_examples(files["d_safe"]).examples
    return StudyData(noisy, safe, files)


def _eval_source(config: ExperimentConfig, run_dir: Path) -> Path | None:
    if config.data.eval_dir is not None:
        return Path(config.data.eval_dir)
    built = run_dir / "data"
    return built if config.data.d_noisy is None and (built / "manifest.json").is_file() else None


def write_eval_inputs(config: ExperimentConfig, run_dir: Path, suites: list[str], cue: str) -> tuple[Path, Path]:
    """``RUN/eval_inputs/{plain,cue}/eval_<name>.jsonl``: the prompts of every suite, fixed once so that every
    method (and every resume) is evaluated on the same ones; the ``cue`` copy carries the self-correction cue."""
    from forgetfilter.data.formats import write_examples
    from forgetfilter.evaluate.prompts import load_prompts

    plain, cued = run_dir / "eval_inputs" / "plain", run_dir / "eval_inputs" / "cue"
    if (plain / "done").is_file() and (cued / "done").is_file():
        return plain, cued
    source = _eval_source(config, run_dir)
    for suite in suites:
        try:
            prompts = load_prompts(
                suite, n=config.eval.n, seed=config.seed, eval_dir=source, data_dir=config.data.data_dir
            )
        except ConfigError as exc:
            raise ConfigError(f"evaluation prompts for {suite!r}: {exc}") from None
        for name, part in _files(suite, prompts).items():
            write_examples(part, plain / f"{name}.jsonl", format="native")
            write_examples([with_cue(e, cue) for e in part], cued / f"{name}.jsonl", format="native")
    (plain / "done").write_text("")
    (cued / "done").write_text("")
    return plain, cued


def _files(suite: str, prompts: list[Example]) -> dict[str, list[Example]]:
    """Eval file name -> prompts; the task suite is stored as its SQuAD and Alpaca parts (the evaluate rule:
    SQuAD items come from source ``squad`` or carry gold ``answers``)."""
    if suite != "task":
        return {f"eval_{suite}": prompts}
    is_squad = [e.source == "squad" or "answers" in e.meta for e in prompts]
    return {
        "eval_squad": [e for e, s in zip(prompts, is_squad, strict=True) if s],
        "eval_alpaca": [e for e, s in zip(prompts, is_squad, strict=True) if not s],
    }
