"""Write ``RUN/review.html``: the page's HTML, CSS and JavaScript with the run's data inlined (no network)."""

from __future__ import annotations

import base64
import gzip
import html
import json
from importlib.resources import files
from pathlib import Path

from forgetfilter.errors import ConfigError
from forgetfilter.review.payload import page_data
from forgetfilter.saved_run import read_run

PAGE = "review.html"


def render(data: dict) -> str:
    """The page for ``page_data``'s output: one HTML string with everything inlined. The data goes in gzip + base64
    (a 100k-row page is a third of the size and loads that much faster); the records apart, inflated on export."""
    assets = files("forgetfilter.review") / "assets"
    template = (assets / "review.html").read_text(encoding="utf-8")
    data = dict(data)
    records = "".join(line + "\n" for line in data.pop("record"))
    columns = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    page = template.replace("__TITLE__", html.escape(data["meta"]["run"]))
    page = page.replace("/*STYLE*/", (assets / "review.css").read_text(encoding="utf-8"))
    page = page.replace("/*SCRIPT*/", (assets / "review.js").read_text(encoding="utf-8"))
    return page.replace("__DATA__", packed(columns)).replace("__RECORDS__", packed(records))


def packed(text: str) -> str:
    """gzip (level 6, no timestamp: the same run gives the same page) and base64: text safe inside a script element."""
    return base64.b64encode(gzip.compress(text.encode("utf-8"), compresslevel=6, mtime=0)).decode("ascii")


def write_review(run_dir: str | Path, *, out: str | Path | None = None, data_format: str | None = None) -> Path:
    """Write the review page of the filter run in ``run_dir`` to ``out`` (default ``RUN/review.html``).

    ``data_format`` is that run's ``--format``, for input the reader does not detect on its own.
    """
    saved = read_run(run_dir, data_format=data_format)
    path = Path(out) if out is not None else saved.path / PAGE
    if path.resolve() in {p.resolve() for p in saved.sources}:
        raise ConfigError(f"{path} is a file of the run and would be overwritten; give another --out")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(render(page_data(saved)), encoding="utf-8")
    tmp.replace(path)
    return path
