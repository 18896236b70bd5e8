"""Products page, catalog cards: coverage (never-sold products) and sales concentration."""

from __future__ import annotations

from lakehouse.report import fmt, theme
from lakehouse.report.cards import Card, Chart, missing
from lakehouse.report.charts import figure
from lakehouse.report.data import Analytics, pareto


def catalog_card(a: Analytics) -> Card:
    if not a.catalog:
        return missing("catalog", "Catalog coverage", "gold.catalog_summary")
    whole = next((r for r in a.catalog if r["level"] == "all"), None)
    depts = sorted(
        (r for r in a.catalog if r["level"] == "department"), key=lambda r: r["products"]
    )
    names = [r["department"] for r in depts]
    parts = (
        ("Active (sold in last 30 days)", [r["active_products"] for r in depts], theme.BLUE),
        ("Sold before", [r["sold_products"] - r["active_products"] for r in depts], theme.SKY),
        ("Never sold", [r["never_sold_products"] for r in depts], theme.ORANGE),
    )
    traces = [
        {
            "type": "bar",
            "orientation": "h",
            "name": label,
            "y": names,
            "x": values,
            "marker": {"color": colour},
            "hovertemplate": f"%{{y}}: %{{x:,}} {label.lower()}<extra></extra>",
        }
        for label, values, colour in parts
    ]
    fig = figure(traces, {"barmode": "stack", "bargap": 0.2}, height=max(260, 26 * len(depts) + 80))
    if whole is None:
        return Card("catalog", "Catalog coverage per department", chart=Chart({"": fig}))
    never, products = whole["never_sold_products"], whole["products"]
    if never == 0:
        return Card(
            "catalog",
            f"Every one of the {fmt.number(products)} products has sold at least once",
            f"Products per department by sales status; {fmt.pct(whole['active_share'])} of the "
            "catalog sold in the last 30 days.",
            Chart({"": fig}, height=max(260, 26 * len(depts) + 80)),
        )
    return Card(
        "catalog",
        f"{fmt.number(never)} of {fmt.number(products)} products "
        f"({fmt.pct(never / products if products else None)}) have never sold",
        f"Products per department by sales status; {fmt.pct(whole['active_share'])} of the "
        "catalog sold in the last 30 days.",
        Chart({"": fig}, height=max(260, 26 * len(depts) + 80)),
    )


def concentration_card(a: Analytics) -> Card:
    if a.product_units is None:
        return missing("concentration", "Sales concentration", "gold.product_performance")
    xs, ys, at80 = pareto(a.product_units)
    if not xs:
        return Card("concentration", "No units sold yet", note="No product has sold yet.")
    curve = {
        "type": "scatter",
        "mode": "lines",
        "x": xs,
        "y": ys,
        "name": "Products, best first",
        "line": {"color": theme.BLUE, "width": 3},
        "fill": "tozeroy",
        "fillcolor": "rgba(0,114,178,0.12)",
        "hovertemplate": "top %{x:.0%} of products make %{y:.0%} of units<extra></extra>",
    }
    even = {
        "type": "scatter",
        "mode": "lines",
        "x": [0, 1],
        "y": [0, 1],
        "name": "Even spread",
        "line": {"color": theme.MUTED, "dash": "dot", "width": 1.5},
        "hoverinfo": "skip",
    }
    shapes = []
    if at80 is not None:
        shapes = [
            {
                "type": "line",
                "x0": 0,
                "x1": at80,
                "y0": 0.8,
                "y1": 0.8,
                "line": {"color": theme.ORANGE, "dash": "dash", "width": 1.5},
            },
            {
                "type": "line",
                "x0": at80,
                "x1": at80,
                "y0": 0,
                "y1": 0.8,
                "line": {"color": theme.ORANGE, "dash": "dash", "width": 1.5},
            },
        ]
    fig = figure(
        [curve, even],
        {
            "xaxis": {
                "tickformat": ".0%",
                "title": {"text": "Share of products (best sellers first)"},
                "range": [0, 1],
            },
            "yaxis": {"tickformat": ".0%", "title": {"text": "Share of units"}, "range": [0, 1.02]},
            "shapes": shapes,
            "legend": {"x": 0.55, "y": 0.1, "yanchor": "bottom", "orientation": "v"},
        },
        height=300,
    )
    return Card(
        "concentration",
        f"80 % of units come from {fmt.pct(at80)} of products",
        f"Cumulative share of units over {fmt.number(len(a.product_units))} products, "
        "best sellers first (dotted: every product selling the same).",
        Chart({"": fig}),
    )
