"""Silver-shaped synthetic shop data for gold tests and benchmarks (numpy, vectorised).

Unlike the lab data it has prices, quantities, payment methods, aisles and categories, with a
controllable share of nulls, so every revenue rule is exercised: priced lines, unpriced lines
(revenue allocated from the order total), and orders that mix both.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

DEPARTMENTS = ("Books", "Clothing", "Electronics", "Garden", "Grocery", "Home", "Sports", "Toys")
PAYMENT_METHODS = (
    "card", "paypal", "apple_pay", "google_pay", "bank_transfer", "cash_on_delivery", "gift_card",
)  # fmt: skip
CURRENCIES = ("USD", "EUR", "GBP", "CAD", "AUD")
STATUSES = ("placed", "paid", "shipped", "delivered", "cancelled", "returned")
UTC = pa.timestamp("us", tz="UTC")
MONEY = pa.decimal128(12, 2)


@dataclass(frozen=True)
class SilverTables:
    products: pa.Table
    orders: pa.Table
    order_items: pa.Table

    def until(self, last: dt.date) -> SilverTables:
        """The same shop as it was with orders up to and including `last`."""
        return self._filter(lambda t: pc.less_equal(t.column("date"), pa.scalar(last, pa.date32())))

    def without(self, day: dt.date) -> SilverTables:
        """The same shop with one day's orders missing (as if that day arrived late)."""
        return self._filter(lambda t: pc.not_equal(t.column("date"), pa.scalar(day, pa.date32())))

    def _filter(self, keep: Callable[[pa.Table], pa.ChunkedArray]) -> SilverTables:
        return SilverTables(
            self.products, self.orders.filter(keep(self.orders)),
            self.order_items.filter(keep(self.order_items)),
        )  # fmt: skip

    def dates(self) -> list[dt.date]:
        return sorted(pc.unique(self.orders.column("date")).to_pylist())

    def touched(self, day: dt.date) -> tuple[frozenset[dt.date], frozenset[int], frozenset[int]]:
        """Dates, users and products of one day's orders: what adding that day touches."""
        day_items = self.order_items.filter(
            pc.equal(self.order_items.column("date"), pa.scalar(day, pa.date32()))
        )
        day_orders = self.orders.filter(
            pc.equal(self.orders.column("date"), pa.scalar(day, pa.date32()))
        )
        users = set(pc.unique(day_orders.column("user_id")).to_pylist())
        users |= set(pc.unique(day_items.column("user_id")).to_pylist())
        return (
            frozenset({day}),
            frozenset(users),
            frozenset(pc.unique(day_items.column("product_id")).to_pylist()),
        )


def money(cents: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """decimal128(12,2) array from integer cents, built from buffers (fast for millions)."""
    cents = np.ascontiguousarray(cents, dtype=np.int64)
    words = np.empty((len(cents), 2), dtype=np.int64)
    words[:, 0] = cents
    words[:, 1] = np.where(cents < 0, -1, 0)
    validity = None
    nulls = 0
    if valid is not None and not valid.all():
        validity = pa.py_buffer(np.packbits(valid.astype(np.uint8), bitorder="little"))
        nulls = int((~valid).sum())
    return pa.Array.from_buffers(
        MONEY, len(cents), [validity, pa.py_buffer(words.tobytes())], null_count=nulls
    )


def _masked(values: np.ndarray, valid: np.ndarray, type_: pa.DataType) -> pa.Array:
    return pa.array(values, type=type_, mask=~valid)


def _strings(
    choices: tuple[str, ...], index: np.ndarray, valid: np.ndarray | None = None
) -> pa.Array:
    dictionary = pa.DictionaryArray.from_arrays(
        pa.array(index.astype(np.int32), mask=None if valid is None else ~valid), list(choices)
    )
    return dictionary.cast(pa.string())


def generate_silver(
    *,
    items: int = 20_000,
    days: int = 21,
    products: int = 400,
    start: dt.date = dt.date(2025, 3, 3),
    seed: int = 7,
    price_null_rate: float = 0.15,
    quantity_null_rate: float = 0.2,
    payment_null_rate: float = 0.1,
    unpriced_order_rate: float = 0.1,
) -> SilverTables:
    """About `items` order lines over `days` days, with silver's exact Arrow schema."""
    rng = np.random.default_rng(seed)
    n_orders = max(1, items // 5)
    n_users = max(1, n_orders // 3)

    # products -----------------------------------------------------------------------------
    pid = np.arange(1, products + 1, dtype=np.int64)
    dept = rng.integers(0, len(DEPARTMENTS), products)
    aisle_no = rng.integers(1, 5, products)
    aisle_valid = rng.random(products) > 0.1
    aisles = tuple(f"{d.lower()}-{a}" for d in DEPARTMENTS for a in range(1, 5))
    list_cents = rng.integers(199, 25_000, products)
    list_valid = rng.random(products) > 0.05
    product_table = pa.table(
        {
            "product_id": pa.array(pid),
            "department_id": pa.array(dept.astype(np.int64) + 1),
            "department": _strings(DEPARTMENTS, dept),
            "product_name": pa.array([f"Product {i}" for i in pid]),
            "aisle": _strings(aisles, dept * 4 + aisle_no - 1, aisle_valid),
            "category": _strings(("basic", "premium", "sale"), rng.integers(0, 3, products)),
            "unit_price": money(list_cents, list_valid),
            "attributes": pa.nulls(products, pa.string()),
            "_run_id": _strings(("synthetic",), np.zeros(products, dtype=np.int64)),
        }
    )

    # orders -------------------------------------------------------------------------------
    popularity = rng.pareto(1.2, n_users) + 1
    user = rng.choice(np.arange(1, n_users + 1), n_orders, p=popularity / popularity.sum())
    day = rng.integers(0, days, n_orders)
    second = rng.integers(0, 86_400, n_orders)
    epoch0 = int(
        (dt.datetime(start.year, start.month, start.day) - dt.datetime(1970, 1, 1)).total_seconds()
    )
    ts_seconds = epoch0 + day * 86_400 + second
    order_sort = np.lexsort((second, day))  # order ids follow time
    user, day, ts_seconds = user[order_sort], day[order_sort], ts_seconds[order_sort]
    order_id = np.arange(100_001, 100_001 + n_orders, dtype=np.int64)

    by_user = np.lexsort((order_id, ts_seconds, user))
    order_num = np.empty(n_orders, dtype=np.int64)
    prior_days = np.full(n_orders, -1, dtype=np.int64)
    su = user[by_user]
    first = np.r_[True, su[1:] != su[:-1]]
    run_start = np.maximum.accumulate(np.where(first, np.arange(n_orders), 0))
    order_num[by_user] = np.arange(n_orders) - run_start + 1
    gaps = np.r_[0, np.diff(ts_seconds[by_user])] // 86_400
    prior_days[by_user] = np.where(first, -1, gaps)

    # order lines --------------------------------------------------------------------------
    basket = np.minimum(1 + rng.poisson(4.0, n_orders), 40)
    n_items = int(basket.sum())
    line_order = np.repeat(np.arange(n_orders), basket)
    starts = np.repeat(np.cumsum(basket) - basket, basket)
    cart = np.arange(n_items) - starts + 1
    weights = rng.pareto(1.5, products) + 1
    line_product = rng.choice(pid, n_items, p=weights / weights.sum())
    quantity = 1 + rng.poisson(0.6, n_items)
    quantity_valid = rng.random(n_items) >= quantity_null_rate
    qty_effective = np.where(quantity_valid, quantity, 1)
    unpriced_order = rng.random(n_orders) < unpriced_order_rate
    price_valid = (
        (rng.random(n_items) >= price_null_rate)
        & list_valid[line_product - 1]
        & ~unpriced_order[line_order]
    )
    line_cents = list_cents[line_product - 1]

    # reordered: the customer bought this product in an earlier order
    line_user = user[line_order]
    line_oid = order_id[line_order]
    key = np.lexsort((line_oid, ts_seconds[line_order], line_product, line_user))
    new_group = np.r_[
        True,
        (line_user[key][1:] != line_user[key][:-1])
        | (line_product[key][1:] != line_product[key][:-1]),
    ]
    group_first = np.maximum.accumulate(np.where(new_group, np.arange(n_items), 0))
    reordered = np.empty(n_items, dtype=np.int64)
    reordered[key] = (line_oid[key] != line_oid[key][group_first]).astype(np.int64)

    # totals: priced lines plus a list-price estimate for unpriced ones, plus shipping
    estimate = np.where(price_valid, line_cents, list_cents[line_product - 1]) * qty_effective
    totals = np.bincount(line_order, weights=estimate, minlength=n_orders).astype(np.int64)
    shipping = np.where(rng.random(n_orders) < 0.3, 499, 0)
    total_cents = totals + shipping

    payment = rng.integers(0, len(PAYMENT_METHODS), n_orders)
    payment_valid = rng.random(n_orders) >= payment_null_rate
    order_ts = pa.array(ts_seconds * 1_000_000, type=pa.int64()).cast(UTC)
    order_date = pa.array((epoch0 // 86_400 + day).astype(np.int32), type=pa.int32()).cast(
        pa.date32()
    )
    orders = pa.table(
        {
            "order_num": pa.array(order_num),
            "order_id": pa.array(order_id),
            "user_id": pa.array(user.astype(np.int64)),
            "order_timestamp": order_ts,
            "total_amount": money(total_cents),
            "date": order_date,
            "payment_method": _strings(PAYMENT_METHODS, payment, payment_valid),
            "currency": _strings(CURRENCIES, np.zeros(n_orders, dtype=np.int64)),
            "status": _strings(STATUSES, rng.integers(0, len(STATUSES), n_orders)),
            "_run_id": _strings(("synthetic",), np.zeros(n_orders, dtype=np.int64)),
        }
    )
    line_prior = prior_days[line_order]
    order_items = pa.table(
        {
            "id": pa.array(np.arange(1, n_items + 1, dtype=np.int64)),
            "order_id": pa.array(order_id[line_order]),
            "user_id": pa.array(line_user.astype(np.int64)),
            "days_since_prior_order": _masked(line_prior, line_prior >= 0, pa.int64()),
            "product_id": pa.array(line_product),
            "add_to_cart_order": pa.array(cart.astype(np.int64)),
            "reordered": pa.array(reordered),
            "order_timestamp": order_ts.take(pa.array(line_order)),
            "date": order_date.take(pa.array(line_order)),
            "quantity": _masked(quantity.astype(np.int64), quantity_valid, pa.int64()),
            "unit_price": money(line_cents, price_valid),
            "_run_id": _strings(("synthetic",), np.zeros(n_items, dtype=np.int64)),
        }
    )
    return SilverTables(product_table, orders, order_items)


def silver_from_parquet(folder: str | Path) -> SilverTables:
    """Silver-shaped tables from `lakehouse.generate(..., fmt="parquet")` output: the lab layout
    (products.parquet, orders_*.parquet, order_items_*.parquet) cast to silver's Arrow types."""
    import pyarrow.parquet as pq

    root = Path(folder)

    def read(pattern: str) -> pa.Table:
        files = sorted(root.glob(pattern))
        if not files:
            raise FileNotFoundError(f"{root}: no {pattern} files")
        return pa.concat_tables([pq.read_table(f) for f in files], promote_options="permissive")

    def typed(table: pa.Table, columns: dict[str, pa.DataType]) -> pa.Table:
        for name, type_ in columns.items():
            i = table.column_names.index(name)
            column = table.column(i)
            if type_ == UTC and not pa.types.is_timestamp(column.type):
                column = pc.assume_timezone(column.cast(pa.timestamp("us")), "UTC")
            table = table.set_column(i, name, column.cast(type_))
        return table

    when = {"order_timestamp": UTC, "date": pa.date32()}
    return SilverTables(
        typed(read("products.parquet"), {"unit_price": MONEY}),
        typed(read("orders_*.parquet"), {**when, "total_amount": MONEY}),
        typed(read("order_items_*.parquet"), {**when, "unit_price": MONEY}),
    )
