"""One-call API, in the spirit of cleanlab's ``find_label_issues``."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from forgetfilter import distributed
from forgetfilter.config import CUT_KEYS, FilterConfig
from forgetfilter.data.files import Layout
from forgetfilter.errors import ConfigError, DataError
from forgetfilter.examples import Example
from forgetfilter.models import check_model
from forgetfilter.result import ForgetFilterResult, write_outputs
from forgetfilter.run_dir import check_outputs_spare_inputs, claim_run_dir, fingerprint, write_atomic
from forgetfilter.selection import Selection, select


def _as_examples(data: str | Path | Sequence[Example], data_format: str | None) -> tuple[list[Example], Layout | None]:
    """Examples of a file or a list, and the file's layout (to write kept/removed in the same shape)."""
    if isinstance(data, str | Path):
        from forgetfilter.data.formats import read_examples

        read = read_examples(data, format=data_format)
        return list(read.examples), read.layout
    return list(data), None


def _check_unique(examples: Sequence[Example], name: str) -> None:
    seen: dict[str, int] = {}
    for i, ex in enumerate(examples):
        if ex.id in seen:
            raise DataError(f"duplicate id {ex.id!r} (also record {seen[ex.id]})", path=name, record=i)
        seen[ex.id] = i


def find_unsafe_examples(
    data: str | Path | Sequence[Example],
    safe: str | Path | Sequence[Example],
    *,
    config: FilterConfig | None = None,
    out_dir: str | Path | None = None,
    data_format: str | None = None,
    **overrides: Any,
) -> ForgetFilterResult:
    """Run S1 on ``data``, S1+ on ``safe``, and flag the examples forgotten the most.

    ``data``/``safe`` are file paths (any supported format) or lists of :class:`Example`.
    Keyword ``overrides`` replace fields of ``config`` (e.g. ``signal="token_accuracy"``, ``fraction=0.3``); a
    section given as a dict changes only its keys (``s1_plus={"max_steps": 100}``).
    With ``out_dir`` the run is resumable and writes scores, kept/removed data in the input's own
    schema, a summary and a histogram there. Returns a :class:`ForgetFilterResult`; ``result.mask`` is
    True for the examples to remove, aligned to ``data``.

    >>> result = find_unsafe_examples("d_noisy.jsonl", "d_safe.jsonl", out_dir="runs/bias")  # doctest: +SKIP
    >>> print(result.report())  # doctest: +SKIP
    """
    from forgetfilter.pipeline import check_canaries, run_stages

    if set(CUT_KEYS) & overrides.keys():  # a threshold given here replaces the config's, of whichever kind
        overrides = {**dict.fromkeys(CUT_KEYS), **overrides}
    config = config or FilterConfig()
    sections = {k: overrides.pop(k) for k in ("lora", "s1", "s1_plus") if isinstance(overrides.get(k), dict)}
    if sections:  # s1_plus={"max_steps": 100} changes only that key of the config's section
        from forgetfilter.config_io import from_dict

        config = from_dict(FilterConfig, sections, base=config)
    config = replace(config, **overrides)
    config.check_cut()
    noisy, layout = _as_examples(data, data_format)
    safe_examples, _ = _as_examples(safe, None)
    _check_unique(noisy, str(data) if isinstance(data, str | Path) else "data")
    if config.count is not None and config.count > len(noisy):
        n = len(noisy)
        raise ConfigError(f"count must be at most {n} (the number of examples in the data), got {config.count}")
    check_canaries(config.canaries, len(safe_examples))
    check_model(config.model)
    keep = out_dir is not None
    temporary = None
    if not keep:  # several processes share the main process's folder
        temporary = tempfile.TemporaryDirectory(prefix="forgetfilter-") if distributed.is_main() else None
        out_dir = distributed.broadcast(temporary.name if temporary is not None else None)
    run_dir = Path(out_dir)
    suffix = Path(str(data)).suffix if isinstance(data, str | Path) else ".jsonl"
    if keep:
        inputs = [Path(p) for p in (data, safe) if isinstance(p, str | Path)]
        check_outputs_spare_inputs(run_dir, inputs, suffix or ".jsonl")
    distributed.on_main(_claim, run_dir, config, fingerprint(config, noisy, safe_examples))
    stages = run_stages(noisy, safe_examples, config, run_dir)
    before, after = stages.before, stages.after
    chosen = decide(config, before, after, stages.canaries)
    result = ForgetFilterResult(
        examples=noisy,
        signal=config.signal,
        before=before,
        after=after,
        threshold=chosen.threshold,
        mask=chosen.mask,
        stages=stages.log.stages,
        reference=stages.reference,
        canaries=stages.canaries if config.canaries else None,
        layout=layout,
    )
    if keep:
        distributed.on_main(write_outputs, result, run_dir, suffix=suffix or ".jsonl")
    else:
        distributed.barrier()  # the others are done with the folder before the main process removes it
        if temporary is not None:
            temporary.cleanup()
    return result


def decide(
    config: FilterConfig,
    before: dict[str, list[Any]],
    after: dict[str, list[Any]],
    canaries: dict[str, dict[str, list[Any]]] | None = None,
) -> Selection:
    """The examples ``config``'s deciding signal and cut remove, from every signal under M1 (``before``) and M2
    (``after``); ``canaries``: the canaries' signals by model (``"m1"``, ``"m2"``), used when the config has them."""
    signal = config.signal
    pair = (canaries["m1"][signal], canaries["m2"][signal]) if config.canaries and canaries else None
    return select(
        before[signal],
        after[signal],
        signal,
        phi=config.phi,
        fraction=config.fraction,
        count=config.count,
        method=config.threshold_method,
        rise=config.rise,
        canaries=pair,
        fpr=config.canary_fpr,
    )


def _claim(run_dir: Path, config: FilterConfig, print_: dict[str, Any]) -> None:
    """The run folder checked (or made) for this run, with its configuration written."""
    claim_run_dir(run_dir, print_)
    write_atomic(run_dir / "config.json", json.dumps(config.to_dict(), indent=2))
