"""Errors raised on bad user input. Each message names the file, the record and the problem."""

from __future__ import annotations

from pathlib import Path


class ForgetFilterError(Exception):
    """Base class: a problem the user can fix; the CLI prints the message without a traceback."""


class DataError(ForgetFilterError):
    """A data file or record is unusable."""

    def __init__(
        self, message: str, *, path: str | Path | None = None, line: int | None = None, record: str | int | None = None
    ) -> None:
        self.path = None if path is None else str(path)
        self.line = line
        self.record = record
        where = []
        if self.path is not None:
            where.append(self.path)
        if line is not None:
            where.append(f"line {line}")
        if record is not None:
            where.append(f"record {record}")
        self.reason = message
        super().__init__(f"{': '.join([', '.join(where)] if where else [])}{': ' if where else ''}{message}")


class ConfigError(ForgetFilterError):
    """An option or configuration value is invalid."""
