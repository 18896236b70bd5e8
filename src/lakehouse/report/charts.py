"""Plotly figures as plain dicts, and the helpers every chart module shares.

Figures are built with `plotly.graph_objects` (validated), given the shared theme, and returned
as `{"data": [...], "layout": {...}}` without plotly's template, so the page stays small and
renders them with the one inlined copy of plotly.js.

Data is never taken for markup: plotly.js renders a subset of HTML (links included) in every
label, tick, legend entry and hover, so `figure` escapes every string of a figure except the
`*template` strings, which are the charts' own. Data therefore never goes into a template:
a template shows it through `%{y}`, `%{customdata[i]}` or `%{fullData.name}`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lakehouse.report import fmt, theme
from lakehouse.report.cards import ALL, GRAINS, variant_key
from lakehouse.report.data import Analytics, Rows
from lakehouse.report.markup import plot_text

GRAIN_LABEL = {"day": "day", "week": "week", "month": "month"}
GRAIN_ADJ = {"day": "Daily", "week": "Weekly", "month": "Monthly"}


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """`base` updated by `extra`, nested dicts merged key by key (like plotly's update)."""
    out = dict(base)
    for k, v in extra.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def figure(
    traces: Sequence[dict[str, Any]], layout: dict[str, Any] | None = None, height: int = 300
) -> dict[str, Any]:
    """A themed figure as a JSON-ready dict: `{"data": [...], "layout": {...}}`.

    Plain dicts in plotly's figure schema, rendered by plotly.js; plotly's Python validation is
    slow for a hundred figures, so tests validate every figure of a built page instead
    (`validate`).
    """
    return {
        "data": [_as_text(t) for t in traces],
        "layout": merge(theme.base_layout(height), _as_text(layout or {})),
    }


def _as_text(value: Any, key: str = "") -> Any:
    """`value` with every string escaped for plotly, except under `*template` keys."""
    if isinstance(value, str):
        return value if key.endswith("template") else plot_text(value)
    if isinstance(value, dict):
        return {k: _as_text(v, k) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_as_text(v, key) for v in value]
    return value


def validate(fig: dict[str, Any]) -> None:
    """Raise ValueError when `fig` is not a valid plotly figure (plotly's own schema)."""
    import plotly.graph_objects as go  # type: ignore[import-untyped]

    go.Figure(fig)


def grain_rows(a: Analytics) -> dict[str, Rows]:
    """Sales rows per grain, for the grains whose gold table exists."""
    found = {"day": a.daily, "week": a.weekly, "month": a.monthly}
    return {g: rows for g, rows in found.items() if rows}


def date_axis(grain: str, first: Any = None) -> dict[str, Any]:
    """A date x axis whose ticks fall on the periods' first days (Mondays, 1st of month)."""
    if grain == "week" and first is not None:
        return {"type": "date", "tick0": str(first), "dtick": 7 * 86_400_000, "tickformat": "%d %b"}
    if grain == "month":
        return {"type": "date", "dtick": "M1", "tickformat": "%b %Y"}
    return {"type": "date"}


def partial(rows: Rows, grain: str) -> list[bool]:
    """Which periods are incomplete: the newest one when not every day of it has orders."""
    from lakehouse.report.data import period_days

    out = [False] * len(rows)
    if rows and grain != "day":
        last = rows[-1]
        out[-1] = int(last.get("days") or 0) < period_days(last["period"], grain)
    return out


def dept_keys(a: Analytics) -> list[str]:
    return [ALL, *a.departments]


def key(**state: str) -> str:
    return variant_key(**state)


def money_axis(m: fmt.Money) -> dict[str, Any]:
    return {"tickprefix": m.prefix, "tickformat": "~s", "separatethousands": True}


def hover_money(m: fmt.Money, field: str) -> str:
    """A hovertemplate piece for an amount, e.g. '$%{y:,.2f}'."""
    return f"{plot_text(m.prefix)}%{{{field}:,.2f}}"


def truncate(text: str, width: int = 28) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def dept_label(dept: str) -> str:
    return "all departments" if dept == ALL else dept


__all__ = ["GRAINS", "figure"]
