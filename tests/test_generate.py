"""The generator's ground truth, checked independently with DuckDB over the files it wrote."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

from lakehouse.generate import GenerateResult, batch, generate

PAYMENTS = ("card", "paypal", "apple_pay", "google_pay", "bank_transfer", "cash_on_delivery",
            "gift_card")  # fmt: skip
STATUSES = ("placed", "paid", "shipped", "delivered", "cancelled", "returned")
Con = duckdb.DuckDBPyConnection
Shop = tuple[GenerateResult, Path]


def connect(out: Path, ext: str = "csv") -> Con:
    """Tables loaded from the files, every csv value as text, as the pipeline would see them."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for entity in ("products", "orders", "order_items"):
        pattern = str(out / f"{entity}*.{ext}")
        if ext == "csv":
            source = f"read_csv('{pattern}', all_varchar = true, header = true)"
        else:
            source = f"read_parquet('{pattern}')"
        con.execute(f"CREATE TABLE {entity} AS SELECT * FROM {source}")
    return con


def one(con: Con, sql: str) -> Any:
    row = con.execute(sql).fetchone()
    assert row is not None
    return row[0]


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Shop:
    out = tmp_path_factory.mktemp("shop")
    return generate(out, orders=1500, products=150, days=21, seed=7, fmt="csv"), out


@pytest.fixture(scope="module")
def con(shop: Shop) -> Con:
    return connect(shop[1])


def test_counts_match_the_files(shop: Shop, con: Con) -> None:
    r, _ = shop
    assert one(con, "SELECT count(*) FROM orders") == r.orders == 1500
    assert one(con, "SELECT count(*) FROM order_items") == r.order_items
    assert one(con, "SELECT count(*) FROM products") == r.products == 150
    assert r.customers == 375  # orders / 4
    assert r.manifest is None
    assert 3 < r.order_items / r.orders < 7


def test_columns_are_the_lab_columns_in_order(con: Con) -> None:
    def cols(entity: str) -> list[str]:
        return [d[0] for d in con.execute(f"SELECT * FROM {entity} LIMIT 0").description]

    assert " ".join(cols("products")) == (
        "product_id department_id department product_name aisle category unit_price attributes"
    )
    assert " ".join(cols("orders")) == (
        "order_num order_id user_id order_timestamp total_amount date payment_method currency "
        "status"
    )
    assert " ".join(cols("order_items")) == (
        "id order_id user_id days_since_prior_order product_id add_to_cart_order reordered "
        "order_timestamp date quantity unit_price"
    )


def test_enumerations_and_text_formats(con: Con) -> None:
    assert {r[0] for r in con.execute("SELECT DISTINCT payment_method FROM orders").fetchall()} \
        <= set(PAYMENTS)  # fmt: skip
    assert con.execute("SELECT DISTINCT currency FROM orders").fetchall() == [("USD",)]
    assert {r[0] for r in con.execute("SELECT DISTINCT status FROM orders").fetchall()} \
        <= set(STATUSES)  # fmt: skip
    bad = """SELECT count(*) FROM {t} WHERE NOT regexp_full_match(order_timestamp,
             '\\d{{4}}-\\d{{2}}-\\d{{2}}T\\d{{2}}:\\d{{2}}:\\d{{2}}')
             OR NOT regexp_full_match(date, '\\d{{4}}-\\d{{2}}-\\d{{2}}')"""
    assert one(con, bad.format(t="orders")) == 0
    assert one(con, bad.format(t="order_items")) == 0
    money = "NOT regexp_full_match({c}, '\\d+\\.\\d{{2}}')"
    assert one(con, f"SELECT count(*) FROM orders WHERE {money.format(c='total_amount')}") == 0
    assert one(con, f"SELECT count(*) FROM order_items WHERE {money.format(c='unit_price')}") == 0
    assert one(con, f"SELECT count(*) FROM products WHERE {money.format(c='unit_price')}") == 0
    ranges = """SELECT count(*) FROM order_items WHERE id::BIGINT < 1 OR order_id::BIGINT < 1
        OR quantity::BIGINT NOT BETWEEN 1 AND 10000 OR reordered NOT IN ('0', '1')
        OR add_to_cart_order::BIGINT NOT BETWEEN 1 AND 1000
        OR days_since_prior_order::BIGINT NOT BETWEEN 0 AND 3650"""
    assert one(con, ranges) == 0
    attrs = "SELECT attributes FROM products WHERE attributes IS NOT NULL"
    assert all(a.startswith("{") and a.endswith("}") for (a,) in con.execute(attrs).fetchall())


def test_department_id_maps_one_to_one(con: Con) -> None:
    assert one(con, """SELECT max(n) FROM (SELECT count(DISTINCT department) AS n
                       FROM products GROUP BY department_id)""") == 1  # fmt: skip
    assert one(con, """SELECT max(n) FROM (SELECT count(DISTINCT department_id) AS n
                       FROM products GROUP BY department)""") == 1  # fmt: skip


def test_date_is_the_date_of_the_timestamp(con: Con) -> None:
    for t in ("orders", "order_items"):
        sql = f"SELECT count(*) FROM {t} WHERE order_timestamp::TIMESTAMP::DATE <> date::DATE"
        assert one(con, sql) == 0


def test_lines_agree_with_their_order_and_product(con: Con) -> None:
    assert (
        one(
            con,
            """SELECT count(*) FROM order_items i LEFT JOIN orders o USING (order_id)
        WHERE o.order_id IS NULL OR i.user_id <> o.user_id
           OR i.order_timestamp <> o.order_timestamp OR i.date <> o.date""",
        )
        == 0
    )
    assert (
        one(
            con,
            """SELECT count(*) FROM order_items i
        LEFT JOIN products p USING (product_id) WHERE p.product_id IS NULL""",
        )
        == 0
    )
    assert (
        one(
            con,
            """SELECT count(*) FROM orders o
        WHERE NOT EXISTS (SELECT 1 FROM order_items i WHERE i.order_id = o.order_id)""",
        )
        == 0
    )


def check_ids_and_sequences(con: Con) -> None:
    """Ids increase with time; order_num and days_since_prior_order follow each customer."""
    assert one(con, "SELECT count(*) - count(DISTINCT order_id) FROM orders") == 0
    assert one(con, "SELECT count(*) - count(DISTINCT id) FROM order_items") == 0
    assert (
        one(
            con,
            """SELECT count(*) FROM (SELECT order_timestamp::TIMESTAMP AS ts,
        lag(order_timestamp::TIMESTAMP) OVER (ORDER BY order_id::BIGINT) AS prev FROM orders)
        WHERE ts < prev""",
        )
        == 0
    )
    assert (
        one(
            con,
            """SELECT count(*) FROM (SELECT id::BIGINT AS id, lag(id::BIGINT) OVER
        (ORDER BY order_id::BIGINT, add_to_cart_order::BIGINT) AS prev FROM order_items)
        WHERE id <> prev + 1""",
        )
        == 0
    )
    seq = """CREATE OR REPLACE TEMP TABLE seq AS SELECT order_id, order_num::BIGINT AS num,
        row_number() OVER w AS expected,
        floor((epoch(order_timestamp::TIMESTAMP) - epoch(lag(order_timestamp::TIMESTAMP) OVER w))
            / 86400)::BIGINT AS gap
        FROM orders WINDOW w AS (PARTITION BY user_id ORDER BY order_id::BIGINT)"""
    con.execute(seq)
    assert one(con, "SELECT count(*) FROM seq WHERE num <> expected") == 0
    assert (
        one(
            con,
            """SELECT count(*) FROM order_items i JOIN seq USING (order_id)
        WHERE i.days_since_prior_order::BIGINT IS DISTINCT FROM seq.gap""",
        )
        == 0
    )
    assert (
        one(
            con,
            """SELECT count(*) FROM order_items WHERE days_since_prior_order IS NULL
        AND order_id NOT IN (SELECT order_id FROM seq WHERE num = 1)""",
        )
        == 0
    )
    assert (
        one(
            con,
            """SELECT count(*) FROM (SELECT order_id FROM order_items GROUP BY order_id
        HAVING count(DISTINCT coalesce(days_since_prior_order, '-')) > 1)""",
        )
        == 0
    )


def check_reordered_and_cart(con: Con) -> None:
    """reordered = 1 exactly when the customer bought the product in an earlier order;
    add_to_cart_order is 1..n in each order; a product appears once per order."""
    assert (
        one(
            con,
            """SELECT count(*) FROM (SELECT reordered::INT AS flag,
        (min(order_id::BIGINT) OVER (PARTITION BY user_id, product_id)) < order_id::BIGINT
            AS earlier FROM order_items) WHERE flag <> earlier::INT""",
        )
        == 0
    )
    assert (
        one(
            con,
            """SELECT count(*) FROM (SELECT order_id, count(*) AS n,
        count(DISTINCT product_id) AS p, min(add_to_cart_order::INT) AS lo,
        max(add_to_cart_order::INT) AS hi, count(DISTINCT add_to_cart_order) AS d
        FROM order_items GROUP BY order_id) WHERE lo <> 1 OR hi <> n OR d <> n OR p <> n""",
        )
        == 0
    )


def test_ids_order_num_and_days_since_prior_order(con: Con) -> None:
    check_ids_and_sequences(con)
    assert one(con, "SELECT count(*) FROM orders WHERE order_num::INT > 1") > 500


def test_reordered_and_cart_positions(con: Con) -> None:
    check_reordered_and_cart(con)
    assert 0.2 < one(con, "SELECT avg(reordered::INT) FROM order_items") < 0.8


def test_totals_are_lines_plus_shipping(con: Con) -> None:
    """total_amount = sum(quantity * unit_price) + 4.99 when that is below 50.00, exactly."""
    wrong = one(
        con,
        """SELECT count(*) FROM orders o JOIN (SELECT order_id,
            sum(quantity::BIGINT * unit_price::DECIMAL(12,2)) AS sub FROM order_items
            GROUP BY order_id) s USING (order_id)
        WHERE total_amount::DECIMAL(12,2) <> sub + CASE WHEN sub < 50 THEN 4.99 ELSE 0 END""",
    )
    assert wrong == 0
    assert one(con, "SELECT count(*) FROM orders WHERE total_amount::DECIMAL < 50") > 0
    # unit_price is the list price or a discount of it
    assert (
        one(
            con,
            """SELECT count(*) FROM order_items i JOIN products p USING (product_id)
        WHERE i.unit_price::DECIMAL(12,2) > p.unit_price::DECIMAL(12,2)""",
        )
        == 0
    )


def test_statuses_mostly_delivered(con: Con) -> None:
    shares = dict(con.execute("""SELECT status, count(*) / sum(count(*)) OVER ()
        FROM orders GROUP BY status""").fetchall())  # fmt: skip
    assert shares["delivered"] > 0.7
    assert shares["cancelled"] > 0 and shares["returned"] > 0


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> tuple[GenerateResult, Con]:
    out = tmp_path_factory.mktemp("big")
    r = generate(out, orders=12000, products=300, days=28, seed=3, fmt="parquet")
    return r, connect(out, "parquet")


def test_behaviour_analytics_can_find(big: tuple[GenerateResult, Con]) -> None:
    r, con = big
    # long tail: the top tenth of the products sell a large share of the lines
    top = one(
        con,
        """SELECT sum(n) / (SELECT count(*) FROM order_items) FROM (SELECT count(*) AS n
        FROM order_items GROUP BY product_id ORDER BY n DESC LIMIT 30)""",
    )
    assert top > 0.4
    # busy customers: the top tenth of the customers place a large share of the orders
    busy = one(
        con,
        """SELECT sum(n) / 12000 FROM (SELECT count(*) AS n FROM orders
        GROUP BY user_id ORDER BY n DESC LIMIT 300)""",
    )
    assert busy > 0.25
    # weekly pattern, upward trend, time of day
    daily = con.execute("""SELECT dayofweek(date::DATE) IN (0, 6) AS weekend, date,
        count(*) AS n FROM orders GROUP BY ALL ORDER BY date""").fetchall()
    weekend = [n for w, _, n in daily if w]
    weekday = [n for w, _, n in daily if not w]
    assert sum(weekend) / len(weekend) > 1.1 * sum(weekday) / len(weekday)
    assert sum(n for *_, n in daily[-7:]) > 1.15 * sum(n for *_, n in daily[:7])
    evening = one(con, "SELECT count(*) FROM orders WHERE hour(order_timestamp::TIMESTAMP) "
                       "BETWEEN 18 AND 21")  # fmt: skip
    night = one(con, "SELECT count(*) FROM orders WHERE hour(order_timestamp::TIMESTAMP) "
                     "BETWEEN 2 AND 5")  # fmt: skip
    assert evening > 5 * night
    # payment mix drifts: wallets gain share
    wallets = con.execute("""SELECT date::DATE < DATE '2025-04-11' AS early,
        avg((payment_method IN ('apple_pay', 'google_pay'))::INT) FROM orders
        WHERE date::DATE < DATE '2025-04-11' OR date::DATE >= DATE '2025-04-20'
        GROUP BY ALL ORDER BY early""").fetchall()
    assert wallets[0][1] > wallets[1][1] + 0.03  # late (False) sorts first
    # planted complementary pairs show a strong lift
    assert r.pairs
    for a, b in r.pairs:
        lift = one(
            con,
            f"""SELECT (count(*) FILTER (WHERE has_a AND has_b) / count(*) FILTER
            (WHERE has_a)) / (count(*) FILTER (WHERE has_b) / count(*)) FROM (SELECT order_id,
            bool_or(product_id = {a}) AS has_a, bool_or(product_id = {b}) AS has_b
            FROM order_items GROUP BY order_id)""",
        )
        assert lift > 3, (a, b, lift)


def test_chunked_days_keep_every_invariant(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A day split into many chunks (whole hours) still has one consistent customer history."""
    monkeypatch.setattr(batch, "MAX_CHUNK_ORDERS", 15)
    generate(tmp_path, orders=600, products=40, days=3, seed=11, fmt="csv")
    con = connect(tmp_path)
    check_ids_and_sequences(con)
    check_reordered_and_cart(con)


def test_zero_orders_and_tiny_catalog(tmp_path: Path) -> None:
    r = generate(tmp_path / "a", orders=0, products=1, days=2, fmt="csv")
    assert (r.orders, r.order_items, r.products) == (0, 0, 1)
    assert [p.name for p in r.files] == ["products.csv"]
    r = generate(tmp_path / "b", orders=5, products=1, days=10, fmt="xlsx", dirty_rate=0.1)
    assert r.orders == 5 and r.manifest is not None


@pytest.mark.parametrize(
    "kwargs",
    [{"orders": -1}, {"products": 0}, {"days": 0}, {"customers": 0}, {"dirty_rate": 1.5},
     {"fmt": "xml"}],
)  # fmt: skip
def test_invalid_arguments_are_refused(tmp_path: Path, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        generate(tmp_path, **kwargs)
