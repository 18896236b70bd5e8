"""What is in each basket: products, cart positions, quantities and prices, vectorised.

Each line is a favourite of the customer (a fixed product per customer and slot, which is
what makes customers reorder) or a draw from the catalog's popularity; an anchor product
pulls its complementary partner into the cart (right after it) with COMPLEMENT_PROBABILITY.
A product appears at most once per order. unit_price is the list price, or a whole-percent
discount of it on DISCOUNT_PROBABILITY of the lines, rounded half up to the cent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from lakehouse.generate import model
from lakehouse.generate.catalog import Catalog
from lakehouse.generate.customers import Customers

I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Lines:
    """Order lines sorted by (order, cart position)."""

    order: I64  # position of the order in the chunk
    product: I64  # product index (product_id - 1)
    cart: I64  # add_to_cart_order, 1..n within the order
    quantity: I64
    price_cents: I64
    starts: I64  # index of each order's first line


def sample_lines(
    rng: np.random.Generator, catalog: Catalog, customers: Customers, customer: I64
) -> Lines:
    n = len(customer)
    seg = customers.segment[customer]
    mean = np.array([s.basket_mean for s in model.SEGMENTS])[seg]
    size = np.minimum(1 + rng.poisson(mean - 1.0), model.MAX_BASKET)
    order = np.repeat(np.arange(n, dtype=np.int64), size)
    m = len(order)
    fav_share = np.array([s.favorite_share for s in model.SEGMENTS])[seg[order]]
    favorite = rng.random(m) < fav_share
    slot = rng.integers(0, model.FAVORITES_PER_CUSTOMER, m)
    u = np.where(favorite, customers.favorite_u(customer[order], slot), rng.random(m))
    product = catalog.sample(u)
    position = rng.random(m)

    mate = catalog.partner[product]
    pulled = (mate >= 0) & (rng.random(m) < model.COMPLEMENT_PROBABILITY)
    if pulled.any():
        order = np.concatenate([order, order[pulled]])
        product = np.concatenate([product, mate[pulled]])
        position = np.concatenate([position, np.nextafter(position[pulled], 2.0)])

    # one line per (order, product): keep the earliest cart position
    key = order * np.int64(catalog.size) + product
    by_key = np.lexsort((position, key))
    keep = np.ones(len(by_key), dtype=bool)
    keep[1:] = key[by_key][1:] != key[by_key][:-1]
    kept = by_key[keep]
    kept = kept[np.lexsort((position[kept], order[kept]))]
    order, product = order[kept], product[kept]

    m = len(order)
    first = np.ones(m, dtype=bool)
    first[1:] = order[1:] != order[:-1]
    starts = np.flatnonzero(first)
    cart = np.arange(m) - np.repeat(starts, np.diff(np.append(starts, m))) + 1

    quantity_p = np.array([s.quantity_p for s in model.SEGMENTS])[seg[order]]
    quantity = np.minimum(rng.geometric(quantity_p), model.MAX_QUANTITY).astype(np.int64)
    price = catalog.price_cents[product]
    percent = np.array(model.DISCOUNT_PERCENTS)[rng.integers(0, len(model.DISCOUNT_PERCENTS), m)]
    discounted = rng.random(m) < model.DISCOUNT_PROBABILITY
    price = np.where(discounted, (price * (100 - percent) + 50) // 100, price)
    return Lines(order, product, cart.astype(np.int64), quantity, price.astype(np.int64), starts)
