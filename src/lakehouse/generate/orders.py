"""Turn a chunk of order times into order and order-line rows (typed Arrow tables).

Ground truth the rows carry, exactly:
- order_id and item id increase with time (ids are given in timestamp order, then cart order);
- order_num counts the customer's orders in time order (1 = first);
- days_since_prior_order = floor((order_timestamp - previous order's timestamp) / 24 h) of
  the same customer, null on the customer's first order, the same on every line of an order;
- reordered = 1 exactly when the customer bought the product in an earlier order;
- total_amount = sum(quantity * unit_price) + shipping (model.order_total_cents);
- lines carry their order's user_id, order_timestamp and date.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.generate import model
from lakehouse.generate.baskets import sample_lines
from lakehouse.generate.catalog import Catalog
from lakehouse.generate.customers import Customers, CustomerState
from lakehouse.generate.schema import arrow_schema, money_array

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Chunk:
    orders: pa.Table
    items: pa.Table


class OrderFactory:
    """Builds consecutive chunks; keeps the id counters and the customers' state."""

    def __init__(
        self,
        catalog: Catalog,
        customers: Customers,
        *,
        first_order_id: int = 1,
        first_item_id: int = 1,
    ) -> None:
        self.catalog = catalog
        self.customers = customers
        self.state = CustomerState(customers.size, catalog.size)
        self.next_order_id = first_order_id
        self.next_item_id = first_item_id

    def build(
        self, rng: np.random.Generator, ts: I64, *, day: int, progress: float, as_of: int
    ) -> Chunk:
        """Orders at sorted epoch seconds `ts` on day index `day`; `progress` (0..1) drives the
        payment drift, `as_of` (epoch seconds) the status by age."""
        n = len(ts)
        customer = self.customers.pick(day, rng.random(n))
        order_num, gap = self.state.sequence(customer, ts)
        lines = sample_lines(rng, self.catalog, self.customers, customer)
        reordered = self.state.reordered(customer[lines.order], lines.product, lines.order)
        line_cents = lines.quantity * lines.price_cents
        subtotal = np.add.reduceat(line_cents, lines.starts) if n else np.zeros(0, np.int64)
        shipping = np.where(subtotal < model.FREE_SHIPPING_FROM_CENTS, model.SHIPPING_CENTS, 0)
        seg = self.customers.segment[customer]

        order_id = self.next_order_id + np.arange(n, dtype=np.int64)
        item_id = self.next_item_id + np.arange(len(lines.order), dtype=np.int64)
        self.next_order_id += n
        self.next_item_id += len(item_id)

        ts_text, date_text = iso_texts(ts)
        user_id = customer + 1
        orders = pa.table(
            {
                "order_num": pa.array(order_num),
                "order_id": pa.array(order_id),
                "user_id": pa.array(user_id),
                "order_timestamp": ts_text,
                "total_amount": money_array(subtotal + shipping),
                "date": date_text,
                "payment_method": _labels(model.PAYMENT_METHODS, _payment(rng, seg, progress)),
                "currency": pa.array([model.SHOP_CURRENCY] * n, pa.string()),
                "status": _labels(model.STATUSES, _status(rng, (as_of - ts) / 86_400.0)),
            },
            schema=arrow_schema("orders"),
        )
        at = pa.array(lines.order)
        items = pa.table(
            {
                "id": pa.array(item_id),
                "order_id": pa.array(order_id[lines.order]),
                "user_id": pa.array(user_id[lines.order]),
                "days_since_prior_order": pa.array(gap[lines.order], mask=gap[lines.order] < 0),
                "product_id": pa.array(lines.product + 1),
                "add_to_cart_order": pa.array(lines.cart),
                "reordered": pa.array(reordered.astype(np.int64)),
                "order_timestamp": ts_text.take(at),
                "date": date_text.take(at),
                "quantity": pa.array(lines.quantity),
                "unit_price": money_array(lines.price_cents),
            },
            schema=arrow_schema("order_items"),
        )
        return Chunk(orders, items)


def iso_texts(ts: I64) -> tuple[pa.Array, pa.Array]:
    """'YYYY-MM-DDTHH:MM:SS' and 'YYYY-MM-DD' (UTC) of epoch seconds (Arrow casts: fast)."""
    stamp = pa.array(ts.astype("datetime64[s]")).cast(pa.string())  # 'YYYY-MM-DD HH:MM:SS'
    day = pa.array((ts // 86_400).astype(np.int32), pa.date32()).cast(pa.string())
    return pc.replace_substring(stamp, " ", "T", max_replacements=1), day


def _choose(u: F64, weights: F64) -> I64:
    """Row-wise categorical choice: weights is (n, k), u is (n,)."""
    cdf = np.cumsum(weights, axis=1)
    cdf /= cdf[:, -1:]
    chosen: I64 = (u[:, None] > cdf).sum(axis=1).astype(np.int64)
    return np.minimum(chosen, np.int64(weights.shape[1] - 1))


def _payment(rng: np.random.Generator, seg: I64, progress: float) -> I64:
    base = np.array([s.payment for s in model.SEGMENTS])
    weights = base * np.exp(np.array(model.PAYMENT_DRIFT) * progress)
    return _choose(rng.random(len(seg)), weights[seg])


def _status(rng: np.random.Generator, age_days: F64) -> I64:
    limits = np.array([limit for limit, _ in model.STATUS_BY_AGE])
    table = np.array([w for _, w in model.STATUS_BY_AGE])
    band = np.minimum(np.searchsorted(limits, age_days, side="right"), len(limits) - 1)
    return _choose(rng.random(len(age_days)), table[band])


def _labels(values: tuple[str, ...], index: I64) -> pa.Array:
    return pa.array(values, pa.string()).take(pa.array(index))
