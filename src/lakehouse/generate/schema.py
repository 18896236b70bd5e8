"""Column layout of the generated files (the lab layout, core columns first) and Arrow helpers."""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa

Entity = Literal["products", "orders", "order_items"]
Kind = Literal["int", "money", "text"]
ENTITIES: tuple[Entity, ...] = ("products", "orders", "order_items")

COLUMNS: dict[Entity, tuple[tuple[str, Kind], ...]] = {
    "products": (
        ("product_id", "int"),
        ("department_id", "int"),
        ("department", "text"),
        ("product_name", "text"),
        ("aisle", "text"),
        ("category", "text"),
        ("unit_price", "money"),
        ("attributes", "text"),
    ),
    "orders": (
        ("order_num", "int"),
        ("order_id", "int"),
        ("user_id", "int"),
        ("order_timestamp", "text"),
        ("total_amount", "money"),
        ("date", "text"),
        ("payment_method", "text"),
        ("currency", "text"),
        ("status", "text"),
    ),
    "order_items": (
        ("id", "int"),
        ("order_id", "int"),
        ("user_id", "int"),
        ("days_since_prior_order", "int"),
        ("product_id", "int"),
        ("add_to_cart_order", "int"),
        ("reordered", "int"),
        ("order_timestamp", "text"),
        ("date", "text"),
        ("quantity", "int"),
        ("unit_price", "money"),
    ),
}

MONEY = pa.decimal128(12, 2)
_ARROW: dict[Kind, pa.DataType] = {"int": pa.int64(), "money": MONEY, "text": pa.string()}


def names(entity: Entity) -> list[str]:
    return [name for name, _ in COLUMNS[entity]]


def kinds(entity: Entity) -> dict[str, Kind]:
    return dict(COLUMNS[entity])


def arrow_schema(entity: Entity, text: bool = False) -> pa.Schema:
    """Typed schema (int64, decimal(12,2), string), or all-string when `text`."""
    return pa.schema(
        [(name, pa.string() if text else _ARROW[kind]) for name, kind in COLUMNS[entity]]
    )


def money_array(cents: npt.NDArray[np.int64]) -> pa.Array:
    """Exact decimal(12,2) values from integer cents, without going through floats."""
    cents = np.ascontiguousarray(cents, dtype=np.int64)
    words = np.empty((len(cents), 2), dtype=np.int64)
    words[:, 0] = cents
    words[:, 1] = cents >> 63  # sign extension into the high 64 bits
    return pa.Array.from_buffers(MONEY, len(cents), [None, pa.py_buffer(words)])


def as_text(table: pa.Table) -> pa.Table:
    """Every column as text (integers in decimal, money with two decimals); nulls stay null."""
    return table.cast(pa.schema([(f.name, pa.string()) for f in table.schema]))
