"""Customers: segments, sign-up days, favourite products, and the compact per-customer state.

The state kept while generating is small and bounded by the data itself: per customer the
time of the last order and the number of orders so far (two int64 arrays), and the set of
(customer, product) pairs bought so far (sorted int64 runs, 8 bytes per distinct pair).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from lakehouse.generate import model

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
_U64 = npt.NDArray[np.uint64]


@dataclass
class Customers:
    """user_id = index + 1."""

    segment: I64  # index into model.SEGMENTS
    joins_on: I64  # first day index on which the customer may order
    favorite_seed: int
    _cdf_day: int = -1
    _cdf: F64 = field(default_factory=lambda: np.zeros(0))

    @property
    def size(self) -> int:
        return len(self.segment)

    def pick(self, day: int, u: F64) -> I64:
        """Customers for uniform numbers `u`: by segment order rate, among those signed up."""
        if day != self._cdf_day:
            rate = np.array([s.order_rate for s in model.SEGMENTS])[self.segment]
            active = rate * (self.joins_on <= day)
            weights = active if active.sum() > 0 else rate
            self._cdf = np.cumsum(weights) / weights.sum()
            self._cdf_day = day
        idx = np.searchsorted(self._cdf, u, side="right")
        return np.minimum(idx, self.size - 1).astype(np.int64)

    def favorite_u(self, customer: I64, slot: I64) -> F64:
        """A fixed uniform number per (customer, favourite slot): the same product every time."""
        key = customer.astype(np.uint64) * np.uint64(model.FAVORITES_PER_CUSTOMER)
        key += slot.astype(np.uint64)
        bits = _mix(key ^ np.uint64(self.favorite_seed)) >> np.uint64(11)
        return bits.astype(np.float64) * (2.0**-53)


def build_customers(n: int, days: int, rng: np.random.Generator) -> Customers:
    if n < 1:
        raise ValueError(f"customers must be at least 1, got {n}")
    shares = np.array([s.share for s in model.SEGMENTS])
    segment = rng.choice(len(shares), size=n, p=shares / shares.sum()).astype(np.int64)
    joins = np.array([s.joins_during_period for s in model.SEGMENTS])[segment]
    joins_on = np.where(joins, rng.integers(0, max(days, 1), n), 0).astype(np.int64)
    return Customers(segment, joins_on, int(rng.integers(0, 2**62)))


def _mix(x: _U64) -> _U64:
    """splitmix64 finaliser: a cheap, well-spread hash of 64-bit integers."""
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


class PurchaseHistory:
    """A set of int64 keys as a few sorted, disjoint runs (merged like a log-structured tree)."""

    def __init__(self) -> None:
        self._runs: list[I64] = []

    def __len__(self) -> int:
        return sum(len(r) for r in self._runs)

    def contains(self, keys: I64) -> npt.NDArray[np.bool_]:
        found = np.zeros(len(keys), dtype=bool)
        for run in self._runs:
            pos = np.minimum(np.searchsorted(run, keys), len(run) - 1)
            found |= run[pos] == keys
        return found

    def add(self, keys: I64) -> None:
        """Add keys that are not yet in the set (unique, in any order)."""
        if len(keys) == 0:
            return
        self._runs.append(np.sort(keys))
        while len(self._runs) > 1 and len(self._runs[-2]) <= 2 * len(self._runs[-1]):
            last = self._runs.pop()
            self._runs[-1] = np.sort(np.concatenate([self._runs[-1], last]), kind="stable")


class CustomerState:
    """What the generator remembers about each customer between chunks."""

    def __init__(self, customers: int, products: int) -> None:
        self.last_ts = np.full(customers, -1, dtype=np.int64)  # epoch seconds, -1 = none yet
        self.orders = np.zeros(customers, dtype=np.int64)
        self.bought = PurchaseHistory()
        self._products = products

    def sequence(self, customer: I64, ts: I64) -> tuple[I64, I64]:
        """order_num and whole days since the previous order (-1 on a first order) for orders
        given in time order; updates the state."""
        n = len(customer)
        order = np.argsort(customer, kind="stable")  # grouped by customer, in time order
        c, t = customer[order], ts[order]
        first = np.ones(n, dtype=bool)
        first[1:] = c[1:] != c[:-1]
        starts = np.flatnonzero(first)
        sizes = np.diff(np.append(starts, n))
        rank = np.arange(n) - np.repeat(starts, sizes)
        prev = np.empty(n, dtype=np.int64)
        prev[1:] = t[:-1]
        prev[first] = self.last_ts[c[first]]
        gap = np.where(prev >= 0, (t - prev) // 86_400, -1)
        num = self.orders[c] + rank + 1
        last = np.append(starts[1:] - 1, n - 1) if n else starts
        self.last_ts[c[last]] = t[last]
        self.orders[c[starts]] += sizes
        out_num, out_gap = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
        out_num[order], out_gap[order] = num, gap
        return out_num, out_gap

    def reordered(self, customer: I64, product: I64, order: I64) -> npt.NDArray[np.bool_]:
        """For lines (customer, product index, order position in time): True when the customer
        bought the product in an earlier order (an earlier chunk or earlier in this one).
        A product appears at most once per order. Records the new pairs."""
        key = customer * np.int64(self._products) + product
        seen = self.bought.contains(key)
        by_key = np.lexsort((order, key))
        k = key[by_key]
        earlier = np.zeros(len(k), dtype=bool)
        earlier[1:] = k[1:] == k[:-1]
        again = np.empty(len(k), dtype=bool)
        again[by_key] = earlier
        result = seen | again
        fresh = ~seen & ~again
        self.bought.add(key[fresh])
        return result
