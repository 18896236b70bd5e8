"""Cross-sell (product and department pairs, by lift) and up-sell candidates."""

from __future__ import annotations

from typing import Any

from lakehouse.report import fmt, theme
from lakehouse.report.cards import ALL, Card, Chart, missing
from lakehouse.report.charts import (
    dept_keys,
    dept_label,
    figure,
    hover_money,
    key,
    money_axis,
    truncate,
)
from lakehouse.report.data import FREQUENT_PAIRS, Analytics, Row

SHOWN_PAIRS = 12


def pair_name(r: Row) -> str:
    return f"{truncate(r['name_a'], 22)} + {truncate(r['name_b'], 22)}"


def pairs_card(a: Analytics) -> Card:
    if a.pairs is None:
        return missing("pairs", "Products bought together", "gold.product_pairs", wide=True)
    if not a.pairs:
        return Card(
            "pairs",
            "No product pairs yet",
            note="No two products were bought together in at least two orders.",
            wide=True,
        )
    variants, titles = {}, {}
    for dept in dept_keys(a):
        chosen = [r for r in a.pairs if dept == ALL or dept in (r["dept_a"], r["dept_b"])]
        chosen = sorted(chosen, key=lambda r: (-r["lift"], r["pair_rank"]))[:SHOWN_PAIRS]
        if not chosen:
            continue
        rows = list(reversed(chosen))
        bar = {
            "type": "bar",
            "orientation": "h",
            "y": [pair_name(r) for r in rows],
            "x": [r["lift"] for r in rows],
            "marker": {"color": theme.GREEN},
            "text": [f"lift {r['lift']:,.1f} · {r['pair_orders']:,} orders" for r in rows],
            "textposition": "auto",
            "customdata": [
                [
                    r["support"],
                    r["confidence_a_to_b"],
                    r["confidence_b_to_a"],
                    r["dept_a"] or "",
                    r["dept_b"] or "",
                ]
                for r in rows
            ],
            "hovertemplate": "%{y}<br>lift %{x:,.2f} · support %{customdata[0]:.2%}<br>"
            "confidence A→B %{customdata[1]:.0%}, B→A %{customdata[2]:.0%}<br>"
            "%{customdata[3]} + %{customdata[4]}<extra></extra>",
        }
        k = key(dept=dept)
        variants[k] = figure(
            [bar],
            {
                "xaxis": {
                    "title": {"text": f"Lift ({fmt.TIMES} more often together than by chance)"}
                },
                "showlegend": False,
                "bargap": 0.2,
                "margin": {"l": 20},
            },
            height=400,
        )
        best = chosen[0]
        titles[k] = (
            f"{best['name_a']} and {best['name_b']} are bought together "
            f"{best['lift']:,.0f}{fmt.TIMES} more often than by chance"
        )
    return Card(
        "pairs",
        next(iter(titles.values())),
        f"Strongest product pairs by lift among the {FREQUENT_PAIRS} most frequent pairs "
        f"(support = share of orders holding both; confidence = chance the second is in the "
        "basket when the first is).",
        Chart(variants, ("dept",), titles=titles, height=400),
        wide=True,
        filters=("dept",),
    )


def department_pairs_card(a: Analytics) -> Card:
    rows = a.department_pairs
    if rows is None:
        return missing("department-pairs", "Departments bought together", "gold.department_pairs")
    if not rows:
        return Card(
            "department-pairs", "No department pairs yet", note="No baskets mix departments."
        )
    depts = sorted({r["department_a"] for r in rows} | {r["department_b"] for r in rows})
    lift: dict[tuple[str, str], Row] = {}
    for r in rows:
        lift[(r["department_a"], r["department_b"])] = r
        lift[(r["department_b"], r["department_a"])] = r
    z: list[list[Any]] = [[(lift.get((y, x)) or {}).get("lift") for x in depts] for y in depts]
    trace = {
        "type": "heatmap",
        "x": depts,
        "y": depts,
        "z": z,
        "colorscale": theme.DIVERGING,
        "zmid": 1,
        "xgap": 1,
        "ygap": 1,
        "hoverongaps": False,
        "colorbar": {"title": {"text": "Lift"}, "thickness": 12},
        "hovertemplate": "%{y} + %{x}: lift %{z:.2f}<extra></extra>",
    }
    fig = figure(
        [trace],
        {
            "xaxis": {"tickangle": -40, "showgrid": False},
            "yaxis": {"showgrid": False, "autorange": "reversed"},
        },
        height=380,
    )
    best = max(rows, key=lambda r: r["lift"])
    return Card(
        "department-pairs",
        f"{best['department_a']} and {best['department_b']} go together most "
        f"(lift {best['lift']:,.2f})",
        "Lift of department pairs in the same order: blue above 1 (together more often than by "
        "chance), orange below 1.",
        Chart({"": fig}, height=380),
    )


def upsell_card(a: Analytics, m: fmt.Money) -> Card:
    rows = a.upsell
    if rows is None:
        return missing("upsell", "Up-sell candidates", "gold.upsell_candidates")
    if not rows:
        return Card("upsell", "No up-sell candidates", note="gold.upsell_candidates is empty.")
    segments = [s["segment"] for s in a.segments or []] or sorted({r["segment"] for r in rows})
    segments = [s for s in segments if any(r["segment"] == s for r in rows)]
    variants, titles = {}, {}
    for dept in dept_keys(a):
        mine = [r for r in rows if dept in (ALL, r["department"])]
        if not mine:
            continue
        depts = sorted(
            {r["department"] for r in mine},
            key=lambda d: sum(r["spend_gap"] for r in mine if r["department"] == d),
        )
        traces = []
        for i, seg in enumerate(segments):
            cell = {r["department"]: r for r in mine if r["segment"] == seg}
            traces.append(
                {
                    "type": "bar",
                    "orientation": "h",
                    "name": fmt.label(seg),
                    "y": depts,
                    "x": [(cell.get(d) or {}).get("spend_gap", 0) for d in depts],
                    "marker": {"color": theme.colour(i)},
                    "customdata": [[(cell.get(d) or {}).get("customers", 0)] for d in depts],
                    "hovertemplate": "%{y} · %{fullData.name}: %{customdata[0]:,} customers, "
                    f"gap {hover_money(m, 'x')}<extra></extra>",
                }
            )
        k = key(dept=dept)
        variants[k] = figure(
            traces,
            {
                "barmode": "stack",
                "xaxis": {**money_axis(m), "title": {"text": "Spend gap"}},
                "bargap": 0.2,
            },
            height=max(260, 26 * len(depts) + 90),
        )
        people = sum(r["customers"] for r in mine)
        gap = sum(r["spend_gap"] for r in mine)
        titles[k] = (
            f"{fmt.number(people)} customer-department pairs in {dept_label(dept)} spend "
            f"{m(gap, cents=False)} below their segment's typical basket"
        )
    return Card(
        "upsell",
        next(iter(titles.values())),
        "Customers who buy in a department but spend less there than their RFM segment's median: "
        "total gap to the median per department, by segment.",
        Chart(variants, ("dept",), titles=titles, height=max(260, 26 * len(a.departments) + 90)),
        filters=("dept",),
    )
