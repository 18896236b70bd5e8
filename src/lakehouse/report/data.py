"""What the dashboard shows, read with SQL over the lakehouse (`zone.table` names, DuckDB).

`Source` is one DuckDB connection over every table of a root; `analytics(src)` reads the gold
tables into plain rows (amounts as float, dates as `datetime.date`). A gold table that does not
exist yet gives None, which the page turns into a note instead of a chart.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from lakehouse.store.root import Root
from lakehouse.store.tables import list_tables, sql_name

if TYPE_CHECKING:
    import duckdb

T = TypeVar("T")
Row = dict[str, Any]
Rows = list[Row]
TOP_PRODUCTS = 15
FREQUENT_PAIRS = 200  # lift is judged among the most frequent pairs (rare pairs are noise)


def _plain(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


class Source:
    """Read-only SQL over one lakehouse root; every table is a `zone.table` view."""

    def __init__(self, root: Root | str) -> None:
        from lakehouse.store.query import connect, lock_down

        self.root = root if isinstance(root, Root) else Root(root)
        # bronze (raw text rows) is never charted; leaving it out saves opening its tables
        self.tables = [t for t in list_tables(self.root) if not t.startswith("bronze.")]
        self.unreadable: dict[str, str] = {}  # table -> why it could not be read
        self.con: duckdb.DuckDBPyConnection = connect(self.root, self.tables)
        lock_down(self.con)  # read-only: no statement here reaches a file

    def has(self, *names: str) -> bool:
        return all(n in self.tables for n in names)

    def read(self, table: str, read: Callable[[], T]) -> T | None:
        """`read()`, which reads `table`; None when the table is missing, or cannot be read:
        then its error is kept in `unreadable` (the operations page shows it). One damaged
        gold table failed the whole dashboard, its operations page included."""
        if not self.has(table):
            return None
        try:
            return read()
        except Exception as exc:  # any reader's error: the page shows the rest
            self.unreadable[table] = f"{type(exc).__name__}: {exc}".splitlines()[0]
            return None

    def columns(self, name: str) -> list[str]:
        if not self.has(name):
            return []
        return [r[0] for r in self.con.execute(f"DESCRIBE {sql_name(name)}").fetchall()]

    def rows(self, sql: str) -> Rows:
        """Run `sql`; rows as dicts with decimals turned into floats."""
        table = self.con.sql(sql).to_arrow_table()
        return [{k: _plain(v) for k, v in r.items()} for r in table.to_pylist()]

    def close(self) -> None:
        self.con.close()


@dataclass
class Analytics:
    """Everything the analytics pages chart; None = that gold table is missing."""

    currency: str | None = None
    daily: Rows | None = None
    weekly: Rows | None = None
    monthly: Rows | None = None
    order_values: Rows | None = None
    heatmap: Rows | None = None
    payments: Rows | None = None
    payments_weekly: Rows | None = None
    payments_by_segment: Rows | None = None
    department_sales: dict[str, Rows] | None = None  # grain -> rows (period, department, ...)
    products: Rows | None = None  # top products overall and per department
    product_units: list[int] | None = None  # units of every product, highest first
    reorder_departments: Rows | None = None
    catalog: Rows | None = None  # catalog_summary: the 'all' row and one per department
    segments: Rows | None = None
    repeat: Rows | None = None
    cohorts: Rows | None = None
    pairs: Rows | None = None
    department_pairs: Rows | None = None
    upsell: Rows | None = None  # per segment and department
    departments: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return self.daily is None and self.products is None and self.segments is None


def _gold(src: Source, name: str, sql: str) -> Rows | None:
    return src.read(f"gold.{name}", lambda: src.rows(sql))


def currency(src: Source) -> str | None:
    """The shop's currency when orders carry one (the most common code), else None."""
    if "currency" not in src.columns("silver.orders"):
        return None
    sql = (
        "SELECT currency, COUNT(*) AS n FROM silver.orders WHERE currency IS NOT NULL "
        "GROUP BY currency ORDER BY n DESC LIMIT 1"
    )
    rows = src.read("silver.orders", lambda: src.rows(sql))
    return str(rows[0]["currency"]) if rows else None


def department_sales(src: Source) -> dict[str, Rows] | None:
    return src.read("gold.department_sales", lambda: _department_sales(src))


def _department_sales(src: Source) -> dict[str, Rows]:
    out = {}
    for grain, period in (("day", "date"), ("week", "week"), ("month", "month")):
        key = "date" if grain == "day" else f"CAST(date_trunc('{period}', date) AS DATE)"
        out[grain] = src.rows(
            f"SELECT {key} AS period, department, SUM(revenue) AS revenue, "
            "CAST(SUM(units) AS BIGINT) AS units, CAST(SUM(orders) AS BIGINT) AS orders "
            "FROM gold.department_sales GROUP BY ALL ORDER BY period, department"
        )
    return out


def pairs(src: Source) -> Rows | None:
    return src.read("gold.product_pairs", lambda: _pairs(src))


def _pairs(src: Source) -> Rows:
    if not src.has("silver.products"):
        return src.rows(
            "SELECT *, CAST(product_a AS VARCHAR) AS name_a, CAST(product_b AS VARCHAR) AS name_b,"
            f" NULL AS dept_a, NULL AS dept_b FROM gold.product_pairs WHERE pair_rank <= "
            f"{FREQUENT_PAIRS} ORDER BY lift DESC"
        )
    return src.rows(
        "SELECT p.*, coalesce(a.product_name, CAST(p.product_a AS VARCHAR)) AS name_a, "
        "a.department AS dept_a, coalesce(b.product_name, CAST(p.product_b AS VARCHAR)) AS name_b, "
        "b.department AS dept_b FROM gold.product_pairs p "
        "LEFT JOIN silver.products a ON a.product_id = p.product_a "
        "LEFT JOIN silver.products b ON b.product_id = p.product_b "
        f"WHERE p.pair_rank <= {FREQUENT_PAIRS} ORDER BY p.lift DESC, p.pair_rank"
    )


def analytics(src: Source) -> Analytics:
    """Read every gold table the dashboard charts (missing ones stay None)."""
    a = Analytics(currency=currency(src))
    sales_cols = (
        "orders, revenue, aov, items, items_per_order, customers, prev_orders, prev_revenue, "
        "orders_change_rate, revenue_change_rate"
    )
    a.daily = _gold(
        src,
        "sales_daily",
        f"SELECT date AS period, 1 AS days, {sales_cols} FROM gold.sales_daily ORDER BY date",
    )
    a.weekly = _gold(
        src,
        "sales_weekly",
        f"SELECT week_start AS period, days, {sales_cols} "
        "FROM gold.sales_weekly ORDER BY week_start",
    )
    a.monthly = _gold(
        src,
        "sales_monthly",
        f"SELECT month_start AS period, days, {sales_cols} "
        "FROM gold.sales_monthly ORDER BY month_start",
    )
    a.order_values = _gold(
        src,
        "order_value_distribution",
        "SELECT * FROM gold.order_value_distribution ORDER BY bucket",
    )
    a.heatmap = _gold(
        src,
        "order_time_heatmap",
        "SELECT * FROM gold.order_time_heatmap ORDER BY day_of_week, hour",
    )
    a.payments = _gold(
        src, "payment_methods", "SELECT * FROM gold.payment_methods ORDER BY revenue DESC"
    )
    a.payments_weekly = _gold(
        src,
        "payment_methods_weekly",
        "SELECT * FROM gold.payment_methods_weekly ORDER BY week_start, payment_method",
    )
    a.payments_by_segment = _gold(
        src,
        "payment_methods_by_segment",
        "SELECT * FROM gold.payment_methods_by_segment ORDER BY segment, payment_method",
    )
    a.department_sales = department_sales(src)
    a.products = _gold(
        src,
        "product_performance",
        "SELECT product_id, product_name, department, units, orders, customers, revenue, "
        "reorder_rate, revenue_rank, department_revenue_rank, department_revenue_share, "
        "units_trend FROM gold.product_performance "
        f"WHERE revenue > 0 AND (revenue_rank <= {TOP_PRODUCTS} "
        f"OR department_revenue_rank <= {TOP_PRODUCTS}) ORDER BY revenue DESC, product_id",
    )
    units = _gold(src, "product_performance", "SELECT units FROM gold.product_performance")
    if units is not None:
        a.product_units = sorted((int(r["units"]) for r in units), reverse=True)
    a.reorder_departments = _gold(
        src,
        "reorder_patterns_department",
        "SELECT * FROM gold.reorder_patterns_department ORDER BY reorder_rate DESC",
    )
    a.catalog = _gold(
        src,
        "catalog_summary",
        "SELECT * FROM gold.catalog_summary WHERE level IN ('all', 'department') "
        "ORDER BY level = 'all' DESC, products DESC, department",
    )
    a.segments = _gold(
        src, "segment_summary", "SELECT * FROM gold.segment_summary ORDER BY segment_order"
    )
    a.repeat = _gold(
        src, "repeat_purchase", "SELECT * FROM gold.repeat_purchase ORDER BY orders_per_customer"
    )
    a.cohorts = _gold(
        src,
        "cohort_retention",
        "SELECT * FROM gold.cohort_retention ORDER BY cohort_week, week_offset",
    )
    a.pairs = pairs(src)
    a.department_pairs = _gold(
        src, "department_pairs", "SELECT * FROM gold.department_pairs ORDER BY lift DESC"
    )
    a.upsell = _gold(
        src,
        "upsell_candidates",
        "SELECT segment, department, COUNT(*) AS customers, SUM(spend) AS spend, "
        "SUM(spend_gap) AS spend_gap, median(segment_median_spend) AS segment_median_spend "
        "FROM gold.upsell_candidates GROUP BY ALL ORDER BY spend_gap DESC",
    )
    depts: set[str] = set()
    for rows in (a.catalog or [], a.products or []):
        depts.update(str(r["department"]) for r in rows if r.get("department"))
    if a.department_sales:
        depts.update(str(r["department"]) for r in a.department_sales["day"])
    a.departments = sorted(depts)
    return a


def pareto(units: list[int], points: int = 200) -> tuple[list[float], list[float], float | None]:
    """Concentration curve: (share of products, share of units) at up to `points` steps, and the
    share of products that makes 80 % of units (None when nothing sold)."""
    total = sum(units)
    n = len(units)
    if total <= 0 or n == 0:
        return [], [], None
    ordered = sorted(units, reverse=True)
    xs, ys = [0.0], [0.0]
    step = max(1, n // points)
    running = 0
    at80: float | None = None
    for i, u in enumerate(ordered, start=1):
        running += u
        if at80 is None and running >= 0.8 * total:
            at80 = i / n
        if i % step == 0 or i == n:
            xs.append(i / n)
            ys.append(running / total)
    return xs, ys, at80


def period_days(start: dt.date, grain: str) -> int:
    if grain == "week":
        return 7
    if grain == "month":
        following = (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        return (following - start).days
    return 1


def latest_complete(rows: Rows, grain: str) -> Row | None:
    """The newest complete period that has a previous one to compare with. Every period but
    the newest is complete; the newest only when each of its days has orders. Falls back to
    the newest period when none qualifies."""
    if not rows:
        return None
    newest = rows[-1]
    complete = list(rows[:-1])
    if int(newest.get("days") or 1) >= period_days(newest["period"], grain):
        complete.append(newest)
    with_prev = [r for r in complete if r.get("prev_revenue") is not None]
    return with_prev[-1] if with_prev else newest


def date_span(a: Analytics) -> tuple[dt.date, dt.date] | None:
    if not a.daily:
        return None
    return a.daily[0]["period"], a.daily[-1]["period"]
