"""Guard a filter run folder: it resumes only the run that made it, and no output is written over an input.

``RUN/fingerprint.json`` records what the trained adapters depend on: the model, the LoRA and session settings,
the dtype, and the content of D_noisy and D_safe. A rerun into the same folder with another of any of these would
silently reuse adapters trained on something else, so it is refused. The threshold and the scoring signals may
change on a rerun (scores are recomputed or re-cut, nothing is retrained).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from forgetfilter.config import FilterConfig
from forgetfilter.errors import ConfigError
from forgetfilter.examples import Example
from forgetfilter.paths import sha256_file
from forgetfilter.training import SessionSettings

FINGERPRINT = "fingerprint.json"
OUTPUT_NAMES = ("config.json", "fingerprint.json", "scores.jsonl", "summary.json", "summary.md", "stages.json")


def examples_digest(examples: Sequence[Example]) -> str:
    """sha256 of the examples as the pipeline sees them (ids, prompts, responses, chat flag), in order."""
    digest = hashlib.sha256()
    for ex in examples:
        digest.update(json.dumps([ex.id, list(ex.messages), ex.response, ex.chat], ensure_ascii=False).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def fingerprint(config: FilterConfig, noisy: Sequence[Example], safe: Sequence[Example]) -> dict[str, Any]:
    values = config.to_dict()
    canaries = {"canaries": values["canaries"]} if values["canaries"] else {}  # they change S1's data
    return {
        **canaries,
        "model": values["model"],
        "dtype": values["dtype"],
        "lora": values["lora"],
        "s1": values["s1"],
        "s1_plus": values["s1_plus"],
        "d_noisy": {"n": len(noisy), "sha256": examples_digest(noisy)},
        "d_safe": {"n": len(safe), "sha256": examples_digest(safe)},
    }


def claim_run_dir(run_dir: Path, print_: dict[str, Any]) -> None:
    """Create ``run_dir`` for this run, or check that it holds this same run; else a ConfigError naming the
    first differences. Writes the fingerprint atomically the first time."""
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"--out {run_dir} is a file, not a folder")
    path = run_dir / FINGERPRINT
    if path.is_file():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            raise ConfigError(f"{path} is damaged; delete {run_dir} (or the file) and run again") from None
        changed = fingerprint_differences(old, print_)
        if changed:
            diffs = "; ".join(f"{key}: {_short(was)} -> {_short(now)}" for key, was, now in changed[:4])
            raise ConfigError(
                f"{run_dir} holds a run of other data or settings ({diffs}); "
                "use another --out, or delete that folder to start over"
            )
        return
    if run_dir.is_dir() and any(run_dir.iterdir()) and (run_dir / "stages.json").exists():
        raise ConfigError(f"{run_dir} holds a run without {FINGERPRINT} (an older version?); use another --out")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(print_, indent=2) + "\n")
    except OSError as exc:
        raise ConfigError(f"cannot write to --out {run_dir}: {exc.strerror or exc}") from None


def fingerprint_differences(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(dotted key, old value, new value) for every setting of fingerprint ``new`` that differs from ``old`` (as read
    back from a folder, settings added since filled in at the value that older version used)."""
    return _differences(_with_new_defaults(old), json.loads(json.dumps(new)))  # the JSON types of what was read


_DATA_KEYS = ("d_noisy", "d_safe")  # fingerprints of the data: compared whole, never key by key


def _differences(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(dotted key, old value, new value) for every setting that differs; a section's differing keys one by one."""
    found: list[tuple[str, Any, Any]] = []
    for key, now in new.items():
        was = old.get(key)
        if was == now:
            continue
        if isinstance(was, dict) and isinstance(now, dict) and key not in _DATA_KEYS:
            found += [(f"{key}.{k}", was.get(k), now.get(k)) for k in {**was, **now} if was.get(k) != now.get(k)]
        else:
            found.append((key, was, now))
    return found


def _with_new_defaults(old: dict[str, Any]) -> dict[str, Any]:
    """``old`` with settings added since it was written filled in at the values the older version used, so a folder
    from it still resumes when the new settings keep that value (the adapters it holds did not use them). S1 trained
    for steps before ``until`` existed, whatever S1's default is now."""
    defaults = json.loads(json.dumps(fingerprint(FilterConfig(s1=SessionSettings()), [], [])))
    filled = dict(old)
    for key, section in defaults.items():
        if isinstance(section, dict) and isinstance(old.get(key), dict) and key not in _DATA_KEYS:
            filled[key] = {**{k: v for k, v in section.items() if k not in old[key]}, **old[key]}
    return filled


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + "..."


def check_outputs_spare_inputs(run_dir: Path, inputs: Sequence[Path], suffix: str) -> None:
    """Refuse a run whose outputs (kept/removed files, scores, ...) would be written over one of its inputs."""
    outputs = {(run_dir / name).resolve() for name in (*OUTPUT_NAMES, f"kept{suffix}", f"removed{suffix}")}
    for path in inputs:
        if Path(path).resolve() in outputs:
            raise ConfigError(
                f"{path} is an input of this run and would be overwritten by its output; use another --out"
            )


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, flush it to disk, then rename it over ``path``."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def scores_marker(source: Path) -> dict[str, str]:
    """What names a finished run's decisions for a folder built from them (recut_from.json, reused_from.json): its
    resolved path and the sha256 of its scores.jsonl."""
    return {"source": str(Path(source).resolve()), "scores_sha256": sha256_file(Path(source) / "scores.jsonl")}
