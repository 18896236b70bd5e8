"""A realistic, scalable e-commerce data generator whose ground truth is known exactly.

`generate()` writes a period of shop data (products, orders, order lines) in the lab layout as
xlsx, csv, jsonl or parquet; with `dirty_rate` > 0 it adds defective rows and files and writes
their exact quarantine reasons to `_dirty_manifest.json`. `stream()` keeps dropping small
batches of files into a folder, for near-real-time demos.

Modules, one job each: model (the behaviour, as constants), schema (columns), catalog,
customers (segments and state), timeline (when orders happen), baskets (what is bought),
orders (rows of a chunk), writers (file formats), layout (file names), dirty and manifest
(defects and their ground truth), batch and stream (the two modes).
"""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

from lakehouse.generate.batch import GenerateResult, Settings, run
from lakehouse.generate.manifest import MANIFEST_NAME
from lakehouse.generate.stream import run_stream
from lakehouse.generate.writers import FORMATS, Format

__all__ = ["FORMATS", "MANIFEST_NAME", "Format", "GenerateResult", "generate", "stream"]


def generate(
    out: str | Path,
    *,
    orders: int = 5000,
    customers: int | None = None,
    products: int = 500,
    days: int = 30,
    start: dt.date = dt.date(2025, 4, 1),
    seed: int = 42,
    fmt: Format = "xlsx",
    dirty_rate: float = 0.0,
) -> GenerateResult:
    """Write `orders` orders over `days` days from `start` into `out`; the same arguments
    always give byte-identical files. `customers` defaults to about orders / 4."""
    settings = Settings(
        out=Path(out),
        orders=orders,
        customers=max(1, round(orders / 4)) if customers is None else customers,
        products=products,
        days=days,
        start=start,
        seed=seed,
        fmt=fmt,
        dirty_rate=dirty_rate,
    )
    return run(settings)


def stream(
    out: str | Path,
    *,
    rate: float,
    seed: int = 42,
    fmt: Format = "csv",
    stop: threading.Event | None = None,
    max_files: int | None = None,
) -> None:
    """Drop `rate` batches per second into `out` (products first; a batch is an orders file and
    an order_items file for a few orders) until `stop` is set or `max_files` files are written
    (a batch's two files are never split)."""
    run_stream(Path(out), rate=rate, seed=seed, fmt=fmt, stop=stop, max_files=max_files)
