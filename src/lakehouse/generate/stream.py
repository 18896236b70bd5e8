"""Live mode: keep dropping small batches of files into a folder, as a shop would.

The catalog goes first (`products.<ext>`); then `rate` batches per second, each an orders file
and an order_items file (`orders_<UTC time>_<seq>.<ext>`, then `order_items_...`) holding a
few orders (1 + Poisson(ORDERS_PER_BATCH - 1)) placed since the previous batch, stamped with the
current UTC time. Each file is
written under a hidden temporary name and renamed when complete, so a watcher never sees half
a file. Orders ids start from the session's start time in microseconds, so sessions that follow
each other never reuse an id; order_num counts orders within the session.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from lakehouse.generate.catalog import build_catalog
from lakehouse.generate.customers import build_customers
from lakehouse.generate.layout import target, write_file
from lakehouse.generate.orders import OrderFactory
from lakehouse.generate.schema import Entity, kinds
from lakehouse.generate.writers import FORMATS, Format

STREAM_PRODUCTS = 500
STREAM_CUSTOMERS = 2000
ORDERS_PER_BATCH = 5  # mean orders in one batch


def run_stream(
    out: Path,
    *,
    rate: float,
    seed: int,
    fmt: Format,
    stop: threading.Event | None,
    max_files: int | None,
) -> None:
    if not rate > 0:
        raise ValueError(f"rate (batches per second) must be > 0, got {rate}")
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    out.mkdir(parents=True, exist_ok=True)
    seeds = np.random.SeedSequence(seed).spawn(3)
    catalog = build_catalog(STREAM_PRODUCTS, np.random.default_rng(seeds[0]))
    customers = build_customers(STREAM_CUSTOMERS, 1, np.random.default_rng(seeds[1]))
    rng = np.random.default_rng(seeds[2])
    base = int(time.time() * 1_000_000)
    factory = OrderFactory(catalog, customers, first_order_id=base, first_item_id=base)
    interval = 1.0 / rate
    name, sheet = target(fmt, "products", None)
    write_file(out, fmt, name, catalog.table, sheet, kinds("products"))
    written, seq, since = 1, 0, time.time() - interval
    while not (max_files is not None and written + 2 > max_files):
        if stop is not None and stop.is_set():
            return
        now = time.time()
        count = 1 + int(rng.poisson(ORDERS_PER_BATCH - 1))
        low, high = min(int(since) + 1, int(now)), int(now)
        ts = np.sort(rng.integers(low, high + 1, count)).astype(np.int64)
        chunk = factory.build(rng, ts, day=0, progress=1.0, as_of=high)
        seq += 1
        stamp = dt.datetime.fromtimestamp(high, dt.UTC)
        batch: tuple[tuple[Entity, pa.Table], ...] = (
            ("orders", chunk.orders),
            ("order_items", chunk.items),
        )
        for entity, table in batch:
            name = f"{entity}_{stamp:%Y%m%dT%H%M%S}_{seq:06d}.{fmt}"
            write_file(out, fmt, name, table, stamp.date().isoformat(), kinds(entity))
        written += 2
        since = now
        if max_files is not None and written + 2 > max_files:
            return
        if stop is not None:
            if stop.wait(interval):
                return
        else:
            time.sleep(interval)
