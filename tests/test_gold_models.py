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


def test_product_pairs_keeps_exactly_the_first_100000_pairs_across_ties() -> None:
    """The data sets above hold far fewer than 100,000 pairs; here 179,700 pair counts with
    many ties at the 100,000th place (counts 1-6, products' basket counts 20-59) are ranked by
    the model and by the oracle: the same pairs, ranks and numbers."""
    import duckdb

    from gold_oracle import ranked_pairs
    from lakehouse.gold.model import get_model

    products = range(1, 601)
    holding = {p: 20 + (p * 37) % 40 for p in products}
    together = {
        (a, b): 1 + (a * 7919 + b * 104729) % 6 for a in products for b in products if a < b
    }
    baskets = 10_000
    con = duckdb.connect()
    con.register("counts", pa.table({
        "product_a": pa.array([a for a, _ in together], pa.int64()),
        "product_b": pa.array([b for _, b in together], pa.int64()),
        "pair_orders": pa.array(list(together.values()), pa.int64()),
    }))  # fmt: skip
    con.register("holding", pa.table({
        "product_id": pa.array(list(holding), pa.int64()),
        "baskets": pa.array(list(holding.values()), pa.int64()),
    }))  # fmt: skip
    con.register("sizes", pa.table({"products": [2], "baskets": pa.array([baskets], pa.int64())}))
    tables = {
        "gold.product_pair_counts": "counts",
        "gold.product_baskets": "holding",
        "gold.basket_sizes": "sizes",
    }
    got = con.sql(render(get_model("product_pairs"), "duckdb", tables=tables)).to_arrow_table()
    expected = ranked_pairs(together, holding, baskets)
    at_cutoff = expected[-1]["pair_orders"]
    assert sum(c == at_cutoff for c in together.values()) > sum(
        r["pair_orders"] == at_cutoff for r in expected
    )  # the cut falls inside a tie
    assert got.num_rows == 100_000
    assert compare("product_pairs", got, expected) == []
