"""The dashboard: gold analytics and pipeline health as one self-contained HTML page.

`build(root)` reads the lakehouse (`data`, `ops_data`), turns it into pages of cards with plotly
figures (`charts_*`, `ops_page`) and assembles one HTML document (`page`) with plotly.js
inlined; `write(root, out)` saves it; `server.serve(root)` answers the same page live on
127.0.0.1, read-only, reloading in the browser when a new run lands (`state`).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from lakehouse.errors import TerminalError
from lakehouse.store.root import Root

REFRESH_SECONDS = 5.0  # how often a live page asks whether the tables changed
MAX_AGE_SECONDS = 300.0  # a live page also reloads after this long (freshness moves on)


def build(
    root: Root | str,
    *,
    live: bool = False,
    now: dt.datetime | None = None,
    refresh_seconds: float = REFRESH_SECONDS,
) -> str:
    """The dashboard of `root` as one HTML document; `live` pages poll `/api/state` every
    `refresh_seconds` and reload when the tables changed."""
    from lakehouse.report.assemble import assemble

    return assemble(
        root if isinstance(root, Root) else Root(root),
        live=live,
        now=now,
        refresh_seconds=refresh_seconds,
    )


def write(root: Root | str, out: str | Path, *, now: dt.datetime | None = None) -> Path:
    """Write the self-contained dashboard of `root` to `out`; returns the path written."""
    path = Path(out)
    if path.is_dir():  # the page went to `<folder>.tmp`, left behind by the failed rename
        raise TerminalError(
            f"{path} is a folder: give the page a file name, e.g. {path}/report.html"
        )
    text = build(root, now=now)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    try:
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
