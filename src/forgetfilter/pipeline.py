"""A ForgetFilter run in one directory, stage by stage; a rerun resumes after the last finished stage.

Stages: score M0 -> S1 (finetune M0 on D_noisy) -> score M1 -> S1+ (continue on D_safe) -> score M2 -> filter.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from forgetfilter import distributed
from forgetfilter.config import FilterConfig
from forgetfilter.errors import ConfigError
from forgetfilter.examples import Example
from forgetfilter.precision import PROBES_FILE, Precision, run_probes


@dataclass
class StageLog:
    """Wall time and throughput of each stage, kept in ``RUN/stages.json``."""

    path: Path
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> StageLog:
        """The log in ``path``; a damaged one is started afresh (it only holds timings)."""
        try:
            stages = json.loads(path.read_text()) if path.is_file() else {}
        except ValueError:
            stages = None
        if not isinstance(stages, dict):
            import warnings

            warnings.warn(f"{path} is damaged; its stage timings are started afresh", stacklevel=2)
            stages = {}
        return cls(path, stages)

    def record(self, name: str, **values: Any) -> None:
        """Store a stage's figures with the process's peak resident memory so far (``peak_rss_mib``); every process
        keeps them, the main process writes them."""
        peak = peak_rss_mib()
        self.stages[name] = {**values, **({"peak_rss_mib": peak} if peak is not None else {})}
        from forgetfilter.run_dir import write_atomic

        if distributed.is_main():
            write_atomic(self.path, json.dumps(self.stages, indent=2))


def peak_rss_mib() -> float | None:
    """The process's resident-memory high-water mark in MiB (None where ``resource`` is missing, e.g. Windows)."""
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return round(peak / (2**20 if sys.platform == "darwin" else 1024), 1)


def release_freed_memory() -> None:
    """Give the heap pages a finished stage freed back to the OS. glibc keeps them in the process otherwise: after
    a training session of the default model the process held 4.4 GiB, 0.6 GiB after this (bench/session_memory.py),
    so a study running sessions and evaluations one after another kept the largest session's memory throughout."""
    import gc

    gc.collect()
    if sys.platform.startswith("linux"):
        import contextlib
        import ctypes

        with contextlib.suppress(AttributeError, OSError):  # not glibc (musl): nothing to trim
            ctypes.CDLL(None).malloc_trim(0)


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (CPU and CUDA) before the first random draw of a run."""
    from transformers import set_seed

    set_seed(seed)


def run_precision(config: FilterConfig, recorded: dict[str, Any] | None = None) -> Precision:
    """The run's dtype, resolved once (``auto`` measures this machine) so every stage computes the same way.

    A resumed run keeps the dtype its first stages were computed in (``recorded``, from stages.json).
    """
    from forgetfilter.models import pick_device
    from forgetfilter.precision import choose_precision, use_all_cores

    use_all_cores()
    if config.dtype == "auto" and recorded and recorded.get("dtype") in ("float32", "bfloat16", "float16"):
        fields = ("dtype", "reason", "device", "threads", "probe")
        return Precision(**{k: recorded[k] for k in fields if k in recorded})
    return choose_precision(config.dtype, str(pick_device(config.device)))


def record_precision(config: FilterConfig, log: StageLog) -> Precision:
    """``run_precision``, written to the stage log the first time (a resumed run reads it back from there)."""
    recorded = log.stages.get("precision")
    precision = distributed.on_main(run_precision, config, recorded)  # one dtype for every process
    if recorded is None or any(recorded.get(k) != v for k, v in precision.to_dict().items()):
        log.record("precision", **precision.to_dict())
    return precision


def _fresh_model(config: FilterConfig, dtype: str) -> tuple[Any, Any]:
    """M0 with a new LoRA adapter, initialised from the S1 seed (the same seed gives the same adapter)."""
    from forgetfilter.models import add_lora, load_model

    model, tokenizer = load_model(config.model, dtype=dtype, device=config.device)
    seed_everything(config.s1.seed)
    return add_lora(model, config.lora), tokenizer


def _load_adapter(config: FilterConfig, adapter: Path, dtype: str) -> tuple[Any, Any]:
    """A saved adapter on M0, trainable (S1+ may continue it) but in eval mode (no dropout while scoring)."""
    from peft import PeftModel

    from forgetfilter.models import load_model, quiet_peft

    base, tokenizer = load_model(config.model, dtype=dtype, device=config.device)
    with quiet_peft():
        model = PeftModel.from_pretrained(base, str(adapter), is_trainable=True)
    model.eval()
    return model, tokenizer


def run_session(
    model: Any,
    tokenizer: Any,
    examples: Sequence[Example],
    settings: Any,
    stage_dir: Path,
    log: StageLog,
    name: str,
    **train_kwargs: Any,
) -> Any:
    """Train (or resume) one session and save its adapter in ``stage_dir/adapter``."""
    import shutil

    from forgetfilter.training import train_session

    result = train_session(model, tokenizer, examples, settings, out_dir=stage_dir, desc=name, **train_kwargs)
    adapter, tmp = stage_dir / "adapter", stage_dir / "adapter.tmp"
    from forgetfilter.wrapped import save_adapter

    distributed.on_main(shutil.rmtree, tmp, ignore_errors=True)
    save_adapter(model, tmp)  # by the main process; renamed into place only once complete

    def rename() -> None:
        shutil.rmtree(adapter, ignore_errors=True)
        tmp.rename(adapter)

    distributed.on_main(rename)
    log.record(
        name,
        seconds=result.seconds,
        steps=result.steps,
        tokens=result.tokens,
        tokens_per_s=result.tokens_per_s,
        final_loss=result.losses[-1] if result.losses else float("nan"),
        **(
            {
                "until": "learned",
                "learned_at_epoch": result.learned_at_epoch,
                "tolerance": settings.tolerance,
                "max_epochs": settings.max_epochs,
            }
            if settings.until == "learned"
            else {}
        ),
        attention=result.attention,
        **({"attention_setting": result.attention_setting} if result.attention_setting else {}),
        **({"attention_probe": result.attention_probe} if result.attention_probe else {}),
    )
    return model


def adapter_complete(folder: Path) -> bool:
    """Whether ``folder`` holds a saved adapter whose config and weights read back; a damaged one is reported
    (with a warning naming it) as absent, so its session is trained again."""
    config, weights = folder / "adapter_config.json", folder / "adapter_model.safetensors"
    if not config.is_file():
        return False
    try:
        from safetensors import safe_open

        json.loads(config.read_text(encoding="utf-8"))
        with safe_open(str(weights), framework="pt") as handle:
            if not list(handle.keys()):
                raise ValueError("no tensors")
    except Exception as exc:  # noqa: BLE001 - unreadable in any way: train it again
        import warnings

        warnings.warn(f"adapter {folder} is damaged ({exc}); training that session again", stacklevel=2)
        return False
    return True


def scoring_settings(config: FilterConfig) -> dict[str, Any]:
    """What the cached scores depend on besides the model: a change means they must be computed again."""
    return {
        "signals": sorted(config.signals),
        "token_selection": config.token_selection,
        "max_length": config.s1.max_length,
        "max_new_tokens": config.max_new_tokens if "rouge" in config.signals else None,
    }


def cached_scores(path: Path, examples: Sequence[Example], config: FilterConfig) -> dict[str, list[Any]] | None:
    """The signals stored in ``path`` if they were computed for these examples with these settings, else None."""
    if not path.is_file():
        return None
    try:
        cached = json.loads(path.read_text())
        _ = cached["signals"]
    except (ValueError, KeyError, TypeError):
        import warnings

        warnings.warn(f"{path} is damaged; scoring that model again", stacklevel=2)
        return None
    if cached.get("ids") != [ex.id for ex in examples] or cached.get("settings") != scoring_settings(config):
        return None
    return cached["signals"]


def score_model(
    model: Any, tokenizer: Any, examples: Sequence[Example], config: FilterConfig, path: Path, log: StageLog, name: str
) -> dict[str, list[Any]]:
    """Signals for every example, cached in ``path`` (JSON keyed by signal, aligned to input order)."""
    from forgetfilter.config import signal_settings
    from forgetfilter.signals import compute_signals

    cached = cached_scores(path, examples, config)
    if cached is not None:
        return cached
    started = time.perf_counter()
    signals = compute_signals(
        model,
        tokenizer,
        examples,
        config.signals,
        **signal_settings(config),
        desc=name,
    )
    seconds = time.perf_counter() - started
    from forgetfilter.run_dir import write_atomic

    text = json.dumps({"ids": [ex.id for ex in examples], "settings": scoring_settings(config), "signals": signals})
    distributed.on_main(write_atomic, path, text)
    log.record(name, seconds=seconds, examples=len(examples), examples_per_s=len(examples) / max(seconds, 1e-9))
    return signals


def _curves(
    config: FilterConfig, model: Any, tokenizer: Any, pool: Sequence[Example], path: Path, session: str
) -> dict[str, Any]:
    """``on_step`` keyword for run_session recording curves of a per-role sample of ``pool`` into ``path`` (step 0,
    the starting model, is recorded here: M0 for S1, M1 for S1+)."""
    from forgetfilter.curves import curve_recorder, curve_sample

    sample = curve_sample(pool, config.curve_per_role, seed=config.s1.seed)
    recorder = curve_recorder(
        tokenizer,
        sample,
        path,
        session=session,
        every=config.curve_every,
        token_selection=config.token_selection,
        batch_size=config.score_batch_size,
        max_length=config.s1.max_length,
    )
    recorder(0, model)
    return {"on_step": recorder}


def train_or_resume(
    config: FilterConfig,
    examples: Sequence[Example],
    settings: Any,
    stage_dir: Path,
    log: StageLog,
    name: str,
    *,
    start: Path | None = None,
    curves: tuple[Sequence[Example], Path] | None = None,
) -> Path:
    """One session: a fresh LoRA adapter on M0 (``start`` None) or the adapter saved at ``start`` trained further,
    on ``examples``; saved in ``stage_dir/adapter``, which is returned. Skipped when that adapter is complete;
    resumed from its checkpoint after a kill. ``curves`` = (pool, file) records learning curves when the config
    asks for them."""
    adapter = stage_dir / "adapter"
    if adapter_complete(adapter):
        return adapter
    dtype = record_precision(config, log).dtype
    from forgetfilter import wrapped

    if wrapped.active():  # FSDP/DeepSpeed: loaded in host memory; accelerate places (and shards) it
        from dataclasses import replace

        config = replace(config, device="cpu")
    model, tokenizer = _fresh_model(config, dtype) if start is None else _load_adapter(config, start, dtype)
    on_step = _curves(config, model, tokenizer, curves[0], curves[1], name) if curves and config.curve_every else {}
    with run_probes(log.path.parent / PROBES_FILE):  # the run's sessions decide alike, on a rerun too
        run_session(model, tokenizer, examples, settings, stage_dir, log, name, **on_step)
    del model, tokenizer, on_step
    release_freed_memory()
    return adapter


def score(
    config: FilterConfig, adapter: Path | None, examples: Sequence[Example], path: Path, log: StageLog, name: str
) -> dict[str, list[Any]]:
    """The signals of ``examples`` under M0 + ``adapter`` (M0 itself, the aligned model before any finetuning, when
    ``adapter`` is None), cached in ``path`` (recomputed when the examples or the scoring settings differ, or the
    file is damaged)."""
    from forgetfilter.models import load_model

    cached = cached_scores(path, examples, config)
    if cached is not None:
        return cached
    from forgetfilter.wrapped import whole_model

    dtype = record_precision(config, log).dtype
    with whole_model():  # every process scores with the whole model, even under DeepSpeed ZeRO-3
        if adapter is None:
            model, tokenizer = load_model(config.model, dtype=dtype, device=config.device)
        else:
            model, tokenizer = _load_adapter(config, adapter, dtype)
    distributed.on_main(path.parent.mkdir, parents=True, exist_ok=True)
    signals = score_model(model, tokenizer, examples, config, path, log, name)
    del model, tokenizer
    release_freed_memory()
    return signals


@dataclass
class StageScores:
    """The signals of D_noisy under M0 (None unless ``score_m0``), M1 and M2, aligned to the input; the same for
    the canaries (empty lists without them); and the stage log."""

    reference: dict[str, list[Any]] | None
    before: dict[str, list[Any]]
    after: dict[str, list[Any]]
    canaries: dict[str, dict[str, list[Any]]]
    log: StageLog


def check_canaries(k: int, n_safe: int) -> None:
    """``k`` canaries leave examples of D_safe (``n_safe`` of them) for S1+; 0 means no canaries."""
    if k and k >= n_safe:
        raise ConfigError(f"canaries must leave examples of D_safe for S1+: D_safe has {n_safe}, canaries is {k}")


def split_canaries(safe: Sequence[Example], k: int, seed: int) -> tuple[list[Example], list[Example]]:
    """``k`` examples of D_safe drawn with ``seed`` as known-benign canaries (id ``canary:<id>``, role
    ``canary``) for S1, and the rest of D_safe, in order, for S1+."""
    import random
    from dataclasses import replace

    check_canaries(k, len(safe))
    picked = set(random.Random(seed).sample(range(len(safe)), k))
    canaries = [replace(safe[i], id=f"canary:{safe[i].id}", role="canary") for i in sorted(picked)]
    return canaries, [ex for i, ex in enumerate(safe) if i not in picked]


def run_stages(noisy: Sequence[Example], safe: Sequence[Example], config: FilterConfig, run_dir: Path) -> StageScores:
    """The ForgetFilter recipe: score M0 (with ``score_m0``), S1 on D_noisy and any canaries (M1), score M1, S1+
    on the rest of D_safe (M2), score M2. Each step is skipped when its output is complete in ``run_dir``."""
    if not noisy:
        raise ConfigError("D_noisy is empty: nothing to filter")
    if not safe:
        raise ConfigError("D_safe is empty: safety finetuning (S1+) needs safe examples")
    canaries, safe = split_canaries(safe, config.canaries, config.s1.seed) if config.canaries else ([], list(safe))
    pool = [*noisy, *canaries]
    run_dir.mkdir(parents=True, exist_ok=True)
    log = StageLog.load(run_dir / "stages.json")
    curves = (noisy, run_dir / "curves.jsonl")
    reference = score(config, None, pool, run_dir / "scores_m0.json", log, "score_m0") if config.score_m0 else None
    m1 = train_or_resume(config, pool, config.s1, run_dir / "s1", log, "s1", curves=curves)
    before = score(config, m1, pool, run_dir / "scores_m1.json", log, "score_m1")
    m2 = train_or_resume(config, safe, config.s1_plus, run_dir / "s1_plus", log, "s1_plus", start=m1, curves=curves)
    after = score(config, m2, pool, run_dir / "scores_m2.json", log, "score_m2")
    n = len(noisy)

    def part(signals: dict[str, list[Any]], canary: bool) -> dict[str, list[Any]]:
        return {k: list(v[n:] if canary else v[:n]) for k, v in signals.items()}

    stages = {"m1": before, "m2": after, **({"m0": reference} if reference is not None else {})}
    return StageScores(
        reference=part(reference, False) if reference is not None else None,
        before=part(before, False),
        after=part(after, False),
        canaries={name: part(signals, True) for name, signals in stages.items()},
        log=log,
    )


def retrain_on_kept(
    kept: Sequence[Example], config: FilterConfig, run_dir: Path, *, merge: bool = False
) -> dict[str, Path]:
    """ForgetFilter's last step: finetune M0 on the kept examples with the S1 settings.

    Writes ``run_dir/retrain/adapter`` (a PEFT adapter) and, with ``merge``, ``run_dir/retrain/merged`` (the
    adapter merged into fp32 base weights, a safetensors folder with the tokenizer that ``transformers`` loads
    without peft). Resumable like the other stages; a different kept set (another threshold) trains again.
    """
    import shutil

    from forgetfilter.run_dir import examples_digest, write_atomic

    if not kept:
        raise ConfigError("every example was removed: there is nothing to finetune on")
    stage_dir = run_dir / "retrain"
    marker = stage_dir / "kept.json"
    digest = {"n": len(kept), "sha256": examples_digest(kept)}
    try:
        same = json.loads(marker.read_text(encoding="utf-8")) == digest
    except (OSError, ValueError):
        same = False
    if not same:  # another kept set, or a first run: nothing in the folder belongs to it

        def start_over() -> None:
            shutil.rmtree(stage_dir, ignore_errors=True)
            stage_dir.mkdir(parents=True)
            write_atomic(marker, json.dumps(digest))

        distributed.on_main(start_over)
    log = StageLog.load(run_dir / "stages.json")
    paths = {"adapter": train_or_resume(config, kept, config.s1, stage_dir, log, "retrain")}
    if merge:  # by the main process alone
        paths["merged"] = distributed.on_main(merge_adapter, config, paths["adapter"], stage_dir / "merged")
    return paths


def merge_adapter(config: FilterConfig, adapter: Path, out: Path) -> Path:
    """M0 with ``adapter`` merged in, saved as a plain fp32 safetensors model folder (skipped when complete)."""
    import shutil

    from peft import PeftModel

    from forgetfilter.models import load_model, quiet_peft

    if (out / "config.json").is_file() and any(out.glob("*.safetensors")):
        return out
    base, tokenizer = load_model(config.model, dtype="float32", device="cpu")
    with quiet_peft():
        merged = PeftModel.from_pretrained(base, str(adapter)).merge_and_unload()
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    merged.save_pretrained(str(tmp))
    tokenizer.save_pretrained(str(tmp))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out
