"""Model files and their rendering to DuckDB, Spark SQL 3.5 and Trino (Athena)."""

from __future__ import annotations

from typing import Any

import pytest
import sqlglot

from lakehouse.gold import DIALECTS, ModelError, get_model, list_models, render
from lakehouse.gold.model import all_models, parse_model
from lakehouse.gold.render import reads

MODELS = [m.name for m in list_models()]
REQUIRED = {
    "sales_daily", "sales_weekly", "sales_monthly", "department_sales", "product_performance",
    "reorder_patterns", "order_value_distribution", "order_time_heatmap", "payment_methods",
    "customer_profile", "repeat_purchase", "cohort_retention", "customer_segments",
    "product_pairs", "department_pairs", "product_companions", "upsell_candidates",
    "catalog_summary",
}  # fmt: skip


def flat(name: str, dialect: str, **options: Any) -> str:
    """One-line rendering, for exact comparisons."""
    return render(name, dialect, pretty=False, **options)  # type: ignore[arg-type]


def test_every_required_model_exists() -> None:
    assert set(MODELS) >= REQUIRED
    assert "line_revenue" not in MODELS  # ephemeral: inlined, never written
    assert "line_revenue" in {m.name for m in list_models(include_ephemeral=True)}


def test_models_come_after_what_they_read() -> None:
    seen: set[str] = set()
    for model in list_models():
        assert set(model.depends_on) <= seen, model.name
        seen.add(model.name)


@pytest.mark.parametrize("name", MODELS)
def test_header_is_complete(name: str) -> None:
    model = get_model(name)
    assert model.description and model.grain and model.columns
    assert all(c.description for c in model.columns)
    if model.refresh.startswith("by_"):
        assert model.key in model.column_names
    tables = reads(model)
    assert all(t.startswith(("silver.", "gold.")) for t in tables), tables
    gold = {t.removeprefix("gold.") for t in tables if t.startswith("gold.")}
    ephemeral = {m.name for m in all_models().values() if not m.materialized}
    assert gold - ephemeral == set(model.depends_on)


@pytest.mark.parametrize("dialect", ["spark", "trino"])
@pytest.mark.parametrize("name", MODELS)
def test_rendered_sql_parses(name: str, dialect: str) -> None:
    sql = render(name, dialect)  # type: ignore[arg-type]
    parsed = sqlglot.parse_one(sql, read=dialect)
    assert parsed.find(sqlglot.exp.Select) is not None
    assert "silver.order_items" in sql or "silver.orders" in sql or "gold." in sql
    if "gold.line_revenue" in get_model(name).sql:
        assert "line_revenue" not in sql  # inlined


def test_iso_day_of_week() -> None:
    """sqlglot renders ISODOW for Spark as ((DAYOFWEEK(x) % 7) + 1), which is not ISO."""
    duck, spark, trino = (flat("order_time_heatmap", d) for d in DIALECTS)
    assert "CAST(ISODOW(order_timestamp) AS BIGINT) AS day_of_week" in duck
    assert "CAST(EXTRACT(DAYOFWEEK_ISO FROM order_timestamp) AS BIGINT) AS day_of_week" in spark
    assert "CAST(DAY_OF_WEEK(order_timestamp) AS BIGINT) AS day_of_week" in trino
    assert "DAYOFWEEK(" not in spark.replace("DAYOFWEEK_ISO", "")
    assert "CAST(EXTRACT(HOUR FROM order_timestamp) AS BIGINT) AS hour" in spark
    assert "CAST(EXTRACT(HOUR FROM order_timestamp) AS BIGINT) AS hour" in trino


@pytest.mark.parametrize("dialect", DIALECTS)
def test_week_and_month_truncation(dialect: str) -> None:
    weekly = flat("sales_weekly", dialect)
    assert "CAST(DATE_TRUNC('WEEK', date) AS DATE) AS week_start" in weekly
    assert "p.week_start = CAST(w.week_start - INTERVAL '7' DAY AS DATE)" in weekly
    monthly = flat("sales_monthly", dialect)
    assert "CAST(DATE_TRUNC('MONTH', date) AS DATE) AS month_start" in monthly
    assert "p.month_start = CAST(w.month_start - INTERVAL '1' MONTH AS DATE)" in monthly
    cohorts = flat("cohort_retention", dialect)
    assert "CAST(DATE_TRUNC('WEEK', MIN(date)) AS DATE) AS cohort_week" in cohorts


def test_percentiles_are_exact_everywhere() -> None:
    """percentile_cont/quantile_cont would become approximate in Spark and Trino."""
    for dialect in DIALECTS:
        sql = flat("order_value_distribution", dialect).upper()
        assert "APPROX" not in sql and "PERCENTILE_" not in sql and "QUANTILE" not in sql
        assert "CAST(FLOOR((N.ORDERS - 1) * Q.FRACTION) AS BIGINT) AS LOW_POSITION" in sql
        assert "ROW_NUMBER() OVER (ORDER BY ORDER_VALUE" in sql
    spark = flat("order_value_distribution", "spark")
    assert "FROM VALUES (10, 0.10), (25, 0.25), (50, 0.50), (75, 0.75), (90, 0.90), (99, 0.99)" in (
        spark
    )
    assert (
        "CAST(lo.order_value + (w.exact_position - w.low_position) * "
        "(hi.order_value - lo.order_value) AS DOUBLE) AS order_value"
    ) in spark


def test_approximate_functions_are_refused() -> None:
    model = parse_model(
        '/*\nname = "x"\ndescription = "d"\ngrain = "g"\nrefresh = "full"\n[columns]\nm = "m"\n*/\n'
        "SELECT quantile_cont(total_amount, 0.5) AS m FROM silver.orders"
    )
    with pytest.raises(ModelError, match="not exact on every engine"):
        render(model, "spark")


def test_cte_names_clashing_with_an_inlined_ephemeral_model_are_refused() -> None:
    """line_revenue has a CTE `lines`; Spark would see two after hoisting nested CTEs."""
    model = parse_model(
        '/*\nname = "x"\ndescription = "d"\ngrain = "g"\nrefresh = "full"\n[columns]\nn = "n"\n*/\n'
        "WITH lines AS (SELECT id FROM gold.line_revenue) SELECT COUNT(*) AS n FROM lines"
    )
    with pytest.raises(ModelError, match=r"CTE name\(s\) lines also used"):
        render(model, "spark")


def test_time_differences() -> None:
    spark = flat("customer_profile", "spark")
    trino = flat("customer_profile", "trino")
    assert "CAST(DATEDIFF(SECOND, u.first_order_at, u.last_order_at) AS DOUBLE)" in spark
    assert (
        "CAST(DATE_DIFF('SECOND', DATE_TRUNC('SECOND', u.first_order_at), "
        "DATE_TRUNC('SECOND', u.last_order_at)) AS DOUBLE)"
    ) in trino
    segments = flat("customer_segments", "spark")
    assert "DATEDIFF(DAY, last_order_date, as_of_date) AS recency_days" in segments


def test_integer_division_in_the_revenue_allocation() -> None:
    spark = flat("department_sales", "spark")
    assert "(pool_cents * weight) DIV order_weight" in spark
    assert "CAST((pool_cents * weight) // order_weight" not in spark
    # Spark sorts nulls first by default: sqlglot keeps DuckDB's order explicit
    assert (
        "ORDER BY CASE WHEN weight = 0 THEN 1 ELSE 0 END NULLS LAST, remainder DESC, id NULLS LAST"
    ) in spark
    trino = flat("department_sales", "trino")
    assert "CAST(TRUNCATE(CAST((pool_cents * weight) AS DOUBLE) / order_weight) AS BIGINT)" in trino


def test_tables_can_be_renamed() -> None:
    sql = flat(
        "segment_summary", "spark", tables={"gold.customer_segments": "lake.gold_customer_segments"}
    )
    assert "FROM lake.gold_customer_segments AS customer_segments" in sql
    assert "gold.customer_segments" not in sql


def test_source_and_output_filters() -> None:
    sql = flat(
        "customer_profile",
        "trino",
        source_filters={"silver.orders": "user_id IN (1, 2)"},
        output_filter="user_id IN (1, 2)",
    )
    assert "FROM (SELECT * FROM silver.orders WHERE user_id IN (1, 2)) AS orders" in sql
    assert sql.endswith("WHERE user_id IN (1, 2)")


HEADER = '/*\nname = "x"\ndescription = "d"\ngrain = "g"\n{extra}\n[columns]\nuser_id = "u"\n*/\n'


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('refresh = "sometimes"', "refresh = 'sometimes'"),
        ('refresh = "by_date"\nkey = "user_id"', "period"),
        ('refresh = "by_date"\nkey = "date"\nperiod = "day"', "key 'date'"),
        ('refresh = "by_user"\nkey = "product_id"', "replaces rows by user_id"),
        ('refresh = "full"\nperiod = "day"', "period only applies"),
        ('refresh = "full"\nlookback = -1', "lookback"),
        ('refresh = "full"\nowner = "me"', "unknown header keys"),
        ('refresh = "full"\ndepends_on = "x"', "depends_on"),
    ],
)
def test_bad_headers_are_named(extra: str, message: str) -> None:
    with pytest.raises(ModelError, match=message):
        parse_model(HEADER.format(extra=extra) + "SELECT 1 AS user_id", "models/x.sql")


def test_missing_header_or_sql() -> None:
    with pytest.raises(ModelError, match="must start with"):
        parse_model("SELECT 1", "models/x.sql")
    with pytest.raises(ModelError, match="no SQL"):
        parse_model(HEADER.format(extra='refresh = "full"'), "models/x.sql")
    with pytest.raises(ModelError, match="not valid TOML"):
        parse_model("/* name = */ SELECT 1", "models/x.sql")


def test_unknown_model() -> None:
    with pytest.raises(ModelError, match="no gold model named 'nope'"):
        get_model("nope")
    assert get_model("gold.sales_daily").name == "sales_daily"
