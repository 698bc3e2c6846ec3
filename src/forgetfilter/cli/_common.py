"""Shared CLI plumbing: user errors become one clear line and exit code 2, never a traceback."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from forgetfilter.errors import ForgetFilterError

F = TypeVar("F", bound=Callable[..., Any])
console = Console(stderr=True)

# The fixed cuts, the same flags on every command that decides removals (filter, recut).
PhiOption = Annotated[float | None, typer.Option(help="Fixed threshold: remove forgetting > phi.")]
FractionOption = Annotated[float | None, typer.Option(help="Removal budget as a fraction of the data.")]
CountOption = Annotated[int | None, typer.Option(help="Removal budget as a number of examples.")]


def user_errors(func: F) -> F:
    """Print a ForgetFilterError as ``error: ...`` and exit with status 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ForgetFilterError as exc:
            console.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True, soft_wrap=True)
            raise typer.Exit(code=2) from None

    return wrapper  # type: ignore[return-value]
