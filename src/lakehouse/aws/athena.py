"""Athena (engine v3, Trino SQL): DDL for the lakehouse tables, gold models as views, KPI queries.

- Tables: `CREATE EXTERNAL TABLE db.silver_orders LOCATION 's3://…' TBLPROPERTIES
  ('table_type'='DELTA')` — Athena reads a Delta table's schema and partitions from its log,
  so the DDL names no columns (the Glue sync adds them, with comments, for discovery).
- Views: each gold model rendered to Trino by `lakehouse.gold.render` (through
  `lakehouse.engines.dialect`, the one place dialects differ), reading `db.silver_<entity>` and the
  other models' views; a view is named `gold_<model>_view` so it never collides with the
  materialized table `gold_<model>`.
- KPI queries: the named queries the CDK stack saves in the workgroup, over the gold tables.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from lakehouse.aws.glue_catalog import CatalogTable, check_database_name
from lakehouse.engines.dialect import quote

VIEW_SUFFIX = "_view"


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _comment_lines(text: str, width: int = 96) -> list[str]:
    words, lines, line = " ".join(text.split()).split(" "), [], "--"
    for w in words:
        if len(line) + 1 + len(w) > width and line != "--":
            lines.append(line)
            line = "--"
        line += " " + w
    lines.append(line)
    return lines


def table_ddl(table: CatalogTable, database: str) -> str:
    """One table's Athena DDL, headed by its description as SQL comments."""
    check_database_name(database)
    return "\n".join(
        [
            f"-- {table.lakehouse_name}",
            *_comment_lines(table.description),
            f"CREATE EXTERNAL TABLE IF NOT EXISTS `{database}`.`{table.name}`",
            f"LOCATION {_sql_string(table.location)}",
            "TBLPROPERTIES ('table_type' = 'DELTA');",
        ]
    )


def view_name(model: str) -> str:
    return f"gold_{model}{VIEW_SUFFIX}"


def view_tables(database: str, entities: Iterable[str], models: Iterable[str]) -> dict[str, str]:
    """How a model's table names read in Athena: silver tables and the other models' views."""
    names = {f"silver.{e}": f"{database}.silver_{e}" for e in entities}
    names.update({f"gold.{m}": f"{database}.{view_name(m)}" for m in models})
    return names


def view_ddl(model: str, database: str, entities: Iterable[str]) -> str:
    """`CREATE OR REPLACE VIEW` for one gold model, in Trino SQL."""
    from lakehouse.gold import get_model, list_models, render

    check_database_name(database)
    m = get_model(model)
    tables = view_tables(database, entities, [x.name for x in list_models()])
    body = render(m, "trino", tables=tables, pretty=True)
    view = f"{quote(database, 'trino')}.{quote(view_name(m.name), 'trino')}"
    return "\n".join(
        [
            f"-- gold.{m.name} as a view ({m.grain})",
            *_comment_lines(m.description),
            f"CREATE OR REPLACE VIEW {view} AS",
            body + ";",
        ]
    )


def athena_ddl(tables: Iterable[CatalogTable], database: str, entities: Iterable[str]) -> str:
    """The whole script: database, tables, then every materialized gold model as a view in
    dependency order (ephemeral models are inlined where they are read)."""
    from lakehouse.gold import list_models

    check_database_name(database)
    ents = list(entities)
    parts = [f"CREATE DATABASE IF NOT EXISTS `{database}`;"]
    parts += [table_ddl(t, database) for t in tables]
    parts += [view_ddl(m.name, database, ents) for m in list_models()]
    return "\n\n".join(parts) + "\n"


def statements(script: str) -> list[str]:
    """The script's statements without comment lines (what to send to Athena one by one)."""
    out = []
    for chunk in script.split(";\n"):
        body = "\n".join(ln for ln in chunk.splitlines() if not ln.lstrip().startswith("--"))
        if body.strip():
            out.append(body.strip().rstrip(";"))
    return out


# --- KPI named queries ---------------------------------------------------------------------
@dataclass(frozen=True)
class NamedQuery:
    name: str
    description: str
    sql: str  # Trino SQL; `{db}` is the Glue database

    def render(self, database: str) -> str:
        return self.sql.replace("{db}", check_database_name(database))


KPI_QUERIES: tuple[NamedQuery, ...] = (
    NamedQuery(
        "kpi_daily_sales_last_30_days",
        "Orders, revenue, average order value and customers per day, last 30 order days",
        """SELECT date, orders, revenue, aov, customers, revenue_change_rate
FROM {db}.gold_sales_daily
ORDER BY date DESC
LIMIT 30""",
    ),
    NamedQuery(
        "kpi_monthly_sales",
        "Monthly orders, revenue and change against the previous month",
        """SELECT month_start, orders, revenue, aov, customers, revenue_change_rate
FROM {db}.gold_sales_monthly
ORDER BY month_start DESC""",
    ),
    NamedQuery(
        "kpi_top_products_by_revenue",
        "The 20 products with the highest revenue, with units, reorder rate and 7-day trend",
        """SELECT revenue_rank, product_id, product_name, department, units, revenue,
       reorder_rate, units_trend
FROM {db}.gold_product_performance
ORDER BY revenue_rank, product_id
LIMIT 20""",
    ),
    NamedQuery(
        "kpi_department_revenue_last_30_days",
        "Revenue and units per department over the last 30 order days",
        """SELECT department, SUM(revenue) AS revenue, SUM(units) AS units
FROM {db}.gold_department_sales
WHERE date > (SELECT MAX(date) FROM {db}.gold_department_sales) - INTERVAL '30' DAY
GROUP BY department
ORDER BY revenue DESC""",
    ),
    NamedQuery(
        "kpi_payment_method_mix",
        "Orders, revenue and shares per payment method",
        """SELECT payment_method, orders, revenue, order_share, revenue_share
FROM {db}.gold_payment_methods
ORDER BY orders DESC""",
    ),
    NamedQuery(
        "kpi_repeat_customer_rate",
        "Share of customers with two or more orders",
        """SELECT MAX(total_customers) AS customers, MAX(repeat_customers) AS repeat_customers,
       MAX(repeat_customer_rate) AS repeat_customer_rate
FROM {db}.gold_repeat_purchase""",
    ),
    NamedQuery(
        "kpi_customer_segments",
        "Customers and spend per RFM segment",
        """SELECT segment, COUNT(*) AS customers, SUM(monetary) AS spend
FROM {db}.gold_customer_segments
GROUP BY segment
ORDER BY customers DESC""",
    ),
)
