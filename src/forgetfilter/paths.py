"""Where forgetfilter finds the shared datasets and keeps its caches."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from forgetfilter.errors import ConfigError

DATA_DIR_ENV = "FORGETFILTER_DATA_DIR"
CACHE_DIR_ENV = "FORGETFILTER_CACHE_DIR"


def default_data_dir() -> Path:
    """``$FORGETFILTER_DATA_DIR``, else ``../shared/datasets`` next to a checkout (or the working directory)."""
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env)
    checkout = Path(__file__).resolve().parents[2]
    for base in (checkout, Path.cwd()):
        candidate = base.parent / "shared" / "datasets"
        if candidate.is_dir():
            return candidate
    return checkout.parent / "shared" / "datasets"


def resolve_data_dir(data_dir: str | Path | None) -> Path:
    """The datasets folder to read; a clear error if it does not exist."""
    path = Path(data_dir) if data_dir is not None else default_data_dir()
    if not path.is_dir():
        raise ConfigError(
            f"datasets folder {path} does not exist; pass --data-dir or set ${DATA_DIR_ENV} "
            "to the folder holding bbq/, squad/, alpaca/, ..."
        )
    return path


def cache_dir() -> Path:
    """``$FORGETFILTER_CACHE_DIR``, else ``~/.cache/forgetfilter``."""
    env = os.environ.get(CACHE_DIR_ENV)
    path = Path(env) if env else Path.home() / ".cache" / "forgetfilter"
    path.mkdir(parents=True, exist_ok=True)
    return path


def sha256_file(path: Path) -> str:
    """The hex SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
