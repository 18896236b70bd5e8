"""HTML assembly: pages of cards, the filter bar, the embedded data and plotly.js, in one file.

The page works offline: CSS, JavaScript, plotly.js and every figure are inlined; no fonts or
scripts are fetched. The same HTML is what `lakehouse serve` answers, with `live` set so the
page polls `/api/state` and reloads when a new run has landed.
"""

from __future__ import annotations

import datetime as dt
import json
from functools import cache
from importlib import resources
from typing import Any

from lakehouse.report import fmt
from lakehouse.report.cards import ALL, Card, Page
from lakehouse.report.data import Analytics, Rows
from lakehouse.report.markup import esc, script_json

PAGES = (("sales", "Sales"), ("products", "Products"), ("customers", "Customers"))
FILTER_LABELS = {"date": "date range", "dept": "department", "grain": "period"}


@cache
def asset(name: str) -> str:
    return (resources.files("lakehouse.report") / "assets" / name).read_text(encoding="utf-8")


@cache
def plotly_js() -> str:
    from plotly.offline import get_plotlyjs  # type: ignore[import-untyped]

    text: str = get_plotlyjs()
    return text


def card_html(c: Card) -> str:
    chips = "".join(f'<span class="chip">{esc(FILTER_LABELS[f])}</span>' for f in c.filters)
    parts = [
        f'<article class="card{" wide" if c.wide else ""}" id="card-{esc(c.id)}" '
        f'data-card="{esc(c.id)}">',
        f'<header><h3 class="card-title">{esc(c.title)}</h3>',
        f'<p class="card-sub">{esc(c.subtitle)}</p>' if c.subtitle else "",
        f'<div class="chips" title="Filters that change this card">{chips}</div>' if chips else "",
        "</header>",
    ]
    if c.note:
        parts.append(f'<p class="note" role="note">{esc(c.note)}</p>')
    if c.chart is not None:
        parts.append(
            f'<div class="chart" id="chart-{esc(c.id)}" data-chart="{esc(c.id)}" role="img" '
            f'aria-label="{esc(c.title)}" style="min-height:{c.chart.height}px"></div>'
        )
    if c.html:
        parts.append(f'<div class="card-html">{c.html}</div>')
    parts.append("</article>")
    return "".join(parts)


def page_html(p: Page, active: bool) -> str:
    cards = "".join(card_html(c) for c in p.cards)
    return (
        f'<section class="page" id="page-{esc(p.id)}" data-page="{esc(p.id)}" '
        f'aria-label="{esc(p.title)}"{"" if active else " hidden"}>'
        f'{p.intro}<div class="cards">{cards}</div></section>'
    )


def kpi_tiles(a: Analytics, m: fmt.Money) -> str:
    """Sales tiles; the browser recomputes them for the chosen date range."""
    rows = a.daily or []
    orders = sum(int(r["orders"]) for r in rows)
    revenue = sum(float(r["revenue"]) for r in rows)
    items = sum(int(r["items"]) for r in rows)
    tiles = (
        ("revenue", "Revenue", m(revenue)),
        ("orders", "Orders", fmt.number(orders)),
        ("aov", "Average order value", m(revenue / orders) if orders else fmt.DASH),
        ("ipo", "Items per order", fmt.number(items / orders, 1) if orders else fmt.DASH),
        ("days", "Days with orders", fmt.number(len(rows))),
    )
    body = "".join(
        f'<div class="tile" data-kpi="{k}"><div class="tile-label">{esc(label)}</div>'
        f'<div class="tile-value">{esc(value)}</div><div class="tile-sub">all history</div></div>'
        for k, label, value in tiles
    )
    return f'<div class="tiles" id="kpis">{body}</div>'


def kpi_data(rows: Rows | None) -> list[list[Any]]:
    return [
        [r["period"].isoformat(), int(r["orders"]), float(r["revenue"]), int(r["items"])]
        for r in rows or []
    ]


def filter_bar(a: Analytics, span: tuple[dt.date, dt.date] | None) -> str:
    lo, hi = (span[0].isoformat(), span[1].isoformat()) if span else ("", "")
    options = f'<option value="{ALL}">All departments</option>' + "".join(
        f'<option value="{esc(d)}">{esc(d)}</option>' for d in a.departments
    )
    grains = "".join(
        f'<button type="button" data-grain="{g}" aria-pressed="false">{label}</button>'
        for g, label in (("day", "Day"), ("week", "Week"), ("month", "Month"))
    )
    date = f'type="date" min="{lo}" max="{hi}"'
    return (
        '<form class="filters" id="filters" onsubmit="return false">'
        f'<label data-filter="date">From <input id="f-from" {date} value="{lo}"></label>'
        f'<label data-filter="date">To <input id="f-to" {date} value="{hi}"></label>'
        f'<label data-filter="dept">Department <select id="f-dept">{options}</select></label>'
        '<span class="grain" role="group" aria-label="Period" data-filter="grain">'
        f"Period {grains}</span>"
        '<button type="button" id="f-reset" class="reset">Reset filters</button>'
        '<span class="filter-hint">Cards marked with a filter name follow it.</span>'
        "</form>"
    )


def render(
    pages: list[Page],
    payload: dict[str, Any],
    *,
    header_meta: str,
    filters: str,
) -> str:
    """The whole HTML document."""
    from plotly.utils import PlotlyJSONEncoder  # type: ignore[import-untyped]

    data = script_json(json.dumps(payload, cls=PlotlyJSONEncoder, separators=(",", ":")))
    tabs = "".join(
        f'<a href="#{esc(p.id)}" role="tab" data-tab="{esc(p.id)}" '
        f'aria-selected="{"true" if i == 0 else "false"}">{esc(p.title)}</a>'
        for i, p in enumerate(pages)
    )
    sections = "".join(page_html(p, i == 0) for i, p in enumerate(pages))
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<title>Lakehouse dashboard</title><link rel="icon" href="data:,">'
        f"<style>{asset('dashboard.css')}</style>"
        f'<script type="text/javascript">{plotly_js()}</script></head><body>'
        '<div class="bar"><header class="top"><div class="brand"><h1>Lakehouse dashboard</h1>'
        f'<p class="meta">{header_meta}</p></div>'
        f'<nav class="tabs" role="tablist" aria-label="Pages">{tabs}</nav>'
        '<span id="live" class="live" hidden>live</span></header>'
        f"{filters}</div><main>{sections}</main>"
        "<footer>Built from gold.* and _ops.* tables by <code>lakehouse report</code>. "
        "Colours are colour-blind safe (Okabe and Ito); amounts are as charged; times are UTC."
        "</footer>"
        f'<script type="application/json" id="lakehouse-data">{data}</script>'
        f"<script>{asset('dashboard.js')}</script></body></html>"
    )
