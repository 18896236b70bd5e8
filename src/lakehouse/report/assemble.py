"""From a root to the finished page: read, chart, lay out, render."""

from __future__ import annotations

import datetime as dt
from typing import Any

from lakehouse.report import MAX_AGE_SECONDS, REFRESH_SECONDS, fmt
from lakehouse.report.cards import ALL, Card, Page
from lakehouse.report.charts_basket import department_pairs_card, pairs_card, upsell_card
from lakehouse.report.charts_catalog import catalog_card, concentration_card
from lakehouse.report.charts_customers import cohort_card, repeat_card, segments_card
from lakehouse.report.charts_payments import payment_cards
from lakehouse.report.charts_products import (
    department_trend_card,
    departments_card,
    reorder_card,
    top_products_card,
)
from lakehouse.report.charts_sales import (
    change_card,
    heatmap_card,
    order_value_card,
    trend_card,
)
from lakehouse.report.data import Analytics, Source, analytics, date_span
from lakehouse.report.live import fingerprint, table_versions
from lakehouse.report.markup import esc
from lakehouse.report.ops_data import Operations, operations
from lakehouse.report.ops_page import ops_page
from lakehouse.report.page import filter_bar, kpi_data, kpi_tiles, render
from lakehouse.store.root import Root


def analytics_pages(a: Analytics, m: fmt.Money) -> list[Page]:
    sales = [
        trend_card(a, m),
        change_card(a, m),
        order_value_card(a, m),
        heatmap_card(a, m),
        *payment_cards(a, m),
    ]
    products = [
        department_trend_card(a, m),
        departments_card(a, m),
        top_products_card(a, m),
        reorder_card(a),
        catalog_card(a),
        concentration_card(a),
        department_pairs_card(a),
        pairs_card(a),
    ]
    customers = [
        segments_card(a, m),
        repeat_card(a),
        upsell_card(a, m),
        cohort_card(a),
    ]
    if a.empty:  # one clear note per page instead of a wall of "no data yet" cards

        def note(page: str) -> list[Card]:
            return [
                Card(
                    f"no-gold-{page}",
                    "No analytics yet",
                    note="This root has no gold tables yet. Load shop files with `lakehouse run "
                    "--source DIR`; the run writes gold.* and this page fills in. The Operations "
                    "page already shows the runs, quarantine and tables.",
                    wide=True,
                )
            ]

        return [
            Page("sales", "Sales", note("sales")),
            Page("products", "Products", note("products")),
            Page("customers", "Customers", note("customers")),
        ]
    return [
        Page("sales", "Sales", sales, intro=kpi_tiles(a, m), filters=("date", "grain")),
        Page("products", "Products", products, filters=("date", "grain", "dept")),
        Page("customers", "Customers", customers, filters=("dept",)),
    ]


def default_grain(a: Analytics) -> str:
    if a.weekly and len(a.weekly) >= 4:
        return "week"
    return "day" if a.daily else "week"


def header(root: Root, a: Analytics, o: Operations, now: dt.datetime) -> str:
    span = date_span(a)
    parts = [f"<code>{esc(root.uri)}</code>"]
    if span:
        parts.append(f"orders {esc(fmt.day(span[0]))} to {esc(fmt.day(span[1]))}")
    if o.runs:
        r = o.runs[0]
        parts.append(f"last run {esc(r['status'].lower())} {esc(fmt.ago(r['started_at'], now))}")
    parts.append(f'built <span id="built">{esc(fmt.moment(now))}</span>')
    return " · ".join(parts)


def assemble(
    root: Root,
    *,
    live: bool = False,
    now: dt.datetime | None = None,
    refresh_seconds: float = REFRESH_SECONDS,
) -> str:
    moment = now or dt.datetime.now(dt.UTC)
    versions = table_versions(root)  # before reading: a run landing meanwhile shows next time
    src = Source(root)
    try:
        a = analytics(src)
        o = operations(src, moment)
    finally:
        src.close()
    m = fmt.Money(a.currency)
    pages = [*analytics_pages(a, m), ops_page(o)]
    charts = {c.id: c.chart.spec() for p in pages for c in p.cards if c.chart is not None}
    payload: dict[str, Any] = {
        "charts": charts,
        "pages": {p.id: {"filters": list(p.filters)} for p in pages},
        "defaults": {"grain": default_grain(a), "dept": ALL},
        "kpi": {"daily": kpi_data(a.daily), "prefix": m.prefix},
        "fingerprint": fingerprint(versions),
        "live": live,
        "refreshSeconds": refresh_seconds,
        "maxAgeSeconds": MAX_AGE_SECONDS,
    }
    return render(
        pages,
        payload,
        header_meta=header(root, a, o, moment),
        filters=filter_bar(a, date_span(a)),
    )
