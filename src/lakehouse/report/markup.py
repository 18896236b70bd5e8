"""Small HTML pieces shared by the pages: escaping, tables and status badges."""

from __future__ import annotations

import html
from typing import Any


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def table(head: list[str], rows: list[list[str]], cls: str = "grid") -> str:
    """An HTML table; cells are HTML already (escape text with `esc`)."""
    th = "".join(f"<th>{esc(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'


def badge(text: str, kind: str) -> str:
    """A status pill: kind ok | bad | warn | info (colour and a symbol, never colour alone)."""
    symbol = {"ok": "✓", "bad": "✗", "warn": "!", "info": "•"}[kind]
    return f'<span class="badge {kind}">{symbol} {esc(text)}</span>'


def status_badge(status: str | None) -> str:
    s = status or "UNKNOWN"
    return badge(s.lower(), {"SUCCEEDED": "ok", "FAILED": "bad", "RUNNING": "warn"}.get(s, "info"))
