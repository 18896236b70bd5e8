"""Incremental refresh: applying its writes to the previous full build equals a full rebuild."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from gold_oracle import BEFORE, connect_silver, load_lab_silver
from lakehouse.errors import TerminalError
from lakehouse.gold import GoldWrite, Touched, get_model, list_models, plan_refresh, refresh_gold
from lakehouse.gold.plan import period_start, shift_period
from lakehouse.gold.refresh import freshest_first
from synthetic_silver import SilverTables, generate_silver, silver_from_parquet

MODELS = [m.name for m in list_models()]


def build(silver: SilverTables) -> dict[str, pa.Table]:
    return {w.model: w.table for w in refresh_gold(connect_silver(silver), Touched.full())}


def apply(old: dict[str, pa.Table], writes: list[GoldWrite]) -> dict[str, pa.Table]:
    """What a table writer does: overwrite, or delete the predicate's rows and append."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    tables = dict(old)
    for w in writes:
        if w.mode == "overwrite":
            tables[w.model] = w.table
            continue
        assert w.predicate
        con.register("current", tables[w.model])
        con.register("incoming", w.table)
        tables[w.model] = con.sql(
            f"SELECT * FROM current WHERE NOT ({w.predicate}) UNION ALL SELECT * FROM incoming"
        ).to_arrow_table()
        con.unregister("current")
        con.unregister("incoming")
    return tables


def same_rows(a: pa.Table, b: pa.Table) -> bool:
    order = [(c, "ascending") for c in a.column_names]
    return a.schema == b.schema and a.sort_by(order).equals(b.sort_by(order))


def check_incremental(
    silver: SilverTables, day: dt.date, rebuilt: dict[str, pa.Table] | None = None
) -> list[GoldWrite]:
    earlier = silver.without(day)
    old = build(earlier)
    dates, users, products = silver.touched(day)
    con = connect_silver(silver, before=earlier)
    writes = list(refresh_gold(con, Touched(dates, users, products), old.get, before=BEFORE))
    applied = apply(old, writes)
    rebuilt = rebuilt or build(silver)
    different = [m for m in MODELS if not same_rows(applied[m], rebuilt[m])]
    assert different == []
    return writes


@pytest.fixture(scope="module")
def lab_silver() -> SilverTables:
    return load_lab_silver()


@pytest.fixture(scope="module")
def synthetic() -> SilverTables:
    return generate_silver(items=8_000, days=45, products=200, seed=5)


@pytest.fixture(scope="module")
def synthetic_gold(synthetic: SilverTables) -> dict[str, pa.Table]:
    return build(synthetic)


def test_lab_adding_the_last_day_equals_a_full_rebuild(lab_silver: SilverTables) -> None:
    writes = check_incremental(lab_silver, lab_silver.dates()[-1])
    modes = {w.model: w.mode for w in writes}
    assert modes["sales_daily"] == modes["customer_profile"] == "replace"
    assert modes["department_sales"] == "replace"
    assert modes["reorder_patterns"] == "overwrite"  # the day touched most of the catalog
    assert modes["customer_segments"] == modes["product_pairs"] == "overwrite"
    by_model = {w.model: w for w in writes}
    assert by_model["sales_daily"].predicate == "date IN ('2025-04-15', '2025-04-16')"
    assert by_model["sales_daily"].table.column("date").to_pylist() == [dt.date(2025, 4, 15)]
    assert by_model["sales_weekly"].predicate == "week_start IN ('2025-04-14', '2025-04-21')"


def test_synthetic_adding_the_last_day_equals_a_full_rebuild(
    synthetic: SilverTables, synthetic_gold: dict[str, pa.Table]
) -> None:
    check_incremental(synthetic, synthetic.dates()[-1], synthetic_gold)


def test_generated_adding_the_last_day_equals_a_full_rebuild(tmp_path: Path) -> None:
    from lakehouse.generate import generate

    generate(tmp_path, orders=1500, days=20, products=200, seed=8, fmt="parquet")
    silver = silver_from_parquet(tmp_path)
    check_incremental(silver, silver.dates()[-1])


def test_a_late_day_in_the_middle_equals_a_full_rebuild(
    synthetic: SilverTables, synthetic_gold: dict[str, pa.Table]
) -> None:
    """A day that arrives late restates its period and the next one (change vs previous)."""
    day = dt.date(2025, 3, 31)  # a Monday and a month's last day: weeks and months restated
    assert day in synthetic.dates()[1:-1]
    writes = {w.model: w for w in check_incremental(synthetic, day, synthetic_gold)}
    assert writes["sales_daily"].predicate == "date IN ('2025-03-31', '2025-04-01')"
    assert writes["sales_weekly"].predicate == "week_start IN ('2025-03-31', '2025-04-07')"
    assert writes["sales_monthly"].predicate == "month_start IN ('2025-03-01', '2025-04-01')"


def corrected(silver: SilverTables) -> SilverTables:
    """The same shop before a day of corrections: three dates' orders as first delivered, with
    lines that were added since, products that were corrected, and orders whose time (and so
    their date) was corrected since."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("orders", silver.orders)
    con.register("items", silver.order_items)
    first, products, moved = silver.dates()[5], silver.dates()[12], silver.dates()[20]
    shift = "INTERVAL 3 DAY"
    items = con.sql(
        f"""SELECT * REPLACE (
            CASE WHEN date = DATE '{products}' AND add_to_cart_order = 1
                 THEN product_id % 7 + 1 ELSE product_id END AS product_id,
            CASE WHEN date = DATE '{moved}' AND order_id % 2 = 0
                 THEN order_timestamp - {shift} ELSE order_timestamp END AS order_timestamp,
            CASE WHEN date = DATE '{moved}' AND order_id % 2 = 0
                 THEN CAST(date - {shift} AS DATE) ELSE date END AS date)
        FROM items
        WHERE NOT (date = DATE '{first}' AND add_to_cart_order > 2)"""
    ).to_arrow_table()
    orders = con.sql(
        f"""SELECT * REPLACE (
            CASE WHEN date = DATE '{moved}' AND order_id % 2 = 0
                 THEN order_timestamp - {shift} ELSE order_timestamp END AS order_timestamp,
            CASE WHEN date = DATE '{moved}' AND order_id % 2 = 0
                 THEN CAST(date - {shift} AS DATE) ELSE date END AS date)
        FROM orders"""
    ).to_arrow_table()
    return SilverTables(
        silver.products, orders.cast(silver.orders.schema), items.cast(silver.order_items.schema)
    )


def changes(before: SilverTables, after: SilverTables) -> Touched:
    """What a change data feed reports between two silvers: every changed row's keys."""
    con = duckdb.connect()
    dates: set[dt.date] = set()
    users: set[int] = set()
    products: set[int] = set()
    for name in ("orders", "order_items"):
        con.register("a", getattr(before, name))
        con.register("b", getattr(after, name))
        product = "product_id" if name == "order_items" else "NULL"
        for date, user, product_id in con.sql(
            f"""SELECT date, user_id, {product}
            FROM ((SELECT * FROM a EXCEPT SELECT * FROM b)
                  UNION ALL (SELECT * FROM b EXCEPT SELECT * FROM a))"""
        ).fetchall():
            dates.add(date)
            users.add(user)
            if product_id is not None:
                products.add(product_id)
    return Touched.of(dates, users, products)


def test_corrections_to_earlier_days_equal_a_full_rebuild(
    synthetic: SilverTables, synthetic_gold: dict[str, pa.Table]
) -> None:
    """Lines added to, lines corrected in, and orders moved between days already in gold: the
    additive models subtract what the previous build read and add what silver holds now."""
    before = corrected(synthetic)
    touched = changes(before, synthetic)
    assert touched.dates is not None and len(touched.dates) == 4
    old = build(before)
    con = connect_silver(synthetic, before=before)
    writes = list(refresh_gold(con, touched, old.get, before=BEFORE))
    applied = apply(old, writes)
    assert [m for m in MODELS if not same_rows(applied[m], synthetic_gold[m])] == []
    assert not same_rows(old["product_pair_counts"], synthetic_gold["product_pair_counts"])


def test_an_additive_model_adds_to_what_it_holds(
    synthetic: SilverTables, synthetic_gold: dict[str, pa.Table]
) -> None:
    """The stored running totals are read, not recomputed: a row only the stored table has
    stays, and one the run's dates cancel out is dropped."""
    day = synthetic.dates()[-1]
    earlier = synthetic.without(day)
    old = build(earlier)
    marker = pa.table({"product_a": [10_001], "product_b": [10_002], "pair_orders": [7]})
    old["product_pair_counts"] = pa.concat_tables(
        [old["product_pair_counts"], marker.cast(old["product_pair_counts"].schema)]
    )
    con = connect_silver(synthetic, before=earlier)
    writes = {
        w.model: w
        for w in refresh_gold(con, Touched(*synthetic.touched(day)), old.get, before=BEFORE)
    }
    counts = writes["product_pair_counts"].table
    assert counts.num_rows == synthetic_gold["product_pair_counts"].num_rows + 1
    held = counts.filter(pa.compute.equal(counts.column("product_a"), 10_001))
    assert held.column("pair_orders").to_pylist() == [7]
    # without the silver the stored table read, it cannot subtract: rebuilt from silver
    rebuilt = {
        w.model: w
        for w in refresh_gold(connect_silver(synthetic), Touched(*synthetic.touched(day)), old.get)
    }
    assert same_rows(rebuilt["product_pair_counts"].table, synthetic_gold["product_pair_counts"])


def test_nothing_touched_writes_nothing(synthetic: SilverTables) -> None:
    assert list(refresh_gold(connect_silver(synthetic), Touched.of())) == []


def test_the_session_must_run_in_utc(synthetic: SilverTables) -> None:
    con = connect_silver(synthetic)
    con.execute("SET TimeZone = 'Europe/Paris'")
    with pytest.raises(TerminalError, match="SET TimeZone = 'UTC'"):
        refresh_gold(con, Touched.full())


def test_without_read_gold_dependencies_are_rebuilt(
    synthetic: SilverTables, synthetic_gold: dict[str, pa.Table]
) -> None:
    """customer_segments reads all of customer_profile: without the old table it is rebuilt."""
    day = synthetic.dates()[-1]
    writes = list(refresh_gold(connect_silver(synthetic), Touched(*synthetic.touched(day))))
    modes = {w.model: w.mode for w in writes}
    assert modes["customer_profile"] == "overwrite"
    assert modes["product_pairs"] == "overwrite"
    assert modes["sales_daily"] == "replace"
    by_model = {w.model: w.table for w in writes}
    for name in ("customer_profile", "customer_segments", "reorder_patterns_department"):
        assert same_rows(by_model[name], synthetic_gold[name]), name


def test_only_products_touched(
    synthetic: SilverTables, synthetic_gold: dict[str, pa.Table]
) -> None:
    """A catalog-only change: product-keyed and full models run, date/user models do not."""
    writes = list(
        refresh_gold(connect_silver(synthetic), Touched.of(products=[3, 7]), synthetic_gold.get)
    )
    modes = {w.model: w.mode for w in writes}
    assert "sales_daily" not in modes and "customer_profile" not in modes
    assert modes["reorder_patterns"] == "replace"
    assert {w.model: w for w in writes}["reorder_patterns"].predicate == "product_id IN (3, 7)"
    assert modes["catalog_summary"] == "overwrite"


def test_plan_reads_only_the_periods_it_needs() -> None:
    day = dt.date(2025, 4, 2)  # a Wednesday
    weekly = plan_refresh(get_model("sales_weekly"), Touched.of(dates=[day]))
    assert weekly.mode == "replace"
    assert weekly.key_values == (dt.date(2025, 3, 31), dt.date(2025, 4, 7))
    sql = weekly.sql()
    # the previous week is read (change vs previous week), the rows kept are the two weeks
    assert "BETWEEN CAST('2025-03-24' AS DATE) AND CAST('2025-04-13' AS DATE)" in sql
    monthly = plan_refresh(get_model("sales_monthly"), Touched.of(dates=[day]))
    assert monthly.predicate == "month_start IN ('2025-04-01', '2025-05-01')"
    assert "BETWEEN CAST('2025-03-01' AS DATE) AND CAST('2025-05-31' AS DATE)" in monthly.sql()
    daily = plan_refresh(get_model("department_sales"), Touched.of(dates=[day, day]))
    assert daily.predicate == "date IN ('2025-04-02')"
    assert "BETWEEN CAST('2025-04-02' AS DATE) AND CAST('2025-04-02' AS DATE)" in daily.sql()


def test_plan_by_key_and_full() -> None:
    touched = Touched.of(dates=[dt.date(2025, 4, 2)], users=[5, 2], products=[9])
    profile = plan_refresh(get_model("customer_profile"), touched)
    assert (profile.mode, profile.predicate) == ("replace", "user_id IN (2, 5)")
    assert "user_id IN (2, 5)" in profile.sql("spark")
    reorder = plan_refresh(get_model("reorder_patterns"), touched)
    assert reorder.predicate == "product_id IN (9)"
    # the product's orders are read whole, so other lines of those orders are there too
    assert "order_id IN (SELECT order_id FROM silver.order_items WHERE product_id IN (9))" in (
        reorder.sql(pretty=False)
    )
    assert plan_refresh(get_model("product_pairs"), touched).mode == "overwrite"
    assert plan_refresh(get_model("product_pairs"), Touched.of()).mode == "skip"
    assert plan_refresh(get_model("sales_daily"), Touched.full()).mode == "overwrite"
    assert plan_refresh(get_model("sales_daily"), Touched.of(users=[1])).mode == "skip"


def test_a_model_whose_silver_tables_did_not_change_is_not_refreshed() -> None:
    """Orders alone (their lines arrive later) cannot move the pairs; lines alone cannot move
    the heatmap of order times; `tables` None (unknown) refreshes by the keys alone."""
    day = [dt.date(2025, 4, 2)]
    orders_only = Touched.of(dates=day, users=[5], tables=["silver.orders"])
    lines_only = Touched.of(dates=day, users=[5], products=[9], tables=["silver.order_items"])
    unknown = Touched.of(dates=day, users=[5])
    cases = (orders_only, lines_only, unknown)
    modes = {
        name: tuple(plan_refresh(get_model(name), t).mode for t in cases)
        for name in ("product_pairs", "product_companions", "department_pairs",
                     "department_basket_days", "order_time_heatmap", "payment_methods_weekly",
                     "customer_segments", "upsell_candidates")
    }  # fmt: skip
    assert modes == {
        "product_pairs": ("skip", "overwrite", "overwrite"),
        "product_companions": ("skip", "overwrite", "overwrite"),  # reads gold.product_pairs
        "department_pairs": ("skip", "overwrite", "overwrite"),
        "department_basket_days": ("skip", "replace", "replace"),  # by date: its inputs decide
        "order_time_heatmap": ("overwrite", "skip", "overwrite"),
        "payment_methods_weekly": ("replace", "skip", "replace"),
        "customer_segments": ("overwrite", "overwrite", "overwrite"),
        "upsell_candidates": ("overwrite", "overwrite", "overwrite"),
    }


def test_periods() -> None:
    assert period_start(dt.date(2025, 4, 6), "week") == dt.date(2025, 3, 31)  # Sunday
    assert period_start(dt.date(2025, 4, 7), "week") == dt.date(2025, 4, 7)  # Monday
    assert period_start(dt.date(2025, 4, 30), "month") == dt.date(2025, 4, 1)
    assert shift_period(dt.date(2025, 12, 1), "month", 1) == dt.date(2026, 1, 1)
    assert shift_period(dt.date(2025, 1, 1), "month", -1) == dt.date(2024, 12, 1)
    assert shift_period(dt.date(2025, 3, 31), "week", -1) == dt.date(2025, 3, 24)


def test_touched_flags() -> None:
    assert Touched.full().is_full and not Touched.full().is_empty
    assert Touched.of().is_empty and not Touched.of().is_full
    assert not Touched.of(users=[1]).is_empty


def test_every_keyed_policy_is_in_use() -> None:
    policies = {m.name: m.refresh for m in list_models()}
    assert set(policies.values()) == {"full", "by_date", "by_user", "by_product", "additive"}


def test_refresh_order_puts_the_run_slice_first_and_keeps_dependencies() -> None:
    models = list_models()
    order = [m.name for m in freshest_first()]
    assert sorted(order) == sorted(m.name for m in models)
    for m in models:
        assert all(order.index(d) < order.index(m.name) for d in m.depends_on), m.name
    policies = [get_model(name).refresh for name in order]
    last_by_date = max(i for i, p in enumerate(policies) if p == "by_date")
    first_full = min(i for i, p in enumerate(policies) if p == "full")
    assert last_by_date < first_full
    assert order.index("sales_daily") < order.index("customer_profile")


def test_a_deferred_by_product_model_stays_deferred_when_a_day_touches_the_catalog(
    synthetic: SilverTables, synthetic_gold: dict[str, pa.Table]
) -> None:
    """A day touching most products turns a by_product model's slice into a rebuild, but only
    when the model is refreshed at all: one its staleness budget defers ("skip") is not
    written, and the models reading it take its stored table."""
    every_product = synthetic.products.column("product_id").to_pylist()
    writes = list(
        refresh_gold(
            connect_silver(synthetic),
            Touched.of(products=every_product),
            synthetic_gold.get,
            overrides={"reorder_patterns": "skip", "reorder_patterns_department": "skip"},
        )
    )
    modes = {w.model: w.mode for w in writes}
    assert "reorder_patterns" not in modes and "reorder_patterns_department" not in modes
    assert modes["product_performance"] == "overwrite"  # reads the stored reorder_patterns
    performance = {w.model: w.table for w in writes}["product_performance"]
    assert same_rows(performance, synthetic_gold["product_performance"])


def test_a_model_that_outgrows_duckdbs_memory_limit_is_computed_once_more_with_room(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Not every DuckDB state spills (a list, the sets of a COUNT(DISTINCT ...)): the pipeline's
    session retries such a model once with a larger limit and then sets its own limit back; a
    caller's own connection (no limit given) gets DuckDB's error."""
    from lakehouse.gold.session import DuckDBSession
    from lakehouse.store import query

    monkeypatch.setattr(query, "roomy_memory_limit", lambda: "512MB")
    needs_room = "SELECT len(list(i)) AS n FROM range(3000000) AS t(i)"
    con = duckdb.connect(config={"memory_limit": "20MB", "threads": 1})
    limit = con.sql("SELECT current_setting('memory_limit')").fetchall()
    with pytest.raises(duckdb.OutOfMemoryException):
        DuckDBSession(con).compute(needs_room)

    session = DuckDBSession(con, memory_limit="20MB")
    seen: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = seen.append  # type: ignore[method-assign]
    log = logging.getLogger("lakehouse")
    log.addHandler(handler)
    try:
        assert session.compute(needs_room).to_pylist() == [{"n": 3_000_000}]
        session.temp_table("kept", needs_room)
    finally:
        log.removeHandler(handler)
    assert con.sql("SELECT n FROM kept").fetchall() == [(3_000_000,)]
    assert con.sql("SELECT current_setting('memory_limit')").fetchall() == limit
    raised = [r for r in seen if r.getMessage() == "duckdb_memory_raised"]
    assert [r.fields["retried_with"] for r in raised] == ["512MB", "512MB"]  # type: ignore[attr-defined]
