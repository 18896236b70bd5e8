"""Payment methods: share of orders and revenue, AOV, weekly trend, by customer segment."""

from __future__ import annotations

from lakehouse.report import fmt, theme
from lakehouse.report.cards import Card, Chart, missing
from lakehouse.report.charts import figure, hover_money, money_axis
from lakehouse.report.data import Analytics

UNKNOWN = "unknown"


def only_unknown(a: Analytics) -> bool:
    return bool(a.payments) and all(r["payment_method"] == UNKNOWN for r in a.payments or [])


def colours(a: Analytics) -> dict[str, str]:
    """One fixed colour per method (by revenue), so every payment chart agrees."""
    methods = [r["payment_method"] for r in a.payments or []]
    return {
        p: (theme.GREY if p == UNKNOWN else theme.colour(i))
        for i, p in enumerate(x for x in methods)
    }


def payment_cards(a: Analytics, m: fmt.Money) -> list[Card]:
    if not a.payments:
        return [missing("payments", "Payment methods", "gold.payment_methods")]
    if only_unknown(a):
        orders = sum(int(r["orders"]) for r in a.payments)
        return [
            Card(
                "payments",
                "Payment methods are not in the data",
                note=f"The shop's order files carry no payment_method, so all "
                f"{fmt.number(orders)} orders count as 'unknown'. Send a payment_method column "
                "with the orders to see the split by method, its average order value, its weekly "
                "trend and its use by customer segment.",
            )
        ]
    return [share_card(a, m), aov_card(a, m), weekly_card(a), segment_card(a)]


def share_card(a: Analytics, m: fmt.Money) -> Card:
    rows = sorted(a.payments or [], key=lambda r: r["revenue"])
    names = [fmt.label(r["payment_method"]) for r in rows]
    traces = [
        {
            "type": "bar",
            "orientation": "h",
            "y": names,
            "x": [r[col] for r in rows],
            "name": label,
            "marker": {"color": colour},
            "hovertemplate": f"%{{y}}: %{{x:.1%}} of {label.lower()}<extra></extra>",
        }
        for col, label, colour in (
            ("order_share", "Orders", theme.SKY),
            ("revenue_share", "Revenue", theme.BLUE),
        )
    ]
    fig = figure(
        traces,
        {"barmode": "group", "xaxis": {"tickformat": ".0%"}, "bargap": 0.25},
        height=300,
    )
    top = rows[-1]
    return Card(
        "payments-share",
        f"{fmt.label(top['payment_method'])} brings {fmt.pct(top['revenue_share'])} of revenue",
        f"Share of orders and of revenue per payment method, all history; {len(rows)} methods.",
        Chart({"": fig}),
    )


def aov_card(a: Analytics, m: fmt.Money) -> Card:
    rows = sorted(a.payments or [], key=lambda r: r["aov"] or 0)
    c = colours(a)
    bar = {
        "type": "bar",
        "orientation": "h",
        "y": [fmt.label(r["payment_method"]) for r in rows],
        "x": [r["aov"] for r in rows],
        "marker": {"color": [c[r["payment_method"]] for r in rows]},
        "text": [m(r["aov"]) for r in rows],
        "textposition": "auto",
        "customdata": [[r["orders"]] for r in rows],
        "hovertemplate": f"%{{y}}: AOV {hover_money(m, 'x')} over %{{customdata[0]:,}} orders"
        "<extra></extra>",
    }
    fig = figure([bar], {"xaxis": money_axis(m), "showlegend": False}, height=300)
    top, low = rows[-1], rows[0]
    return Card(
        "payments-aov",
        f"{fmt.label(top['payment_method'])} orders are the largest (AOV {m(top['aov'])})",
        f"Average order value per payment method; lowest: {fmt.label(low['payment_method'])} "
        f"({m(low['aov'])}).",
        Chart({"": fig}),
    )


def weekly_card(a: Analytics) -> Card:
    rows = a.payments_weekly
    if not rows:
        return missing("payments-weekly", "Payment methods by week", "gold.payment_methods_weekly")
    c = colours(a)
    traces = []
    for method in c:
        mine = [r for r in rows if r["payment_method"] == method]
        if not mine:
            continue
        traces.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": fmt.label(method),
                "x": [r["week_start"] for r in mine],
                "y": [r["order_share"] for r in mine],
                "line": {"color": c[method], "width": 2},
                "marker": {"size": 5},
                "hovertemplate": "%{fullData.name} %{y:.1%}<extra></extra>",
            }
        )
    fig = figure(
        traces,
        {
            "hovermode": "x unified",
            "yaxis": {"tickformat": ".0%", "rangemode": "tozero"},
            "xaxis": {"type": "date"},
        },
        height=300,
    )
    top = next(iter(c))
    mine = [r for r in rows if r["payment_method"] == top]
    first, last = mine[0], mine[-1]
    verb = (
        "rose"
        if last["order_share"] > first["order_share"] + 0.005
        else ("fell" if last["order_share"] < first["order_share"] - 0.005 else "held")
    )
    title = (
        f"{fmt.label(top)}'s share of orders {verb} from {fmt.pct(first['order_share'])} to "
        f"{fmt.pct(last['order_share'])}"
        if verb != "held"
        else f"{fmt.label(top)} keeps about {fmt.pct(last['order_share'])} of orders week by week"
    )
    return Card(
        "payments-weekly",
        title,
        "Share of each week's orders per payment method.",
        Chart({"": fig}, date_axis=True),
        filters=("date",),
    )


def segment_card(a: Analytics) -> Card:
    rows = a.payments_by_segment
    if not rows:
        return missing(
            "payments-segment", "Payment methods by segment", "gold.payment_methods_by_segment"
        )
    order = [s["segment"] for s in a.segments or []] or sorted({r["segment"] for r in rows})
    order = [s for s in order if any(r["segment"] == s for r in rows)]
    c = colours(a)
    traces = []
    for method in c:
        share = {r["segment"]: r["order_share"] for r in rows if r["payment_method"] == method}
        traces.append(
            {
                "type": "bar",
                "orientation": "h",
                "name": fmt.label(method),
                "y": [fmt.label(s) for s in order],
                "x": [share.get(s, 0) for s in order],
                "marker": {"color": c[method]},
                "hovertemplate": "%{y}: %{fullData.name} %{x:.1%}<extra></extra>",
            }
        )
    fig = figure(
        traces,
        {
            "barmode": "stack",
            "xaxis": {"tickformat": ".0%", "range": [0, 1]},
            "yaxis": {"autorange": "reversed"},
        },
        height=300,
    )
    best = max(rows, key=lambda r: (r["segment"] == order[0], r["order_share"]))
    return Card(
        "payments-segment",
        f"{fmt.label(best['segment'])} pay by {fmt.label(best['payment_method']).lower()} most "
        f"often ({fmt.pct(best['order_share'])} of their orders)",
        "Share of each customer segment's orders per payment method.",
        Chart({"": fig}),
    )
