"""Decide a finished filter run again from its saved scores: another deciding signal or cut, no model, nothing
trained.

``forgetfilter filter`` re-decides a folder only while it still holds the S1 and S1+ adapters (otherwise it trains
S1 again); kept records and copies without weights hold only the scores. :func:`recut_run` reads such a folder
(:func:`forgetfilter.saved_run.read_run`), applies the new decision settings to the saved per-signal scores under
M1 and M2, and writes a new folder with the same files a filter run writes (scores, kept/removed in the input's
schema, summary, report, histogram), the source's fingerprint and stage records, its config with the new decision
settings, and ``recut_from.json``. ``forgetfilter review``, ``apply`` and an experiment's ``filter_from`` accept it.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

from forgetfilter.api import decide
from forgetfilter.config import CUT_KEYS, FilterConfig
from forgetfilter.errors import ConfigError, DataError
from forgetfilter.result import ForgetFilterResult, write_outputs
from forgetfilter.run_dir import FINGERPRINT, check_outputs_spare_inputs, scores_marker, write_atomic

RECUT_FROM = "recut_from.json"
# The settings that decide removals from saved scores. token_selection is not among them: it changes the scores.
RECUT_KEYS = ("signal", *CUT_KEYS, "threshold_method", "rise", "canary_fpr")
# Copied unchanged from the source when present (write_outputs writes the rest).
CARRIED = ("probes.json", "stages.json", "scores_m0.json", "scores_m1.json", "scores_m2.json", "curves.jsonl")


def recut_run(
    run_dir: str | Path,
    out_dir: str | Path,
    *,
    data: str | Path | None = None,
    data_format: str | None = None,
    **settings: Any,
) -> ForgetFilterResult:
    """The run in ``run_dir`` decided again with ``settings`` (keys of :data:`RECUT_KEYS`; the others keep the
    run's values; a ``phi``/``fraction``/``count`` or a ``threshold_method`` replaces the run's cut of any kind),
    written to ``out_dir``.
    ``data``: the run's input file, for a folder kept without its kept/removed files (checked to be the data the
    run scored).

    Never writes into ``run_dir``, and into an existing ``out_dir`` only when an earlier recut of the same run wrote
    it. Raises ConfigError for unknown or impossible settings and DataError for a folder that is not a finished
    run, both before anything is written.

    >>> result = recut_run("runs/harm", "runs/harm-robust", threshold_method="robust_otsu")  # doctest: +SKIP
    """
    from forgetfilter.saved_run import read_run

    source, out = Path(run_dir), Path(out_dir)
    unknown = sorted(set(settings) - set(RECUT_KEYS))
    if unknown:
        raise ConfigError(
            f"recut cannot change {', '.join(unknown)} (saved scores hold one run's training and token selection); "
            f"it changes {', '.join(RECUT_KEYS)}"
        )
    config = _recorded_config(source)
    given = dict(settings)
    if settings.get("threshold_method") == "canary" and not config.canaries:
        raise ConfigError(f"threshold_method canary needs the run's canaries; {source} ran without (canaries=K)")
    if set(CUT_KEYS) & settings.keys() or "threshold_method" in settings:  # the new cut replaces the run's
        settings = {**dict.fromkeys(CUT_KEYS), **settings}
    try:
        config = dataclasses.replace(config, **settings)
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc)) from None
    config.check_cut()
    saved = read_run(source, data_format=data_format, data=data)
    marker = scores_marker(source)
    _check_out(source, out, marker)
    check_outputs_spare_inputs(out, saved.sources, saved.suffix)
    result = saved.result
    if config.signal not in result.before:
        saved_signals = ", ".join(s for s in result.before if s != "generations")
        raise DataError(
            f"the run saved no {config.signal} scores (it has {saved_signals})", path=source / "scores.jsonl"
        )
    if config.threshold_method == "canary" and not config.fixed_cuts() and not result.canaries:
        raise DataError("the run's config names canaries but no scores_m1/m2.json holds them", path=source)
    chosen = decide(config, result.before, result.after, result.canaries)
    recut = dataclasses.replace(result, signal=config.signal, threshold=chosen.threshold, mask=chosen.mask)
    out.mkdir(parents=True, exist_ok=True)
    for name in (FINGERPRINT, *CARRIED):
        if (source / name).is_file():
            shutil.copyfile(source / name, out / name)
    write_atomic(out / "config.json", json.dumps(config.to_dict(), indent=2))
    write_outputs(recut, out, suffix=saved.suffix)
    write_atomic(out / RECUT_FROM, json.dumps({**marker, "settings": given}, indent=2) + "\n")
    return recut


def _recorded_config(source: Path) -> FilterConfig:
    """The FilterConfig the run recorded in ``config.json``; a DataError naming it when missing or unreadable."""
    path = source / "config.json"
    if not path.is_file():
        raise DataError("no config.json: not a finished `forgetfilter filter` run", path=source)
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise DataError(f"malformed JSON: {exc}", path=path) from None
    try:
        return FilterConfig.from_dict(values)
    except ConfigError as exc:
        raise DataError(f"not a filter configuration this version reads: {exc}", path=path) from None


def _check_out(source: Path, out: Path, marker: dict[str, str]) -> None:
    """Refuse an ``out`` that is the run itself, a file, or a folder holding anything but an earlier recut of it."""
    if out.resolve() == source.resolve():
        raise ConfigError(f"--out {out} is the run being re-decided; give a new folder (the run is never written over)")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file, not a folder")
    if out.is_dir() and any(out.iterdir()):
        earlier = out / RECUT_FROM
        same = False
        if earlier.is_file():
            try:
                recorded = json.loads(earlier.read_text(encoding="utf-8"))
                same = {k: recorded.get(k) for k in marker} == marker
            except ValueError:
                same = False
        if not same:
            raise ConfigError(f"--out {out} holds other files (not a recut of {source}); give a new or empty folder")
