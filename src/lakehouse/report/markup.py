"""Small HTML pieces shared by the pages: escaping, tables and status badges."""

from __future__ import annotations

import html
from typing import Any

# Inside <script> the HTML parser ends the element at `</script` and changes state at `<!--`
# and `<script`; JavaScript (before ES2019) ends a string at U+2028/2029. None of these can
# appear in JSON escaped this way, and JSON.parse reads back the exact text.
_SCRIPT_SAFE = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def script_json(text: str) -> str:
    """JSON text made safe to embed in a `<script type="application/json">` element."""
    return text.translate(_SCRIPT_SAFE)


def plot_text(value: str) -> str:
    """Text for plotly.js, which renders a subset of HTML (`<a href>`, `<b>`, `<br>`) in every
    label, tick, legend and hover: tags are escaped so plotly shows them literally (it decodes
    the entities back)."""
    return html.escape(value, quote=False)


def table(
    head: list[str], rows: list[list[str]], cls: str = "grid", keys: list[str] | None = None
) -> str:
    """An HTML table; cells are HTML already (escape text with `esc`). `keys` (text, one per
    row) become the rows' `data-key`, for the browser to find a row again."""
    th = "".join(f"<th>{esc(h)}</th>" for h in head)
    starts = ["<tr>"] * len(rows) if keys is None else [f'<tr data-key="{esc(k)}">' for k in keys]
    body = "".join(
        start + "".join(f"<td>{c}</td>" for c in r) + "</tr>"
        for start, r in zip(starts, rows, strict=True)
    )
    return f'<table class="{cls}"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'


def badge(text: str, kind: str) -> str:
    """A status pill: kind ok | bad | warn | info (colour and a symbol, never colour alone)."""
    symbol = {"ok": "✓", "bad": "✗", "warn": "!", "info": "•"}[kind]
    return f'<span class="badge {kind}">{symbol} {esc(text)}</span>'


def status_badge(status: str | None) -> str:
    s = status or "UNKNOWN"
    return badge(s.lower(), {"SUCCEEDED": "ok", "FAILED": "bad", "RUNNING": "warn"}.get(s, "info"))
