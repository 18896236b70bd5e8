"""Independent, straightforward pandas/Python computations of every gold model.

Nothing here reads the models' SQL: each function re-derives a model's rows from the silver
tables by its documented definition, with money in integer cents (exact) and plain Python loops
where that is the clearest. Tests compare the SQL results to these rows, column by column.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from synthetic_silver import SilverTables

LAB = Path(__file__).parent / "data" / "lab"
UTC = pa.timestamp("us", tz="UTC")
MONEY = pa.decimal128(12, 2)
Row = dict[str, Any]


# --- silver tables from the lab CSVs ---------------------------------------------------------
def _csv(path: Path, types: dict[str, pa.DataType]) -> pa.Table:
    return pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types=types))


def _utc(table: pa.Table, column: str) -> pa.Table:
    i = table.column_names.index(column)
    return table.set_column(i, column, pc.assume_timezone(table.column(column), "UTC"))


def _with_nulls(table: pa.Table, columns: dict[str, pa.DataType]) -> pa.Table:
    for name, type_ in columns.items():
        table = table.append_column(name, pa.nulls(table.num_rows, type_))
    return table.append_column("_source_file", pa.array(["lab.csv"] * table.num_rows))


def load_lab_silver(folder: Path = LAB) -> SilverTables:
    """The lab CSVs as silver tables: the exact silver Arrow types, optional columns null."""
    products = _csv(
        folder / "products.csv",
        {"product_id": pa.int64(), "department_id": pa.int64(), "department": pa.string(),
         "product_name": pa.string()},
    )  # fmt: skip
    products = _with_nulls(
        products,
        {"aisle": pa.string(), "category": pa.string(), "unit_price": MONEY,
         "attributes": pa.string()},
    )  # fmt: skip
    orders = _csv(
        folder / "orders.csv",
        {"order_num": pa.int64(), "order_id": pa.int64(), "user_id": pa.int64(),
         "order_timestamp": pa.timestamp("us"), "total_amount": MONEY, "date": pa.date32()},
    )  # fmt: skip
    orders = _with_nulls(
        _utc(orders, "order_timestamp"),
        {"payment_method": pa.string(), "currency": pa.string(), "status": pa.string()},
    )
    items = _csv(
        folder / "order_items.csv",
        {"id": pa.int64(), "order_id": pa.int64(), "user_id": pa.int64(),
         "days_since_prior_order": pa.int64(), "product_id": pa.int64(),
         "add_to_cart_order": pa.int64(), "reordered": pa.int64(),
         "order_timestamp": pa.timestamp("us"), "date": pa.date32()},
    )  # fmt: skip
    items = _with_nulls(
        _utc(items, "order_timestamp"), {"quantity": pa.int64(), "unit_price": MONEY}
    )
    return SilverTables(products, orders, items)


# --- the shop as plain pandas -----------------------------------------------------------------
def _cents(values: pa.ChunkedArray) -> pd.Series:
    """decimal(12,2) -> integer cents (nullable Int64), exactly."""
    out = [None if v is None else int(v * 100) for v in values.to_pylist()]
    return pd.Series(out, dtype="Int64")


@dataclass
class Shop:
    silver: SilverTables
    memo: dict[str, list[Row]] = field(default_factory=dict)

    @cached_property
    def products(self) -> pd.DataFrame:
        t = self.silver.products
        return pd.DataFrame(
            {
                "product_id": t.column("product_id").to_pylist(),
                "product_name": t.column("product_name").to_pylist(),
                "department": t.column("department").to_pylist(),
                "aisle": t.column("aisle").to_pylist(),
                "category": t.column("category").to_pylist(),
            }
        )

    @cached_property
    def orders(self) -> pd.DataFrame:
        t = self.silver.orders
        return pd.DataFrame(
            {
                "order_id": t.column("order_id").to_pylist(),
                "user_id": t.column("user_id").to_pylist(),
                "ts": pd.to_datetime(t.column("order_timestamp").to_pylist(), utc=True),
                "date": t.column("date").to_pylist(),
                "cents": _cents(t.column("total_amount")).astype("int64"),
                "payment": [p or "unknown" for p in t.column("payment_method").to_pylist()],
            }
        )

    @cached_property
    def items(self) -> pd.DataFrame:
        t = self.silver.order_items
        qty = [1 if q is None else q for q in t.column("quantity").to_pylist()]
        df = pd.DataFrame(
            {
                "id": t.column("id").to_pylist(),
                "order_id": t.column("order_id").to_pylist(),
                "user_id": t.column("user_id").to_pylist(),
                "product_id": t.column("product_id").to_pylist(),
                "ts": pd.to_datetime(t.column("order_timestamp").to_pylist(), utc=True),
                "date": t.column("date").to_pylist(),
                "cart": t.column("add_to_cart_order").to_pylist(),
                "reordered": t.column("reordered").to_pylist(),
                "dspo": pd.Series(t.column("days_since_prior_order").to_pylist(), dtype="Int64"),
                "qty": qty,
                "price_cents": _cents(t.column("unit_price")),
            }
        )
        df["revenue_cents"] = df["id"].map(self._line_revenue(df))
        return df.merge(self.products[["product_id", "department"]], on="product_id")

    def _line_revenue(self, items: pd.DataFrame) -> dict[int, int]:
        """Priced lines: price * qty. Unpriced lines share the rest of the order total by
        quantity, to the cent, leftover cents to the largest remainders (then lowest id)."""
        totals = dict(zip(self.orders["order_id"], self.orders["cents"], strict=True))
        by_order: dict[int, list[tuple[int, int, Any]]] = defaultdict(list)
        for line in zip(
            items["order_id"], items["id"], items["qty"], items["price_cents"], strict=True
        ):
            by_order[line[0]].append(line[1:])
        revenue: dict[int, int] = {}
        for order_id, lines in by_order.items():
            priced = 0
            unpriced: list[tuple[int, int]] = []
            for line_id, qty, price in lines:
                if pd.isna(price):
                    unpriced.append((line_id, qty))
                else:
                    revenue[line_id] = int(price) * qty
                    priced += revenue[line_id]
            if not unpriced:
                continue
            pool = max(int(totals[order_id]) - priced, 0)
            weight = sum(q for _, q in unpriced)
            shares = [(pool * q // weight, pool * q % weight, i) for i, q in unpriced]
            leftover = pool - sum(s[0] for s in shares)
            for rank, (base, _, line_id) in enumerate(sorted(shares, key=lambda s: (-s[1], s[2]))):
                revenue[line_id] = base + (1 if rank < leftover else 0)
        return revenue

    @cached_property
    def as_of(self) -> dt.date:
        return max(self.orders["date"])


# --- helpers ----------------------------------------------------------------------------------
def _memo(oracle: Callable[[Shop], list[Row]]) -> Callable[[Shop], list[Row]]:
    """Compute an oracle once per shop (others build on it); callers must not change rows."""

    def cached(shop: Shop) -> list[Row]:
        if oracle.__name__ not in shop.memo:
            shop.memo[oracle.__name__] = oracle(shop)
        return shop.memo[oracle.__name__]

    cached.__name__ = oracle.__name__
    return cached


def money(cents: int | None) -> Decimal | None:
    return None if cents is None else Decimal(int(cents)) / 100


def ratio(a: float | int | None, b: float | int | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return float(a) / float(b)


def week_of(d: dt.date) -> dt.date:
    return d - dt.timedelta(days=d.weekday())


def month_of(d: dt.date) -> dt.date:
    return d.replace(day=1)


def previous_month(d: dt.date) -> dt.date:
    return (d - dt.timedelta(days=1)).replace(day=1)


# --- sales ------------------------------------------------------------------------------------
def _sales(
    shop: Shop, key: str, period: Callable[[dt.date], dt.date], prev: Callable[[dt.date], dt.date]
) -> list[Row]:
    o, i = shop.orders, shop.items
    rows: dict[dt.date, Row] = {}
    o_period = o["date"].map(period)
    i_period = i["date"].map(period)
    for p in sorted(set(o_period)):
        po, pi = o[o_period == p], i[i_period == p]
        orders, cents, items = len(po), int(po["cents"].sum()), int(pi["qty"].sum())
        row: Row = {key: p}
        if key != "date":
            row["days"] = po["date"].nunique()
        row |= {
            "orders": orders, "revenue": money(cents), "aov": cents / 100 / orders,
            "items": items, "lines": len(pi), "items_per_order": items / orders,
            "customers": po["user_id"].nunique(), "_cents": cents,
        }  # fmt: skip
        rows[p] = row
    for p, row in rows.items():
        before = rows.get(prev(p))
        row["prev_orders"] = before["orders"] if before else None
        row["prev_revenue"] = before["revenue"] if before else None
        row["orders_change_rate"] = (
            (row["orders"] - before["orders"]) / before["orders"] if before else None
        )
        row["revenue_change"] = money(row["_cents"] - before["_cents"]) if before else None
        row["revenue_change_rate"] = (
            (row["_cents"] - before["_cents"]) / before["_cents"]
            if before and before["_cents"] > 0
            else None
        )
    for row in rows.values():
        del row["_cents"]
    return list(rows.values())


def sales_daily(shop: Shop) -> list[Row]:
    return _sales(shop, "date", lambda d: d, lambda d: d - dt.timedelta(days=1))


def sales_weekly(shop: Shop) -> list[Row]:
    return _sales(shop, "week_start", week_of, lambda d: d - dt.timedelta(days=7))


def sales_monthly(shop: Shop) -> list[Row]:
    return _sales(shop, "month_start", month_of, previous_month)


def department_sales(shop: Shop) -> list[Row]:
    i = shop.items
    day_cents = i.groupby("date")["revenue_cents"].sum()
    rows = []
    for (d, dept), g in i.groupby(["date", "department"]):
        cents = int(g["revenue_cents"].sum())
        rows.append(
            {"date": d, "department": dept, "units": int(g["qty"].sum()), "lines": len(g),
             "orders": g["order_id"].nunique(), "customers": g["user_id"].nunique(),
             "revenue": money(cents), "revenue_share": ratio(cents, int(day_cents[d]))}
        )  # fmt: skip
    return rows


# --- products ---------------------------------------------------------------------------------
def product_days(shop: Shop) -> list[Row]:
    per_day = shop.items.groupby(["date", "product_id"]).agg(
        units=("qty", "sum"), lines=("id", "size"), orders=("order_id", "nunique"),
        cents=("revenue_cents", "sum"), reordered=("reordered", "sum"),
    )  # fmt: skip
    return [
        {"date": day, "product_id": pid, "units": int(r["units"]), "lines": int(r["lines"]),
         "orders": int(r["orders"]), "revenue": money(r["cents"]),
         "reordered_lines": int(r["reordered"])}
        for (day, pid), r in per_day.iterrows()
    ]  # fmt: skip


def product_performance(shop: Shop) -> list[Row]:
    i = shop.items
    last = i["date"] > shop.as_of - dt.timedelta(days=7)
    prev = (i["date"] > shop.as_of - dt.timedelta(days=14)) & ~last
    per_product = i.groupby("product_id").agg(
        units=("qty", "sum"), lines=("id", "size"), orders=("order_id", "nunique"),
        customers=("user_id", "nunique"), cents=("revenue_cents", "sum"),
        reordered=("reordered", "sum"),
    )  # fmt: skip
    df = shop.products.set_index("product_id").join(per_product)
    for column in ("units", "lines", "orders", "customers", "cents"):
        df[column] = df[column].fillna(0).astype(int)
    df["last_units"] = i[last].groupby("product_id")["qty"].sum()
    df["prev_units"] = i[prev].groupby("product_id")["qty"].sum()
    df["last_cents"] = i[last].groupby("product_id")["revenue_cents"].sum()
    df["prev_cents"] = i[prev].groupby("product_id")["revenue_cents"].sum()
    for column in ("last_units", "prev_units", "last_cents", "prev_cents"):
        df[column] = df[column].fillna(0).astype(int)
    df["dept_units"] = df.groupby("department")["units"].transform("sum")
    df["dept_cents"] = df.groupby("department")["cents"].transform("sum")
    df["rank"] = df["cents"].rank(method="min", ascending=False).astype(int)
    df["dept_rank"] = df.groupby("department")["cents"].rank(method="min", ascending=False)
    rows = []
    for pid, r in df.iterrows():
        rows.append(
            {
                "product_id": pid, "product_name": r["product_name"],
                "department": r["department"], "aisle": r["aisle"], "category": r["category"],
                "units": r["units"], "lines": r["lines"], "orders": r["orders"],
                "customers": r["customers"], "revenue": money(r["cents"]),
                "reorder_rate": ratio(r["reordered"], r["lines"]),
                "department_units_share": ratio(r["units"], r["dept_units"]),
                "department_revenue_share": ratio(r["cents"], r["dept_cents"]),
                "revenue_rank": r["rank"], "department_revenue_rank": int(r["dept_rank"]),
                "units_last_7d": r["last_units"], "units_prev_7d": r["prev_units"],
                "units_trend": ratio(r["last_units"] - r["prev_units"], r["prev_units"]),
                "revenue_last_7d": money(r["last_cents"]),
                "revenue_prev_7d": money(r["prev_cents"]),
            }
        )  # fmt: skip
    return rows


def _reorder_stats(shop: Shop, by: str) -> pd.DataFrame:
    """Reorder figures of the lines grouped by `by` (product_id or department)."""
    i = shop.items
    reordered = i["reordered"] == 1
    lines = i.assign(
        r=reordered.astype(int), f=(~reordered).astype(int),
        cart_r=i["cart"].where(reordered, 0), cart_f=i["cart"].where(~reordered, 0),
        dspo_r=i["dspo"].where(reordered), dspo_n=(reordered & i["dspo"].notna()).astype(int),
    )  # fmt: skip
    # time between consecutive orders of one customer that hold the same product
    purchases = i.drop_duplicates(["user_id", "product_id", "order_id"]).sort_values(
        ["user_id", "product_id", "ts", "order_id"]
    )
    again = (purchases["user_id"] == purchases["user_id"].shift()) & (
        purchases["product_id"] == purchases["product_id"].shift()
    )
    gaps = purchases.assign(gap=(purchases["ts"] - purchases["ts"].shift()).dt.total_seconds())
    gaps = gaps[again]
    out = lines.groupby(by).agg(
        lines=("id", "size"), reordered_lines=("r", "sum"), first_time_lines=("f", "sum"),
        cart_r=("cart_r", "sum"), cart_f=("cart_f", "sum"), dspo_sum=("dspo_r", "sum"),
        dspo_n=("dspo_n", "sum"), products=("product_id", "nunique"),
    )  # fmt: skip
    out["repurchases"] = gaps.groupby(by)["gap"].size()
    out["gap_seconds"] = gaps.groupby(by)["gap"].sum()
    out[["repurchases", "gap_seconds"]] = out[["repurchases", "gap_seconds"]].fillna(0)
    return out


def _reorder_row(r: pd.Series) -> Row:
    return {
        "lines": r["lines"], "reordered_lines": r["reordered_lines"],
        "first_time_lines": r["first_time_lines"],
        "reorder_rate": ratio(r["reordered_lines"], r["lines"]),
        "avg_cart_position_reordered": ratio(r["cart_r"], r["reordered_lines"]),
        "avg_cart_position_first_time": ratio(r["cart_f"], r["first_time_lines"]),
        "avg_days_since_prior_order_reordered": ratio(r["dspo_sum"], r["dspo_n"]),
        "repurchases": int(r["repurchases"]),
        "avg_days_to_repurchase": ratio(r["gap_seconds"], 86400 * r["repurchases"]),
    }  # fmt: skip


def reorder_patterns(shop: Shop) -> list[Row]:
    stats = _reorder_stats(shop, "product_id")
    buys = shop.items.groupby(["product_id", "user_id"])["order_id"].nunique()
    customers = buys.groupby("product_id").size()
    repeat = (buys > 1).groupby("product_id").sum()
    p = shop.products.set_index("product_id")
    rows = []
    for pid, r in stats.iterrows():
        rows.append(
            {"product_id": pid, "product_name": p.loc[pid, "product_name"],
             "department": p.loc[pid, "department"], **_reorder_row(r),
             "customers": customers[pid], "repeat_customers": int(repeat[pid]),
             "repeat_customer_rate": ratio(int(repeat[pid]), customers[pid]),
             "cart_position_sum_reordered": r["cart_r"],
             "cart_position_sum_first_time": r["cart_f"],
             "days_since_prior_sum_reordered": int(r["dspo_sum"]),
             "days_since_prior_count_reordered": r["dspo_n"],
             "repurchase_seconds": int(r["gap_seconds"])}
        )  # fmt: skip
    return rows


def reorder_patterns_department(shop: Shop) -> list[Row]:
    stats = _reorder_stats(shop, "department")
    return [
        {"department": dept, "products": r["products"], **_reorder_row(r)}
        for dept, r in stats.iterrows()
    ]


# --- orders -----------------------------------------------------------------------------------
EDGES = [0, 10, 20, 30, 40, 50, 75, 100, 150, 200, 250, 300, 400, 500, 750, 1000, 2000, 5000]


def percentiles(shop: Shop) -> dict[str, float | None]:
    values = shop.orders["cents"].to_numpy() / 100
    return {
        f"p{q}": (float(np.percentile(values, q)) if len(values) else None)
        for q in (10, 25, 50, 75, 90, 99)
    }


def order_value_distribution(shop: Shop) -> list[Row]:
    cents = shop.orders["cents"].tolist()
    n = len(cents)
    pct = percentiles(shop)
    rows, seen = [], 0
    for b, lo in enumerate(EDGES, start=1):
        hi = EDGES[b] if b < len(EDGES) else None
        inside = [c for c in cents if c >= lo * 100 and (hi is None or c < hi * 100)]
        seen += len(inside)
        rows.append(
            {"bucket": b, "lower_bound": Decimal(lo).quantize(Decimal("0.01")),
             "upper_bound": None if hi is None else Decimal(hi).quantize(Decimal("0.01")),
             "orders": len(inside), "revenue": money(sum(inside)),
             "order_share": ratio(len(inside), n), "cumulative_order_share": ratio(seen, n), **pct}
        )  # fmt: skip
    return rows


def order_time_heatmap(shop: Shop) -> list[Row]:
    o = shop.orders
    total = len(o)
    dow = o["ts"].dt.day_of_week + 1
    hour = o["ts"].dt.hour
    rows = []
    for d in range(1, 8):
        for h in range(24):
            g = o[(dow == d) & (hour == h)]
            cents = int(g["cents"].sum())
            rows.append(
                {"day_of_week": d, "hour": h, "orders": len(g),
                 "customers": g["user_id"].nunique(), "revenue": money(cents),
                 "aov": ratio(cents / 100, len(g)), "order_share": ratio(len(g), total)}
            )  # fmt: skip
    return rows


def payment_methods(shop: Shop) -> list[Row]:
    o = shop.orders
    total_cents = int(o["cents"].sum())
    rows = []
    for method, g in o.groupby("payment"):
        cents = int(g["cents"].sum())
        rows.append(
            {"payment_method": method, "orders": len(g), "customers": g["user_id"].nunique(),
             "revenue": money(cents), "aov": cents / 100 / len(g),
             "order_share": len(g) / len(o), "revenue_share": ratio(cents, total_cents)}
        )  # fmt: skip
    return rows


def payment_methods_weekly(shop: Shop) -> list[Row]:
    o = shop.orders.assign(week=shop.orders["date"].map(week_of))
    cells: dict[tuple[dt.date, str], Row] = {}
    for (week, method), g in o.groupby(["week", "payment"]):
        cents = int(g["cents"].sum())
        cells[week, method] = {
            "week_start": week, "payment_method": method, "orders": len(g),
            "revenue": money(cents), "aov": cents / 100 / len(g),
            "order_share": len(g) / int((o["week"] == week).sum()),
        }  # fmt: skip
    for (week, method), row in cells.items():
        prev = cells.get((week - dt.timedelta(days=7), method))
        row["prev_orders"] = prev["orders"] if prev else None
        row["prev_order_share"] = prev["order_share"] if prev else None
        row["orders_change_rate"] = (
            (row["orders"] - prev["orders"]) / prev["orders"] if prev else None
        )
        row["order_share_change"] = row["order_share"] - prev["order_share"] if prev else None
    return list(cells.values())


# --- customers --------------------------------------------------------------------------------
def customer_profile(shop: Shop) -> list[Row]:
    o, i = shop.orders, shop.items
    users = o.groupby("user_id").agg(
        orders=("order_id", "size"), cents=("cents", "sum"), first=("ts", "min"),
        last=("ts", "max"), first_date=("date", "min"), last_date=("date", "max"),
    )  # fmt: skip
    lines = i.groupby("user_id").agg(
        items=("qty", "sum"), lines=("id", "size"), products=("product_id", "nunique"),
        reordered=("reordered", "sum"),
    )  # fmt: skip
    units = i.groupby(["user_id", "department"])["qty"].sum().reset_index()
    favourite = (
        units.sort_values(["user_id", "qty", "department"], ascending=[True, False, True])
        .drop_duplicates("user_id")
        .set_index("user_id")
    )
    methods = o.groupby(["user_id", "payment"]).size().rename("n").reset_index()
    preferred = (
        methods.sort_values(["user_id", "n", "payment"], ascending=[True, False, True])
        .drop_duplicates("user_id")
        .set_index("user_id")["payment"]
    )
    line_of = lines.to_dict("index")
    favourite_of = favourite.to_dict("index")
    preferred_of = preferred.to_dict()
    no_lines = {"items": 0, "lines": 0, "products": 0, "reordered": 0}
    rows = []
    for u in users.itertuples():
        n, cents = int(u.orders), int(u.cents)
        line = line_of.get(u.Index, no_lines)
        fav = favourite_of.get(u.Index, {"department": None, "qty": None})
        rows.append(
            {
                "user_id": u.Index, "orders": n, "spend": money(cents), "aov": cents / 100 / n,
                "items": int(line["items"]), "lines": int(line["lines"]),
                "distinct_products": int(line["products"]),
                "reorder_rate": ratio(line["reordered"], line["lines"]),
                "first_order_at": u.first.to_pydatetime(),
                "last_order_at": u.last.to_pydatetime(),
                "first_order_date": u.first_date, "last_order_date": u.last_date,
                "avg_days_between_orders": (
                    (u.last - u.first).total_seconds() / 86400 / (n - 1) if n > 1 else None
                ),
                "favourite_department": fav["department"],
                "favourite_department_units": fav["qty"],
                "preferred_payment_method": preferred_of[u.Index],
            }
        )  # fmt: skip
    return rows


def repeat_purchase(shop: Shop) -> list[Row]:
    per_user = shop.orders.groupby("user_id").agg(n=("order_id", "size"), cents=("cents", "sum"))
    total, repeat = len(per_user), int((per_user["n"] > 1).sum())
    total_cents = int(per_user["cents"].sum())
    rows, seen = [], 0
    for n, g in per_user.groupby("n"):
        seen += len(g)
        rows.append(
            {"orders_per_customer": int(n), "customers": len(g), "customer_share": len(g) / total,
             "cumulative_customer_share": seen / total, "spend": money(int(g["cents"].sum())),
             "spend_share": ratio(int(g["cents"].sum()), total_cents),
             "total_customers": total, "repeat_customers": repeat,
             "repeat_customer_rate": repeat / total}
        )  # fmt: skip
    return rows


def cohort_retention(shop: Shop) -> list[Row]:
    o = shop.orders
    cohort = o.groupby("user_id")["date"].min().map(week_of)
    o = o.assign(cohort=o["user_id"].map(cohort), week=o["date"].map(week_of))
    sizes = Counter(cohort)
    rows = []
    for (c, w), g in o.groupby(["cohort", "week"]):
        active = g["user_id"].nunique()
        rows.append(
            {"cohort_week": c, "week_offset": (w - c).days // 7, "activity_week": w,
             "cohort_size": sizes[c], "active_customers": active,
             "retention_rate": active / sizes[c], "orders": len(g),
             "revenue": money(int(g["cents"].sum()))}
        )  # fmt: skip
    return rows


def _score(values: list[Any]) -> list[int]:
    """1 + floor(5 * (rank - 1) / n), rank = 1 + number of strictly smaller values."""
    ordered = sorted(values)
    n = len(values)
    first_index = {}
    for k, v in enumerate(ordered):
        first_index.setdefault(v, k)
    return [1 + (5 * first_index[v]) // n for v in values]


def _segment(r: int, f: int, m: int, frequency: int) -> str:
    if r >= 4 and f >= 4 and m >= 4:
        return "champions"
    if r >= 3 and f >= 4:
        return "loyal"
    if frequency == 1 and r >= 4:
        return "new"
    if r >= 4:
        return "potential_loyalist"
    if r <= 2 and f >= 3:
        return "at_risk"
    if r <= 2:
        return "hibernating"
    return "need_attention"


@_memo
def customer_segments(shop: Shop) -> list[Row]:
    per_user = shop.orders.groupby("user_id").agg(
        last=("date", "max"), n=("order_id", "size"), cents=("cents", "sum")
    )
    as_of = max(per_user["last"])
    r = _score(list(per_user["last"]))
    f = _score(list(per_user["n"]))
    m = _score(list(per_user["cents"]))
    rows = []
    for k, (user, row) in enumerate(per_user.iterrows()):
        rows.append(
            {"user_id": user, "last_order_date": row["last"], "as_of_date": as_of,
             "recency_days": (as_of - row["last"]).days, "frequency": int(row["n"]),
             "monetary": money(int(row["cents"])), "r_score": r[k], "f_score": f[k],
             "m_score": m[k], "rfm_cell": r[k] * 100 + f[k] * 10 + m[k],
             "segment": _segment(r[k], f[k], m[k], int(row["n"]))}
        )  # fmt: skip
    return rows


SEGMENTS = (
    "champions", "loyal", "potential_loyalist", "new", "need_attention", "at_risk", "hibernating",
)  # fmt: skip


def segment_summary(shop: Shop) -> list[Row]:
    seg = pd.DataFrame(customer_segments(shop))
    seg["cents"] = [int(v * 100) for v in seg["monetary"]]
    total, total_cents = len(seg), int(seg["cents"].sum())
    rows = []
    for order, name in enumerate(SEGMENTS, start=1):
        g = seg[seg["segment"] == name]
        n, cents = len(g), int(g["cents"].sum())
        rows.append(
            {"segment": name, "segment_order": order, "customers": n,
             "customer_share": ratio(n, total), "orders": int(g["frequency"].sum()),
             "revenue": money(cents), "revenue_share": ratio(cents, total_cents),
             "avg_recency_days": ratio(int(g["recency_days"].sum()), n),
             "avg_frequency": ratio(int(g["frequency"].sum()), n),
             "avg_monetary": ratio(cents / 100, n)}
        )  # fmt: skip
    return rows


def payment_methods_by_segment(shop: Shop) -> list[Row]:
    segment = {r["user_id"]: r["segment"] for r in customer_segments(shop)}
    o = shop.orders.assign(segment=shop.orders["user_id"].map(segment))
    rows = []
    for (seg, method), g in o.groupby(["segment", "payment"]):
        cents = int(g["cents"].sum())
        rows.append(
            {"segment": seg, "payment_method": method, "orders": len(g),
             "customers": g["user_id"].nunique(), "revenue": money(cents),
             "aov": cents / 100 / len(g),
             "order_share": len(g) / int((o["segment"] == seg).sum())}
        )  # fmt: skip
    return rows


def upsell_candidates(shop: Shop) -> list[Row]:
    segment = {r["user_id"]: r["segment"] for r in customer_segments(shop)}
    spend = list(
        shop.items.groupby(["user_id", "department"])
        .agg(cents=("revenue_cents", "sum"), orders=("order_id", "nunique"))
        .reset_index()
        .itertuples(index=False)
    )
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for user, dept, cents, _ in spend:
        groups[segment[user], dept].append(int(cents))
    medians = {}
    for key, values in groups.items():
        values.sort()
        n = len(values)
        medians[key] = (Fraction(values[(n - 1) // 2]) + Fraction(values[n // 2])) / 2
    rows = []
    for user, dept, cents, orders in spend:
        key = (segment[user], dept)
        if cents < medians[key]:
            rows.append(
                {"user_id": user, "segment": key[0], "department": dept, "spend": money(cents),
                 "orders": int(orders), "segment_buyers": len(groups[key]),
                 "segment_median_spend": float(medians[key] / 100),
                 "spend_gap": float((medians[key] - cents) / 100)}
            )  # fmt: skip
    return rows


# --- baskets ----------------------------------------------------------------------------------
def _baskets(shop: Shop, column: str) -> dict[int, set[Any]]:
    baskets: dict[int, set[Any]] = defaultdict(set)
    for order_id, value in zip(shop.items["order_id"], shop.items[column], strict=True):
        baskets[order_id].add(value)
    return baskets


@_memo
def product_pairs(shop: Shop) -> list[Row]:
    baskets = _baskets(shop, "product_id")
    n = len(baskets)
    holding = Counter(p for b in baskets.values() for p in b)
    together = Counter[tuple[int, int]]()
    for b in baskets.values():
        if 2 <= len(b) <= 50:
            kept = sorted(p for p in b if holding[p] >= 2)
            together.update(itertools.combinations(kept, 2))
    return ranked_pairs(together, holding, n)


def ranked_pairs(
    together: Mapping[tuple[int, int], int], holding: Mapping[int, int], n: int
) -> list[Row]:
    """product_pairs from the pair counts, baskets per product and basket count: the 100,000
    pairs in at least 2 baskets with the most (then the higher lift, then product ids)."""
    pairs = [(ab, c) for ab, c in together.items() if c >= 2]
    pairs.sort(key=lambda x: (-x[1], holding[x[0][0]] * holding[x[0][1]], x[0]))
    rows = []
    for rank, ((a, b), c) in enumerate(pairs[:100_000], start=1):
        rows.append(
            {"product_a": a, "product_b": b, "pair_orders": c, "orders_a": holding[a],
             "orders_b": holding[b], "support": c / n, "confidence_a_to_b": c / holding[a],
             "confidence_b_to_a": c / holding[b], "lift": c * n / (holding[a] * holding[b]),
             "pair_rank": rank}
        )  # fmt: skip
    return rows


def product_pair_counts(shop: Shop) -> list[Row]:
    together = Counter[tuple[int, int]]()
    for b in _baskets(shop, "product_id").values():
        if 2 <= len(b) <= 50:
            together.update(itertools.combinations(sorted(b), 2))
    return [{"product_a": a, "product_b": b, "pair_orders": c} for (a, b), c in together.items()]


def product_baskets(shop: Shop) -> list[Row]:
    holding = Counter(p for b in _baskets(shop, "product_id").values() for p in b)
    return [{"product_id": p, "baskets": c} for p, c in holding.items()]


def basket_sizes(shop: Shop) -> list[Row]:
    sizes = Counter(len(b) for b in _baskets(shop, "product_id").values())
    return [{"products": n, "baskets": c} for n, c in sizes.items()]


def department_basket_days(shop: Shop) -> list[Row]:
    day_of = dict(zip(shop.items["order_id"], shop.items["date"], strict=True))
    by_order = _baskets(shop, "department")
    baskets = Counter(day_of[o] for o in by_order)
    together: Counter[tuple[Any, Any, Any]] = Counter()
    for order_id, departments in by_order.items():
        known = sorted(d for d in departments if d is not None)
        for a, b in itertools.combinations_with_replacement(known, 2):
            together[(day_of[order_id], a, b)] += 1
    rows = [
        {"date": day, "department_a": a, "department_b": b, "orders": c, "baskets": baskets[day]}
        for (day, a, b), c in together.items()
    ]
    listed = {r["date"] for r in rows}
    rows += [
        {"date": day, "department_a": None, "department_b": None, "orders": None, "baskets": n}
        for day, n in baskets.items()
        if day not in listed
    ]
    return rows


def department_pairs(shop: Shop) -> list[Row]:
    baskets = _baskets(shop, "department")
    n = len(baskets)
    holding = Counter(d for b in baskets.values() for d in b)
    together = Counter(ab for b in baskets.values() for ab in itertools.combinations(sorted(b), 2))
    return [
        {"department_a": a, "department_b": b, "pair_orders": c, "orders_a": holding[a],
         "orders_b": holding[b], "support": c / n, "confidence_a_to_b": c / holding[a],
         "confidence_b_to_a": c / holding[b], "lift": c * n / (holding[a] * holding[b])}
        for (a, b), c in together.items()
    ]  # fmt: skip


def product_companions(shop: Shop) -> list[Row]:
    name = dict(zip(shop.products["product_id"], shop.products["product_name"], strict=True))
    dept = dict(zip(shop.products["product_id"], shop.products["department"], strict=True))
    companions: dict[int, list[Row]] = defaultdict(list)
    for pair in product_pairs(shop):
        for me, other, conf, other_orders in (
            (pair["product_a"], pair["product_b"], pair["confidence_a_to_b"], pair["orders_b"]),
            (pair["product_b"], pair["product_a"], pair["confidence_b_to_a"], pair["orders_a"]),
        ):
            companions[me].append(
                {"companion_product_id": other, "pair_orders": pair["pair_orders"],
                 "confidence": conf, "lift": pair["lift"], "_other_orders": other_orders}
            )  # fmt: skip
    rows = []
    for me, found in companions.items():
        found.sort(key=lambda c: (-c["confidence"], -c["lift"], c["companion_product_id"]))
        for rank, c in enumerate(found[:5], start=1):
            other = c["companion_product_id"]
            rows.append(
                {"product_id": me, "product_name": name[me],
                 "companion_rank": rank, "companion_product_id": other,
                 "companion_name": name[other], "companion_department": dept[other],
                 "pair_orders": c["pair_orders"], "confidence": c["confidence"],
                 "lift": c["lift"]}
            )  # fmt: skip
    return rows


# --- catalog ----------------------------------------------------------------------------------
def catalog_summary(shop: Shop) -> list[Row]:
    i = shop.items
    units = i.groupby("product_id")["qty"].sum()
    last_sold = i.groupby("product_id")["date"].max()
    cutoff = shop.as_of - dt.timedelta(days=30)
    pids = shop.products["product_id"]
    p = shop.products.assign(
        units=pids.map(units).fillna(0).astype(int),
        active=pids.map(lambda pid: pid in last_sold and last_sold[pid] > cutoff),
    )
    groups: dict[tuple[str, Any, Any], pd.DataFrame] = {("all", None, None): p}
    for dept, g in p.groupby("department"):
        groups["department", dept, None] = g
    for (dept, aisle), g in p.groupby(["department", "aisle"], dropna=False):
        groups["aisle", dept, None if pd.isna(aisle) else aisle] = g
    rows = []
    for (level, dept, aisle), g in groups.items():
        total = int(g["units"].sum())
        ranked = sorted(zip(g["units"], g["product_id"], strict=True), key=lambda x: (-x[0], x[1]))
        needed, before = 0, 0
        for u, _ in ranked:
            if u > 0 and before * 5 < total * 4:
                needed += 1
            before += u
        n = len(g)
        rows.append(
            {"level": level, "department": dept, "aisle": aisle, "products": n,
             "sold_products": int((g["units"] > 0).sum()),
             "never_sold_products": int((g["units"] == 0).sum()),
             "active_products": int(g["active"].sum()), "active_share": int(g["active"].sum()) / n,
             "units": total, "products_for_80pct_units": needed,
             "share_of_products_for_80pct_units": needed / n}
        )  # fmt: skip
    return rows


ORACLES: dict[str, Callable[[Shop], list[Row]]] = {
    f.__name__: f
    for f in (
        sales_daily, sales_weekly, sales_monthly, department_sales, product_days,
        product_performance, reorder_patterns, reorder_patterns_department,
        order_value_distribution, order_time_heatmap, payment_methods, payment_methods_weekly,
        payment_methods_by_segment, customer_profile, repeat_purchase, cohort_retention,
        customer_segments, segment_summary, product_pairs, product_pair_counts, product_baskets,
        basket_sizes, department_basket_days,
        department_pairs, product_companions, upsell_candidates, catalog_summary,
    )
}  # fmt: skip

KEYS: dict[str, tuple[str, ...]] = {
    "sales_daily": ("date",),
    "sales_weekly": ("week_start",),
    "sales_monthly": ("month_start",),
    "department_sales": ("date", "department"),
    "product_days": ("date", "product_id"),
    "product_performance": ("product_id",),
    "reorder_patterns": ("product_id",),
    "reorder_patterns_department": ("department",),
    "order_value_distribution": ("bucket",),
    "order_time_heatmap": ("day_of_week", "hour"),
    "payment_methods": ("payment_method",),
    "payment_methods_weekly": ("week_start", "payment_method"),
    "payment_methods_by_segment": ("segment", "payment_method"),
    "customer_profile": ("user_id",),
    "repeat_purchase": ("orders_per_customer",),
    "cohort_retention": ("cohort_week", "week_offset"),
    "customer_segments": ("user_id",),
    "segment_summary": ("segment",),
    "product_pairs": ("product_a", "product_b"),
    "product_pair_counts": ("product_a", "product_b"),
    "product_baskets": ("product_id",),
    "basket_sizes": ("products",),
    "department_basket_days": ("date", "department_a", "department_b"),
    "department_pairs": ("department_a", "department_b"),
    "product_companions": ("product_id", "companion_rank"),
    "upsell_candidates": ("user_id", "department"),
    "catalog_summary": ("level", "department", "aisle"),
}


# --- comparison -------------------------------------------------------------------------------
def _same(actual: Any, expected: Any, rel: float) -> bool:
    missing_a = actual is None or (isinstance(actual, float) and math.isnan(actual))
    missing_e = expected is None or (isinstance(expected, float) and math.isnan(expected))
    if missing_a or missing_e:
        return missing_a and missing_e
    if isinstance(actual, float) or isinstance(expected, float):
        return math.isclose(float(actual), float(expected), rel_tol=rel, abs_tol=1e-12)
    if isinstance(expected, np.generic):
        expected = expected.item()
    return bool(actual == expected and type(actual) is type(expected))


def compare(model: str, actual: pa.Table, expected: Iterable[Row], rel: float = 1e-9) -> list[str]:
    """Differences between SQL rows and oracle rows (empty list = identical within `rel`)."""
    keys = KEYS[model]
    got = {tuple(r[k] for k in keys): r for r in actual.to_pylist()}
    want = {tuple(_native(r[k]) for k in keys): r for r in expected}
    problems = []
    if len(got) != actual.num_rows:
        problems.append(f"{model}: duplicate keys {keys} in the SQL result")
    for key in sorted(set(got) ^ set(want), key=str)[:5]:
        side = "SQL only" if key in got else "oracle only"
        problems.append(f"{model}: row {dict(zip(keys, key, strict=True))} is {side}")
    for key in sorted(set(got) & set(want), key=str):
        for column, value in got[key].items():
            if column not in want[key]:
                problems.append(f"{model}: oracle lacks column {column}")
                return problems
            if not _same(value, _native(want[key][column]), rel):
                problems.append(
                    f"{model} {dict(zip(keys, key, strict=True))}.{column}: "
                    f"SQL {value!r} != oracle {want[key][column]!r}"
                )
        if len(problems) > 20:
            break
    return problems


def _native(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value


# --- DuckDB with silver registered ------------------------------------------------------------
SILVER_NAMES = ("products", "orders", "order_items")
#: where `connect_silver(..., before=)` puts silver as the previous gold build read it
BEFORE = {f"silver.{name}": f"_before_{name}" for name in SILVER_NAMES}


def connect_silver(silver: SilverTables, before: SilverTables | None = None) -> Any:
    """A DuckDB connection in UTC with `silver.products`, `silver.orders`, `silver.order_items`;
    with `before`, also that earlier silver under the names of `BEFORE` (what additive gold
    models subtract)."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("CREATE SCHEMA silver")
    for name in SILVER_NAMES:
        con.register(f"_silver_{name}", getattr(silver, name))
        con.execute(f"CREATE VIEW silver.{name} AS SELECT * FROM _silver_{name}")
        if before is not None:
            con.register(BEFORE[f"silver.{name}"], getattr(before, name))
    return con
