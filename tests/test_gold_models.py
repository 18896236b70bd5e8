"""Every gold number against an independent pandas computation (tests/gold_oracle.py).

Three data sets: the lab data (no prices, quantities or payment methods: revenue is allocated
from order totals); synthetic silver tables with prices, quantities, payment methods, aisles and
a share of nulls in each (priced, unpriced and mixed orders); and the project's generator
(`lakehouse.generate`, realistic customers and baskets, every line priced).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from gold_oracle import ORACLES, Shop, compare, connect_silver, load_lab_silver
from lakehouse.gold import Touched, list_models, refresh_gold
from lakehouse.gold.render import render
from synthetic_silver import SilverTables, generate_silver, silver_from_parquet

MODELS = [m.name for m in list_models()]


def build(silver: SilverTables) -> dict[str, pa.Table]:
    con = connect_silver(silver)
    writes = list(refresh_gold(con, Touched.full()))
    assert all(w.mode == "overwrite" and w.predicate is None for w in writes)
    return {w.model: w.table for w in writes}


def prepare(silver: SilverTables) -> dict[str, Any]:
    return {"silver": silver, "shop": Shop(silver), "gold": build(silver)}


@pytest.fixture(scope="module")
def lab_data() -> dict[str, Any]:
    return prepare(load_lab_silver())


@pytest.fixture(scope="module")
def synthetic_data() -> dict[str, Any]:
    return prepare(generate_silver(items=15_000, days=40, products=300, seed=11))


@pytest.fixture(scope="module")
def generated_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from lakehouse.generate import generate

    out = tmp_path_factory.mktemp("generated")
    generate(out, orders=2500, days=30, products=300, seed=3, fmt="parquet")
    return prepare(silver_from_parquet(out))


DATA_SETS = ["lab_data", "synthetic_data", "generated_data"]


def test_the_oracle_covers_every_model() -> None:
    assert sorted(ORACLES) == sorted(MODELS)


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("data", DATA_SETS)
def test_numbers_match_the_oracle(data: str, model: str, request: pytest.FixtureRequest) -> None:
    d = request.getfixturevalue(data)
    assert compare(model, d["gold"][model], ORACLES[model](d["shop"])) == []


def test_compare_notices_a_cent_and_a_float_off(lab_data: dict[str, Any]) -> None:
    lab = lab_data
    table = lab["gold"]["sales_daily"]
    rows = table.to_pylist()
    rows[0]["revenue"] += Decimal("0.01")
    rows[1]["aov"] *= 1 + 1e-8
    rows[2]["items"] += 1
    problems = compare("sales_daily", pa.Table.from_pylist(rows, schema=table.schema),
                       ORACLES["sales_daily"](lab["shop"]))  # fmt: skip
    assert len(problems) == 3
    assert compare("sales_daily", table.slice(1), ORACLES["sales_daily"](lab["shop"]))


def test_lab_headline_numbers(lab_data: dict[str, Any]) -> None:
    gold = lab_data["gold"]
    daily = gold["sales_daily"]
    assert daily.num_rows == 15
    assert pc.sum(daily["orders"]).as_py() == 7500
    assert pc.sum(daily["items"]).as_py() == 40803
    assert pc.sum(daily["revenue"]).as_py() == Decimal("1945810.41")
    assert gold["sales_monthly"].column("customers").to_pylist() == [5063]
    repeat = gold["repeat_purchase"].to_pylist()[0]
    assert (repeat["total_customers"], repeat["repeat_customers"]) == (5063, 5063 - 3233)
    assert {r["payment_method"] for r in gold["payment_methods"].to_pylist()} == {"unknown"}
    # every product sold, so none is never-sold and all of them are in the catalog rows
    catalog = {r["level"]: r for r in gold["catalog_summary"].to_pylist() if r["level"] == "all"}
    assert catalog["all"]["products"] == 1000 and catalog["all"]["never_sold_products"] == 0
    assert gold["order_time_heatmap"].num_rows == 168
    assert pc.sum(gold["order_time_heatmap"]["orders"]).as_py() == 7500


@pytest.mark.parametrize("data", DATA_SETS)
def test_line_revenue_adds_up_to_unpriced_order_totals(
    data: str, request: pytest.FixtureRequest
) -> None:
    """The allocation rule: lines of an order without prices sum exactly to its total."""
    con = connect_silver(request.getfixturevalue(data)["silver"])
    bad = con.sql(
        f"""
        WITH lr AS ({render("line_revenue")}),
        per_order AS (
            SELECT order_id, SUM(revenue) AS revenue, COUNT(unit_price) AS priced
            FROM lr GROUP BY order_id
        )
        SELECT COUNT(*) FROM per_order JOIN silver.orders USING (order_id)
        WHERE priced = 0 AND revenue <> total_amount
        """
    ).fetchall()
    assert bad == [(0,)]


def test_synthetic_data_exercises_every_revenue_path(synthetic_data: dict[str, Any]) -> None:
    synthetic = synthetic_data
    items = synthetic["silver"].order_items
    assert 0 < items["unit_price"].null_count < items.num_rows
    assert 0 < items["quantity"].null_count < items.num_rows
    assert synthetic["silver"].orders["payment_method"].null_count > 0
    assert len(synthetic["silver"].dates()) == 40
    mixed = (
        synthetic["shop"]
        .items.groupby("order_id")["price_cents"]
        .agg(lambda s: 0 < s.isna().sum() < len(s))
    )
    assert mixed.sum() > 50


def test_types_are_consistent(request: pytest.FixtureRequest) -> None:
    """The same Arrow schema whatever the data; money decimal(18,2), averages double."""
    golds = [request.getfixturevalue(d)["gold"] for d in DATA_SETS]
    for gold in golds:
        for name, table in gold.items():
            assert table.schema == golds[0][name].schema, name
            for field in table.schema:
                assert not pa.types.is_int32(field.type), (name, field.name)
                if field.name in {"revenue", "spend", "monetary"}:
                    assert field.type == pa.decimal128(18, 2), (name, field.name)
                if field.name in {"aov", "reorder_rate"}:
                    assert field.type == pa.float64(), (name, field.name)
                if field.name.endswith("_at"):
                    assert field.type == pa.timestamp("us", tz="UTC")


def test_trend_window_ends_on_the_newest_date(synthetic_data: dict[str, Any]) -> None:
    synthetic = synthetic_data
    perf = synthetic["gold"]["product_performance"]
    last = synthetic["silver"].dates()[-1]
    items = synthetic["shop"].items
    recent = items[items["date"] > last - dt.timedelta(days=7)]
    assert pc.sum(perf["units_last_7d"]).as_py() == int(recent["qty"].sum())
