"""Customers page: RFM segments, repeat purchase, weekly cohort retention."""

from __future__ import annotations

import html

from lakehouse.report import fmt, theme
from lakehouse.report.cards import Card, Chart, missing
from lakehouse.report.charts import figure
from lakehouse.report.data import Analytics, Rows

MAX_ORDERS = 10  # the distribution groups customers with more orders as "10+"


def segments_card(a: Analytics, m: fmt.Money) -> Card:
    rows = [r for r in a.segments or [] if r["customers"]]
    if not a.segments:
        return missing("segments", "Customer segments", "gold.segment_summary")
    if not rows:
        return Card("segments", "No customers yet", note="gold.segment_summary is empty.")
    names = [fmt.label(r["segment"]) for r in rows]
    traces = [
        {
            "type": "bar",
            "orientation": "h",
            "name": label,
            "y": names,
            "x": [r[col] or 0 for r in rows],
            "marker": {"color": colour},
            "hovertemplate": f"%{{y}}: %{{x:.1%}} of {label.lower()}<extra></extra>",
        }
        for col, label, colour in (
            ("customer_share", "Customers", theme.SKY),
            ("revenue_share", "Revenue", theme.BLUE),
        )
    ]
    fig = figure(
        traces,
        {
            "barmode": "group",
            "xaxis": {"tickformat": ".0%"},
            "yaxis": {"autorange": "reversed"},
            "bargap": 0.2,
        },
        height=320,
    )
    top = max(rows, key=lambda r: r["revenue_share"] or 0)
    table = _table(
        ["Segment", "Customers", "Revenue", "Avg recency", "Avg orders", "Avg spend"],
        [
            [
                fmt.label(r["segment"]),
                fmt.number(r["customers"]),
                m(r["revenue"]),
                f"{fmt.number(r['avg_recency_days'], 1)} d",
                fmt.number(r["avg_frequency"], 1),
                m(r["avg_monetary"]),
            ]
            for r in rows
        ],
    )
    return Card(
        "segments",
        f"{fmt.label(top['segment'])} are {fmt.pct(top['customer_share'])} of customers but "
        f"bring {fmt.pct(top['revenue_share'])} of revenue",
        "RFM segments (recency, frequency, monetary scores 1 to 5): share of customers and of "
        "revenue.",
        Chart({"": fig}, height=320),
        html=table,
        wide=True,
    )


def _table(head: list[str], rows: list[list[str]]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows
    )
    return f'<table class="grid num"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'


def repeat_card(a: Analytics) -> Card:
    rows = a.repeat
    if rows is None:
        return missing("repeat", "Repeat purchase", "gold.repeat_purchase")
    if not rows:
        return Card("repeat", "No customers yet", note="gold.repeat_purchase is empty.")
    counts: dict[int, int] = {}
    for r in rows:
        n = min(int(r["orders_per_customer"]), MAX_ORDERS)
        counts[n] = counts.get(n, 0) + int(r["customers"])
    total = sum(counts.values())
    xs = sorted(counts)
    labels = [f"{n}+" if n == MAX_ORDERS else str(n) for n in xs]
    bar = {
        "type": "bar",
        "x": labels,
        "y": [counts[n] for n in xs],
        "marker": {"color": [theme.SKY if n == 1 else theme.BLUE for n in xs]},
        "customdata": [counts[n] / total for n in xs],
        "text": [fmt.pct(counts[n] / total) for n in xs],
        "textposition": "outside",
        "cliponaxis": False,
        "hovertemplate": "%{x} orders: %{y:,} customers (%{customdata:.1%})<extra></extra>",
    }
    fig = figure(
        [bar],
        {
            "xaxis": {"type": "category", "title": {"text": "Orders per customer"}},
            "yaxis": {"title": {"text": "Customers"}, "tickformat": ",d"},
            "showlegend": False,
        },
        height=300,
    )
    rate = rows[0]["repeat_customer_rate"]
    return Card(
        "repeat",
        f"{fmt.pct(rate)} of customers ordered more than once",
        f"Customers by number of orders placed ({fmt.number(rows[0]['total_customers'])} "
        "customers, all history).",
        Chart({"": fig}),
    )


def week_one_retention(rows: Rows) -> float | None:
    """Retention one week after the first order, weighted by cohort size, over the cohorts that
    have had a week 1 (the newest cohort has not)."""
    newest = max((r["activity_week"] for r in rows), default=None)
    sizes = {r["cohort_week"]: r["cohort_size"] for r in rows}
    active = {r["cohort_week"]: r["active_customers"] for r in rows if r["week_offset"] == 1}
    eligible = [c for c in sizes if newest is not None and c < newest]
    people = sum(sizes[c] for c in eligible)
    return sum(active.get(c, 0) for c in eligible) / people if people else None


def cohort_card(a: Analytics) -> Card:
    rows = a.cohorts
    if rows is None:
        return missing("cohorts", "Cohort retention", "gold.cohort_retention", wide=True)
    if not rows:
        return Card("cohorts", "No cohorts yet", note="gold.cohort_retention is empty.")
    cohorts = sorted({r["cohort_week"] for r in rows if r["week_offset"] > 0})
    if not cohorts:
        return Card(
            "cohorts",
            "Cohorts have not had a second week yet",
            note="Every customer placed a first order in the newest week; retention shows "
            "from the week after.",
            wide=True,
        )
    offsets = list(range(1, max(r["week_offset"] for r in rows) + 1)) or [0]
    cell = {(r["cohort_week"], r["week_offset"]): r for r in rows}
    size = {r["cohort_week"]: r["cohort_size"] for r in rows}
    z = [[(cell.get((c, o)) or {}).get("retention_rate") for o in offsets] for c in cohorts]
    text = [[fmt.pct(v) if v is not None else "" for v in line] for line in z]
    trace = {
        "type": "heatmap",
        "z": z,
        "x": [f"+{o}" for o in offsets],
        "y": [f"{fmt.day(c)} ({fmt.number(size[c])})" for c in cohorts],
        "text": text,
        "texttemplate": "%{text}",
        "colorscale": theme.SEQUENTIAL,
        "zmin": 0,
        "xgap": 1,
        "ygap": 1,
        "hoverongaps": False,
        "colorbar": {"title": {"text": "Retained"}, "tickformat": ".0%", "thickness": 12},
        "hovertemplate": "cohort %{y}, week %{x}: %{z:.1%} ordered again<extra></extra>",
    }
    fig = figure(
        [trace],
        {
            "xaxis": {
                "title": {"text": "Weeks after the first order"},
                "showgrid": False,
                "type": "category",
            },
            "yaxis": {"autorange": "reversed", "showgrid": False, "type": "category"},
        },
        height=max(280, 28 * len(cohorts) + 90),
    )
    w1 = week_one_retention(rows)
    return Card(
        "cohorts",
        f"{fmt.pct(w1)} of new customers order again in the week after their first order"
        if w1 is not None
        else "Cohorts have not had a second week yet",
        "Weekly cohorts (by the week of the first order; size in brackets): share of the "
        "cohort that ordered in each later week.",
        Chart({"": fig}, height=max(280, 28 * len(cohorts) + 90)),
        wide=True,
    )
