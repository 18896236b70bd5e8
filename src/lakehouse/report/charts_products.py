"""Products page: department sales, top products, reorder rates (catalog: `charts_catalog`)."""

from __future__ import annotations

from typing import Any

from lakehouse.report import fmt, theme
from lakehouse.report.cards import ALL, Card, Chart, missing
from lakehouse.report.charts import (
    GRAIN_ADJ,
    dept_keys,
    dept_label,
    figure,
    hover_money,
    key,
    money_axis,
    truncate,
)
from lakehouse.report.data import Analytics, Row

STACKED = 7  # departments drawn on their own in the trend; the rest are "Other"


def department_totals(a: Analytics) -> list[Row]:
    """Revenue, units and orders per department over all history, highest revenue first."""
    totals: dict[str, Row] = {}
    for r in (a.department_sales or {}).get("day", []):
        t = totals.setdefault(
            r["department"],
            {"department": r["department"], "revenue": 0.0, "units": 0, "orders": 0},
        )
        t["revenue"] += r["revenue"] or 0.0
        t["units"] += r["units"] or 0
        t["orders"] += r["orders"] or 0
    return sorted(totals.values(), key=lambda t: -t["revenue"])


def departments_card(a: Analytics, m: fmt.Money) -> Card:
    totals = department_totals(a)
    if not totals:
        return missing("departments", "Department sales", "gold.department_sales")
    whole = sum(t["revenue"] for t in totals) or 1.0
    rows = list(reversed(totals))  # plotly draws horizontal bars bottom-up
    variants = {}
    for dept in dept_keys(a):
        bar = {
            "type": "bar",
            "orientation": "h",
            "y": [t["department"] for t in rows],
            "x": [t["revenue"] for t in rows],
            "marker": {
                "color": [
                    theme.BLUE if dept in (ALL, t["department"]) else theme.GREY for t in rows
                ]
            },
            "text": [
                f"{m(t['revenue'], cents=False)} · {fmt.pct(t['revenue'] / whole)}" for t in rows
            ],
            "textposition": "auto",
            "cliponaxis": False,
            "customdata": [[t["units"], t["orders"]] for t in rows],
            "hovertemplate": f"%{{y}}: {hover_money(m, 'x')}<br>%{{customdata[0]:,}} units · "
            "%{customdata[1]:,} orders<extra></extra>",
        }
        variants[key(dept=dept)] = figure(
            [bar],
            {"xaxis": money_axis(m), "showlegend": False, "bargap": 0.2},
            height=max(260, 26 * len(rows) + 60),
        )
    top = totals[0]
    return Card(
        "departments",
        f"{top['department']} leads with {fmt.pct(top['revenue'] / whole)} of revenue",
        f"Line revenue per department, all history; {len(totals)} departments.",
        Chart(variants, ("dept",), height=max(260, 26 * len(rows) + 60)),
        filters=("dept",),
    )


def department_trend_card(a: Analytics, m: fmt.Money) -> Card:
    sales = a.department_sales
    if not sales or not sales.get("day"):
        return missing("department-trend", "Department sales by period", "gold.department_sales")
    ranked = [t["department"] for t in department_totals(a)]
    own = ranked[:STACKED]
    variants, titles = {}, {}
    for grain, rows in sales.items():
        periods = sorted({r["period"] for r in rows})
        for dept in dept_keys(a):
            groups = own if dept == ALL else [dept]
            traces = []
            for i, d in enumerate(groups):
                values = {r["period"]: r["revenue"] for r in rows if r["department"] == d}
                traces.append(_stack(d, periods, values, theme.colour(i), m))
            if dept == ALL and len(ranked) > STACKED:
                other: dict[Any, float] = {}
                for r in rows:
                    if r["department"] not in own:
                        other[r["period"]] = other.get(r["period"], 0.0) + (r["revenue"] or 0.0)
                traces.append(_stack("Other", periods, other, theme.GREY, m))
            k = key(grain=grain, dept=dept)
            variants[k] = figure(
                traces,
                {
                    "barmode": "stack",
                    "hovermode": "x unified",
                    "xaxis": {"type": "date"},
                    "yaxis": {**money_axis(m), "title": {"text": "Revenue"}},
                    "bargap": 0.2,
                },
                height=320,
            )
            titles[k] = f"{GRAIN_ADJ[grain]} revenue of {dept_label(dept)}"
    return Card(
        "department-trend",
        next(iter(titles.values())),
        f"Line revenue per period, stacked by department (top {STACKED}; the rest as Other).",
        Chart(variants, ("grain", "dept"), date_axis=True, titles=titles),
        wide=True,
        filters=("date", "grain", "dept"),
    )


def _stack(
    name: str, periods: list[Any], values: dict[Any, float], colour: str, m: fmt.Money
) -> dict[str, Any]:
    return {
        "type": "bar",
        "name": name,
        "x": periods,
        "y": [values.get(p, 0.0) for p in periods],
        "marker": {"color": colour},
        "hovertemplate": f"%{{fullData.name}} {hover_money(m, 'y')}<extra></extra>",
    }


def top_products_card(a: Analytics, m: fmt.Money, top: int = 12) -> Card:
    if a.products is None:
        return missing("top-products", "Top products", "gold.product_performance")
    variants, titles = {}, {}
    for dept in dept_keys(a):
        if dept == ALL:
            chosen = sorted(a.products, key=lambda r: r["revenue_rank"])[:top]
        else:
            mine = [r for r in a.products if r["department"] == dept]
            chosen = sorted(mine, key=lambda r: r["department_revenue_rank"])[:top]
        if not chosen:
            continue
        rows = list(reversed(chosen))
        bar = {
            "type": "bar",
            "orientation": "h",
            "y": [f"{truncate(r['product_name'])} ({r['product_id']})" for r in rows],
            "x": [r["revenue"] for r in rows],
            "marker": {"color": theme.BLUE},
            "text": [
                f"{m(r['revenue'], cents=False)} · reorder {fmt.pct(r['reorder_rate'])}"
                for r in rows
            ],
            "textposition": "auto",
            "customdata": [
                [
                    r["department"],
                    r["units"],
                    r["orders"],
                    r["customers"],
                    r["reorder_rate"] or 0,
                    r["department_revenue_share"] or 0,
                ]
                for r in rows
            ],
            "hovertemplate": f"%{{y}} · %{{customdata[0]}}<br>revenue {hover_money(m, 'x')} "
            "(%{customdata[5]:.1%} of department)<br>%{customdata[1]:,} units · "
            "%{customdata[2]:,} orders · %{customdata[3]:,} customers<br>"
            "reorder rate %{customdata[4]:.0%}<extra></extra>",
        }
        k = key(dept=dept)
        variants[k] = figure(
            [bar], {"xaxis": money_axis(m), "showlegend": False, "bargap": 0.2}, height=380
        )
        best = chosen[0]
        share = (
            f"{fmt.pct(best['department_revenue_share'])} of {best['department']}"
            if best["department_revenue_share"] is not None
            else best["department"]
        )
        titles[k] = f"Best seller: {best['product_name']} ({m(best['revenue'])}, {share})"
    if not variants:
        return Card("top-products", "No product has sold yet", note="Every product has zero sales.")
    return Card(
        "top-products",
        next(iter(titles.values())),
        f"Top {top} products by line revenue, all history, with their reorder rate.",
        Chart(variants, ("dept",), titles=titles, height=380),
        filters=("dept",),
    )


def reorder_card(a: Analytics) -> Card:
    rows = a.reorder_departments
    if not rows:
        return missing("reorders", "Reorder rates", "gold.reorder_patterns_department")
    rows = sorted(rows, key=lambda r: r["reorder_rate"] or 0)
    lines = sum(r["lines"] for r in rows)
    overall = sum(r["reordered_lines"] for r in rows) / lines if lines else None
    rate = {
        "type": "bar",
        "orientation": "h",
        "y": [r["department"] for r in rows],
        "x": [r["reorder_rate"] for r in rows],
        "name": "Reorder rate",
        "marker": {"color": theme.BLUE},
        "text": [fmt.pct(r["reorder_rate"]) for r in rows],
        "textposition": "auto",
        "customdata": [
            [
                r["avg_cart_position_reordered"] or 0,
                r["avg_cart_position_first_time"] or 0,
                r["avg_days_to_repurchase"] or 0,
            ]
            for r in rows
        ],
        "hovertemplate": "%{y}: %{x:.1%} of items are reorders<br>cart position: reordered "
        "%{customdata[0]:.1f}, first-time %{customdata[1]:.1f}<br>"
        "%{customdata[2]:.1f} days to buy again<extra></extra>",
    }
    fig = figure(
        [rate],
        {"xaxis": {"tickformat": ".0%"}, "showlegend": False, "bargap": 0.2},
        height=max(260, 26 * len(rows) + 60),
    )
    top = rows[-1]
    earlier = [
        r
        for r in rows
        if r["avg_cart_position_reordered"] is not None
        and r["avg_cart_position_first_time"] is not None
    ]
    sub = "Share of order lines that are reorders, per department (hover: cart position)."
    if earlier:
        ahead = sum(
            1
            for r in earlier
            if r["avg_cart_position_reordered"] < r["avg_cart_position_first_time"]
        )
        sub += (
            f" Reordered items go into the cart earlier in {ahead} of {len(earlier)} departments."
        )
    return Card(
        "reorders",
        f"{fmt.pct(overall)} of items are reorders; {top['department']} reorder most "
        f"({fmt.pct(top['reorder_rate'])})",
        sub,
        Chart({"": fig}, height=max(260, 26 * len(rows) + 60)),
    )
