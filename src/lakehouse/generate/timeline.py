"""When orders happen: orders per day (weekly pattern, trend, noise) and times of day, in chunks.

A day's orders are split by hour into chunks of at most `max_orders` (whole hours), so memory
stays bounded however many orders a day holds; chunks come out in time order.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

from lakehouse.generate import model

I64 = npt.NDArray[np.int64]
EPOCH = dt.date(1970, 1, 1)


def day_epoch(day: dt.date) -> int:
    """Seconds since the epoch at 00:00 UTC of `day`."""
    return (day - EPOCH).days * 86_400


def daily_counts(orders: int, start: dt.date, days: int, rng: np.random.Generator) -> I64:
    """Orders per day, summing exactly to `orders`."""
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    weekday = np.array([(start + dt.timedelta(d)).weekday() for d in range(days)])
    trend = 1.0 + model.TREND * np.arange(days) / max(days - 1, 1)
    noise = np.exp(rng.normal(0.0, model.DAILY_NOISE, days))
    weights: npt.NDArray[np.float64] = np.array(model.WEEKDAY_FACTOR)[weekday] * trend * noise
    return apportion(orders, weights)


def apportion(total: int, weights: npt.NDArray[np.float64]) -> I64:
    """Split `total` in proportion to `weights` (largest remainder; ties to the earlier slot)."""
    share = total * weights / weights.sum()
    counts: I64 = np.floor(share).astype(np.int64)
    left = total - int(counts.sum())
    if left > 0:
        order = np.lexsort((np.arange(len(share)), -(share - counts)))
        counts[order[:left]] += 1
    return counts


def day_chunks(
    count: int, day: dt.date, rng: np.random.Generator, max_orders: int
) -> Iterator[I64]:
    """Sorted order timestamps (epoch seconds) of one day, in chunks of whole hours."""
    weekend = day.weekday() >= 5
    hours = np.array(model.HOUR_WEIGHTS_WEEKEND if weekend else model.HOUR_WEIGHTS_WEEKDAY)
    per_hour = rng.multinomial(count, hours / hours.sum())
    base = day_epoch(day)
    hour = 0
    while hour < 24:
        end, size = hour + 1, int(per_hour[hour])
        while end < 24 and size + per_hour[end] <= max_orders:
            size += int(per_hour[end])
            end += 1
        secs = rng.integers(0, 3600, size) + np.repeat(
            np.arange(hour, end, dtype=np.int64) * 3600, per_hour[hour:end]
        )
        yield np.sort(secs) + base
        hour = end
