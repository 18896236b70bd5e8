"""Batch mode: a whole period of shop data, day by day and in chunks, with bounded memory."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from lakehouse.generate.catalog import build_catalog
from lakehouse.generate.customers import build_customers
from lakehouse.generate.dirty import Found, Injector
from lakehouse.generate.layout import Output
from lakehouse.generate.manifest import MANIFEST_NAME, Manifest, write_rejected_files
from lakehouse.generate.orders import OrderFactory
from lakehouse.generate.schema import Entity
from lakehouse.generate.timeline import daily_counts, day_chunks, day_epoch
from lakehouse.generate.writers import FORMATS, Format

MAX_CHUNK_ORDERS = 200_000  # orders generated and held in memory at once (whole hours)


@dataclass(frozen=True)
class GenerateResult:
    files: list[Path]  # data files written (the manifest is not one of them)
    orders: int  # valid rows (the ground truth), not counting injected defective rows
    order_items: int
    products: int
    customers: int  # size of the customer base (user_id 1..customers)
    manifest: Path | None  # `_dirty_manifest.json` when dirty_rate > 0
    seconds: float
    dirty_rows: int = 0  # defective rows injected (listed in the manifest)
    rejected_files: list[Path] = field(default_factory=list)  # files made to be rejected whole
    pairs: list[tuple[int, int]] = field(default_factory=list)  # planted (anchor, partner) ids

    @property
    def rows(self) -> int:
        return self.orders + self.order_items + self.products


@dataclass(frozen=True)
class Settings:
    out: Path
    orders: int
    customers: int
    products: int
    days: int
    start: dt.date
    seed: int
    fmt: Format
    dirty_rate: float

    def __post_init__(self) -> None:
        checks = [
            (self.orders >= 0, f"orders must be >= 0, got {self.orders}"),
            (self.customers >= 1, f"customers must be >= 1, got {self.customers}"),
            (self.products >= 1, f"products must be >= 1, got {self.products}"),
            (self.days >= 1, f"days must be >= 1, got {self.days}"),
            (self.fmt in FORMATS, f"format must be one of {', '.join(FORMATS)}, got {self.fmt!r}"),
            (0.0 <= self.dirty_rate <= 1.0, f"dirty_rate must be in [0, 1], got {self.dirty_rate}"),
            (self.orders < 10**9, "orders must be below 1e9 (ids above are reserved for defects)"),
        ]  # fmt: skip
        for ok, message in checks:
            if not ok:
                raise ValueError(message)


def run(cfg: Settings) -> GenerateResult:
    began = time.perf_counter()
    cfg.out.mkdir(parents=True, exist_ok=True)
    (cfg.out / MANIFEST_NAME).unlink(missing_ok=True)  # never leave a stale ground truth
    seeds = np.random.SeedSequence(cfg.seed).spawn(5)
    catalog = build_catalog(cfg.products, np.random.default_rng(seeds[0]))
    customers = build_customers(cfg.customers, cfg.days, np.random.default_rng(seeds[1]))
    counts = daily_counts(cfg.orders, cfg.start, cfg.days, np.random.default_rng(seeds[2]))
    dirty = cfg.dirty_rate > 0
    injector = Injector(cfg.dirty_rate, np.random.default_rng(seeds[3])) if dirty else None
    manifest = Manifest()
    output = Output(cfg.out, cfg.fmt, text=dirty)
    factory = OrderFactory(catalog, customers)
    as_of = day_epoch(cfg.start + dt.timedelta(cfg.days))
    samples: dict[Entity, pa.Table] = {"products": catalog.table}

    def emit(entity: Entity, table: pa.Table, day: dt.date | None) -> None:
        found: list[Found] = []
        valid = table.num_rows
        if injector is not None:
            table, found = injector.inject(entity, table)
        file, sheet, first = output.write(entity, table, day)
        manifest.add_rows(entity, file, sheet, first, found)
        manifest.valid[entity] += valid

    emit("products", catalog.table, None)
    for d, day_seed in enumerate(seeds[4].spawn(cfg.days)):
        day = cfg.start + dt.timedelta(d)
        rng = np.random.default_rng(day_seed)
        for ts in day_chunks(int(counts[d]), day, rng, MAX_CHUNK_ORDERS):
            chunk = factory.build(rng, ts, day=d, progress=d / max(cfg.days - 1, 1), as_of=as_of)
            if chunk.orders.num_rows and "orders" not in samples:
                samples["orders"], samples["order_items"] = chunk.orders, chunk.items
            emit("orders", chunk.orders, day)
            emit("order_items", chunk.items, day)
    files = output.close()

    rejected: list[Path] = []
    manifest_path = None
    if injector is not None:
        rejected = write_rejected_files(
            cfg.out, cfg.fmt, samples, cfg.start, injector.ids, manifest
        )
        manifest_path = manifest.write(cfg.out, injector.padded)
    return GenerateResult(
        files=files + rejected,
        orders=int(counts.sum()),
        order_items=factory.next_item_id - 1,
        products=cfg.products,
        customers=cfg.customers,
        manifest=manifest_path,
        seconds=time.perf_counter() - began,
        dirty_rows=len(manifest.rows),
        rejected_files=rejected,
        pairs=catalog.pairs(),
    )
