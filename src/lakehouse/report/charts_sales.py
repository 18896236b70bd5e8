"""Sales page: trends with period-over-period change, order values, hour x weekday, payments."""

from __future__ import annotations

import html
from typing import Any

from lakehouse.report import fmt, theme
from lakehouse.report.cards import Card, Chart, missing
from lakehouse.report.charts import (
    date_axis,
    figure,
    grain_rows,
    hover_money,
    key,
    money_axis,
    partial,
)
from lakehouse.report.data import Analytics, Rows, latest_complete

PERIOD_NAME = {"day": "Day", "week": "Week of", "month": "Month of"}


def trend_title(rows: Rows, grain: str, m: fmt.Money) -> tuple[str, str]:
    """('Revenue grew 12 % week over week', 'Week of 19 May 2025: $61,115 vs $57,356 · …')."""
    row = latest_complete(rows, grain)
    if row is None:
        return "No sales yet", ""
    title = fmt.change_phrase("Revenue", row.get("revenue_change_rate"), grain)
    when = f"{PERIOD_NAME[grain]} {fmt.day(row['period'])}"
    if grain == "month":
        when = f"{row['period']:%B %Y}"
    parts = [f"{when}: {m(row['revenue'])}"]
    if row.get("prev_revenue") is not None:
        parts[0] += f" vs {m(row['prev_revenue'])} the {grain} before"
        parts.append(f"orders {fmt.signed_pct(row.get('orders_change_rate'))}")
        prev_aov = row["prev_revenue"] / row["prev_orders"] if row.get("prev_orders") else None
        if prev_aov:
            parts.append(f"AOV {fmt.signed_pct(row['aov'] / prev_aov - 1)}")
    return title, " · ".join(parts)


def trend_card(a: Analytics, m: fmt.Money) -> Card:
    by_grain = grain_rows(a)
    if not by_grain:
        return missing("sales-trend", "Sales trend", "gold.sales_daily", wide=True)
    variants, titles, subtitles = {}, {}, {}
    for grain, rows in by_grain.items():
        x = [r["period"] for r in rows]
        custom = [
            [r["orders"], r["aov"], r["customers"], fmt.signed_pct(r["revenue_change_rate"])]
            for r in rows
        ]
        cut = partial(rows, grain)
        bars = {
            "type": "bar",
            "x": x,
            "y": [r["revenue"] for r in rows],
            "name": "Revenue",
            "marker": {"color": theme.BLUE, "opacity": [0.45 if c else 1.0 for c in cut]},
            "customdata": custom,
            "hovertemplate": f"Revenue {hover_money(m, 'y')} (%{{customdata[3]}})<br>"
            f"Orders %{{customdata[0]:,}} · AOV {hover_money(m, 'customdata[1]')}<br>"
            "Customers %{customdata[2]:,}<extra></extra>",
        }
        line = {
            "type": "scatter",
            "mode": "lines+markers",
            "x": x,
            "y": [r["orders"] for r in rows],
            "name": "Orders",
            "yaxis": "y2",
            "line": {"color": theme.ORANGE, "width": 2.5},
            "marker": {"size": 5},
            "hovertemplate": "Orders %{y:,}<extra></extra>",
        }
        k = key(grain=grain)
        variants[k] = figure(
            [bars, line],
            {
                "hovermode": "x unified",
                "yaxis": {**money_axis(m), "title": {"text": "Revenue"}, "rangemode": "tozero"},
                "yaxis2": {
                    "overlaying": "y",
                    "side": "right",
                    "showgrid": False,
                    "rangemode": "tozero",
                    "title": {"text": "Orders"},
                    "tickformat": ",.0f",
                    "tickmode": "sync",
                    "automargin": True,
                },
                "xaxis": date_axis(grain, x[0]),
                "bargap": 0.25,
            },
            height=320,
        )
        titles[k], subtitles[k] = trend_title(rows, grain, m)
        if cut[-1]:
            subtitles[k] += f" · the newest {grain} is still partial (lighter bar)"
    return Card(
        "sales-trend",
        next(iter(titles.values())),
        next(iter(subtitles.values())),
        Chart(variants, ("grain",), date_axis=True, titles=titles, subtitles=subtitles),
        wide=True,
        filters=("date", "grain"),
    )


def change_card(a: Analytics, m: fmt.Money) -> Card:
    by_grain = grain_rows(a)
    if not by_grain:
        return missing("sales-change", "Period-over-period change", "gold.sales_daily")
    variants, titles = {}, {}
    for grain, rows in by_grain.items():
        compared = [r for r in rows if r.get("revenue_change_rate") is not None]
        rates = [r["revenue_change_rate"] for r in compared]
        bar = {
            "type": "bar",
            "x": [r["period"] for r in compared],
            "y": rates,
            "marker": {"color": [theme.UP if v >= 0 else theme.DOWN for v in rates]},
            "customdata": [[m(r["revenue"]), m(r["prev_revenue"])] for r in compared],
            "hovertemplate": "Revenue %{y:+.1%}<br>%{customdata[0]} vs %{customdata[1]}"
            "<extra></extra>",
            "name": "Revenue change",
        }
        k = key(grain=grain)
        variants[k] = figure(
            [bar],
            {
                "yaxis": {"tickformat": "+.0%", "zeroline": True, "zerolinecolor": theme.MUTED},
                "xaxis": date_axis(grain, rows[0]["period"]),
                "showlegend": False,
            },
            height=260,
        )
        ups = sum(1 for v in rates if v > 0)
        unit = fmt.GRAIN_PLURAL.get(grain, grain)
        titles[k] = (
            f"Revenue rose in {ups} of {len(rates)} {unit} against the {grain} before"
            if rates
            else f"Not enough {unit} to compare yet"
        )
    return Card(
        "sales-change",
        next(iter(titles.values())),
        "Change in revenue against the previous period (blue: up, orange: down).",
        Chart(variants, ("grain",), date_axis=True, titles=titles),
        filters=("date", "grain"),
    )


def order_value_card(a: Analytics, m: fmt.Money) -> Card:
    rows = a.order_values
    if not rows:
        return missing("order-values", "Order values", "gold.order_value_distribution")
    last = max((i for i, r in enumerate(rows) if r["orders"]), default=len(rows) - 1)
    shown = rows[: last + 1]
    p = rows[0]
    median = p.get("p50")

    def bucket_label(r: dict[str, Any]) -> str:
        lo = fmt.money(r["lower_bound"], m.prefix, cents=False)
        if r["upper_bound"] is None:
            return f"{lo}+"
        return f"{lo}{fmt.DASH}{fmt.money(r['upper_bound'], m.prefix, cents=False)}"

    labels = [bucket_label(r) for r in shown]
    holds_median = [
        median is not None
        and r["lower_bound"] <= median
        and (r["upper_bound"] is None or median < r["upper_bound"])
        for r in shown
    ]
    bar = {
        "type": "bar",
        "x": labels,
        "y": [r["order_share"] for r in shown],
        "marker": {"color": [theme.ORANGE if h else theme.BLUE for h in holds_median]},
        "customdata": [[r["orders"], m(r["revenue"])] for r in shown],
        "hovertemplate": "%{x}: %{y:.1%} of orders (%{customdata[0]:,})<br>"
        "revenue %{customdata[1]}<extra></extra>",
    }
    fig = figure(
        [bar],
        {
            "yaxis": {"tickformat": ".0%", "title": {"text": "Share of orders"}},
            "xaxis": {"tickangle": -35},
            "showlegend": False,
            "bargap": 0.08,
        },
        height=300,
    )
    strip = " ".join(
        f'<span class="stat"><b>{name}</b> {html.escape(m(p.get(col)))}</span>'
        for name, col in (
            ("p10", "p10"),
            ("p25", "p25"),
            ("median", "p50"),
            ("p75", "p75"),
            ("p90", "p90"),
            ("p99", "p99"),
        )
    )
    title = (
        f"Half of orders are under {m(median)}; 9 in 10 under {m(p.get('p90'))}"
        if median is not None
        else "No orders yet"
    )
    return Card(
        "order-values",
        title,
        "Share of orders by order value (orange: the bucket holding the median), all history.",
        Chart({"": fig}),
        html=f'<div class="stats">{strip}</div>',
    )


def heatmap_card(a: Analytics, m: fmt.Money) -> Card:
    rows = a.heatmap
    if not rows:
        return missing("order-heatmap", "Orders by hour and weekday", "gold.order_time_heatmap")
    grid = {(int(r["day_of_week"]), int(r["hour"])): r for r in rows}
    days = list(range(1, 8))
    z = [[grid.get((d, h), {}).get("orders") or 0 for h in range(24)] for d in days]
    custom = [[[m(grid.get((d, h), {}).get("revenue") or 0)] for h in range(24)] for d in days]
    trace = {
        "type": "heatmap",
        "z": z,
        "x": [f"{h:02d}:00" for h in range(24)],
        "y": [fmt.weekday(d) for d in days],
        "colorscale": theme.SEQUENTIAL,
        "customdata": custom,
        "xgap": 1,
        "ygap": 1,
        "colorbar": {"title": {"text": "Orders"}, "thickness": 12},
        "hovertemplate": "%{y} %{x}: %{z:,} orders, %{customdata[0]}<extra></extra>",
    }
    fig = figure(
        [trace],
        {
            "yaxis": {"autorange": "reversed", "showgrid": False},
            "xaxis": {"showgrid": False, "dtick": 2},
        },
        height=300,
    )
    total = sum(sum(r) for r in z)
    if not total:
        return Card("order-heatmap", "No orders yet", chart=Chart({"": fig}))
    peak_d, peak_h = max(((d, h) for d in days for h in range(24)), key=lambda c: z[c[0] - 1][c[1]])
    by_day = [sum(r) for r in z]
    busiest = by_day.index(max(by_day)) + 1
    hours = f"{peak_h:02d}:00{fmt.DASH}{(peak_h + 1) % 24:02d}:00"
    title = f"Orders peak on {fmt.weekday(peak_d)}s at {hours} UTC"
    sub = (
        f"Orders per weekday and hour (UTC), all history. Busiest day: {fmt.weekday(busiest)} "
        f"({fmt.pct(max(by_day) / total)} of orders)."
    )
    return Card("order-heatmap", title, sub, Chart({"": fig}))
