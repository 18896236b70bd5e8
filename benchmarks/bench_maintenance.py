"""Table maintenance, measured: small files before and after compaction + Z-order, and the
Delta log read with and without a checkpoint.

N order items (default 1 M) and their orders are written to silver-shaped tables in 300 small
appends in time order (as frequent deliveries would), then optimized with Z-order columns
(orders by user_id, order_items by product_id; `--items-zorder product_id,order_id` to compare
with two columns, see docs/maintenance.md). Reported: files, bytes, and the
median latency of selective queries through `lakehouse sql`'s path (open the Delta table,
DuckDB over it) before and after. Then a table with 1,000 commits is opened with and without a
checkpoint.

Rows come from `lakehouse.generate` (parquet, in memory) when it is there, else from numpy.
Usage: python benchmarks/bench_maintenance.py [--items 10000000] [--batches 300] [--no-docs]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import resource
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import DeltaTable, PostCommitHookProperties, write_deltalake

from bench_paths import RESULTS
from lakehouse.contracts import contract_for
from lakehouse.maintenance import MaintenanceSettings, optimize_table, vacuum_table
from lakehouse.maintenance.plan import file_layout
from lakehouse.store import zones
from lakehouse.store.delta import CDF, ensure_table
from lakehouse.store.query import connect
from lakehouse.store.root import Root

HERE = Path(__file__).parent
RESULT = RESULTS / "maintenance.json"
DOC = HERE.parent / "docs" / "maintenance.md"
ZORDER = {"orders": ("user_id",), "order_items": ("product_id",)}
START = dt.date(2025, 4, 1)
ITEMS_PER_ORDER = 4.7  # what lakehouse.generate produces on average


# --- data ------------------------------------------------------------------------------------
def generated(items: int, days: int, seed: int, tmp: Path) -> tuple[pa.Table, pa.Table, str]:
    """(orders, order_items) with typed columns, sorted by time; and where they came from."""
    try:
        from lakehouse import generate
    except ImportError:
        return (*synthetic(items, days, seed), "numpy")
    out = tmp / "generated"
    generate.generate(
        out, orders=int(items / ITEMS_PER_ORDER) + 1000, days=days, seed=seed, fmt="parquet"
    )
    orders = pa.concat_tables(pq.read_table(p) for p in sorted(out.glob("orders_*.parquet")))
    lines = pa.concat_tables(pq.read_table(p) for p in sorted(out.glob("order_items_*.parquet")))
    shutil.rmtree(out)
    lines = lines.sort_by("id").slice(0, items)
    last_order = pc.max(lines["order_id"]).as_py()
    orders = orders.filter(pc.less_equal(orders["order_id"], last_order)).sort_by("order_id")
    return _typed(orders), _typed(lines), "lakehouse.generate"


def _typed(t: pa.Table) -> pa.Table:
    ts = pc.strptime(t["order_timestamp"], format="%Y-%m-%dT%H:%M:%S", unit="us")
    t = t.set_column(t.schema.get_field_index("order_timestamp"), "order_timestamp", ts)
    return t.set_column(t.schema.get_field_index("date"), "date", pc.cast(t["date"], pa.date32()))


def synthetic(items: int, days: int, seed: int) -> tuple[pa.Table, pa.Table]:
    """Fallback: skewed products and customers, ~4.7 lines per order, in time order."""
    rng = np.random.default_rng(seed)
    n_orders = int(items / ITEMS_PER_ORDER) + 1
    customers, products = max(1, n_orders // 4), 5000
    start = int(dt.datetime(START.year, START.month, START.day, tzinfo=dt.UTC).timestamp())
    ts = np.sort(rng.integers(start, start + days * 86_400, n_orders)) * 1_000_000
    sizes = np.clip(rng.poisson(ITEMS_PER_ORDER - 1, n_orders) + 1, 1, 50)
    order_id = np.arange(1, n_orders + 1)
    user_id = rng.zipf(1.3, n_orders) % customers + 1
    line_order = np.repeat(order_id, sizes)[:items]
    idx = line_order - 1
    timestamp = pa.array(ts, pa.timestamp("us"))
    orders = pa.table(
        {
            "order_num": np.ones(n_orders, np.int64),
            "order_id": order_id,
            "user_id": user_id,
            "order_timestamp": timestamp,
            "total_amount": pa.array(np.round(rng.uniform(5, 300, n_orders), 2)),
            "date": pc.cast(timestamp, pa.date32()),
        }
    )
    lines = pa.table(
        {
            "id": np.arange(1, len(line_order) + 1),
            "order_id": line_order,
            "user_id": user_id[idx],
            "product_id": rng.zipf(1.2, len(line_order)) % products + 1,
            "add_to_cart_order": np.ones(len(line_order), np.int64),
            "reordered": rng.integers(0, 2, len(line_order)),
            "order_timestamp": timestamp.take(pa.array(idx)),
            "date": pc.cast(timestamp, pa.date32()).take(pa.array(idx)),
        }
    )
    return orders, lines


def silver_batch(entity: str, rows: pa.Table, batch: int) -> pa.Table:
    """Rows as the silver table stores them: contract columns (missing optional ones null) and
    lineage of the delivery `batch`."""
    schema = zones.silver_schema(contract_for(entity))
    n = rows.num_rows
    lineage: dict[str, Any] = {
        "_source_file": pa.array([f"{entity}-{batch:04d}.csv"] * n),
        "_sheet": pa.array([""] * n),
        "_row": pa.array(np.arange(2, n + 2)),
        "_file_sha256": pa.array([f"{batch:064x}"] * n),
        "_run_id": pa.array([f"bench-{batch:04d}"] * n),
        "_ingested_at": pa.array([dt.datetime(2025, 5, 1, tzinfo=dt.UTC)] * n, zones.TS),
    }
    cols = []
    for f in schema:
        if f.name in lineage:
            cols.append(lineage[f.name])
        elif f.name in rows.column_names:
            col = rows[f.name]
            if pa.types.is_timestamp(f.type):
                col = pc.assume_timezone(col, "UTC") if col.type.tz is None else col
            cols.append(pc.cast(col, f.type))
        else:
            cols.append(pa.nulls(n, f.type))
    return pa.Table.from_arrays(cols, schema=schema)


def load(root: Root, entity: str, rows: pa.Table, batches: int) -> float:
    contract = contract_for(entity)
    table = ensure_table(
        root,
        "silver",
        entity,
        zones.silver_schema(contract),
        partition_by=contract.partition_by,
        configuration=CDF,
    )
    began = time.perf_counter()
    bounds = np.linspace(0, rows.num_rows, batches + 1).astype(int)
    for i in range(batches):
        part = rows.slice(bounds[i], bounds[i + 1] - bounds[i])
        write_deltalake(table, silver_batch(entity, part, i), mode="append")
    return time.perf_counter() - began


# --- measurements --------------------------------------------------------------------------
def layout(root: Root, entity: str) -> dict[str, int]:
    parts = file_layout(DeltaTable(root.table_uri("silver", entity)), 1 << 62)
    return {"files": sum(p.files for p in parts), "bytes": sum(p.bytes for p in parts)}


def queries(orders: pa.Table, lines: pa.Table, seed: int) -> dict[str, list[str]]:
    """Selective queries: some customers and products of typical (median) activity."""
    rng = np.random.default_rng(seed)

    def typical(column: pa.ChunkedArray, k: int) -> list[int]:
        counts = pc.value_counts(column).to_pylist()
        counts.sort(key=lambda c: c["counts"])
        middle = counts[len(counts) // 3 : 2 * len(counts) // 3] or counts
        return [int(middle[i]["values"]) for i in rng.choice(len(middle), k, replace=False)]

    users, products = typical(orders["user_id"], 5), typical(lines["product_id"], 5)
    return {
        "one customer's orders": [
            f"SELECT * FROM silver.orders WHERE user_id = {u}" for u in users
        ],
        "one product's lines": [
            f"SELECT * FROM silver.order_items WHERE product_id = {p}" for p in products
        ],
        "one customer's lines (not Z-ordered)": [
            f"SELECT * FROM silver.order_items WHERE user_id = {u}" for u in users
        ],
    }


def median_ms(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return round(statistics.median(times) * 1000, 1)


def latencies(root: Root, qs: dict[str, list[str]], repeat: int) -> dict[str, dict[str, float]]:
    """Per query: end to end (open the table + DuckDB query, what `lakehouse sql` does) and on
    an open connection (the scan alone)."""
    out: dict[str, dict[str, float]] = {}
    for name, statements in qs.items():
        table = "silver.orders" if "silver.orders" in statements[0] else "silver.order_items"

        def cold(sql: str, t: str = table) -> Any:
            con = connect(root, [t])
            try:
                return con.sql(sql).to_arrow_table()
            finally:
                con.close()

        con = connect(root, [table])
        cold(statements[0])  # warm the OS cache and imports

        def warm(sql: str, c: Any = con) -> Any:
            return c.sql(sql).to_arrow_table()

        out[name] = {
            "end_to_end_ms": statistics.median(
                median_ms(lambda s=s: cold(s), repeat) for s in statements
            ),
            "scan_ms": statistics.median(
                median_ms(lambda s=s: warm(s), repeat) for s in statements
            ),
            "rows": statistics.median(con.sql(s).to_arrow_table().num_rows for s in statements),
        }
        con.close()
    return out


def log_read(tmp: Path, commits: int, repeat: int) -> dict[str, Any]:
    """Open a table of `commits` commits (replays the log): no checkpoint vs a checkpoint.

    Written through one DeltaTable object (each commit read once); a process that opens the
    table afresh for every write would replay the whole log each time."""
    uri = str(tmp / "log_table")
    hook = PostCommitHookProperties(create_checkpoint=False, cleanup_expired_logs=False)
    row = pa.table({"id": pa.array([0], pa.int64()), "v": pa.array(["x"])})
    write_deltalake(uri, row, post_commithook_properties=hook)
    table = DeltaTable(uri)
    for _ in range(commits - 1):
        write_deltalake(table, row, mode="append", post_commithook_properties=hook)

    def open_and_list() -> int:
        return len(DeltaTable(uri).file_uris())

    assert open_and_list() == commits
    without = median_ms(open_and_list, repeat)
    DeltaTable(uri).create_checkpoint()
    with_ckpt = median_ms(open_and_list, repeat)
    return {
        "commits": commits,
        "open_no_checkpoint_ms": without,
        "open_with_checkpoint_ms": with_ckpt,
        "speedup": round(without / with_ckpt, 1) if with_ckpt else None,
    }


# --- run -----------------------------------------------------------------------------------
def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    root = Root(tmp / "lake")
    t = time.perf_counter()
    orders, lines, source = generated(args.items, args.days, args.seed, tmp)
    gen_s = time.perf_counter() - t
    print(f"data: {orders.num_rows:,} orders, {lines.num_rows:,} lines ({source}, {gen_s:.1f} s)")
    load_s = {
        "orders": load(root, "orders", orders, args.batches),
        "order_items": load(root, "order_items", lines, args.batches),
    }
    print(f"loaded in {args.batches} appends each: {load_s}")
    qs = queries(orders, lines, args.seed)
    checksum = {
        "orders": pc.sum(orders["order_id"]).as_py(),
        "order_items": pc.sum(lines["id"]).as_py(),
    }
    n_orders = orders.num_rows
    del orders, lines
    before = {e: layout(root, e) for e in ZORDER}
    lat_before = latencies(root, qs, args.repeat)
    print(f"before: {before} {lat_before}")

    settings = MaintenanceSettings.load(root)
    opt = {}
    for entity, cols in ZORDER.items():
        r = optimize_table(root, f"silver.{entity}", run_id="bench", settings=settings, zorder=cols)
        opt[entity] = {"seconds": round(r.seconds, 2), "partitions": len(r.partitions)}
    after = {e: layout(root, e) for e in ZORDER}
    lat_after = latencies(root, qs, args.repeat)
    print(f"after: {after} {lat_after}")
    con = connect(root, [f"silver.{e}" for e in ZORDER])
    for entity, key in (("orders", "order_id"), ("order_items", "id")):
        got = con.execute(f"SELECT sum({key}) FROM silver.{entity}").fetchone()
        assert got is not None and got[0] == checksum[entity], f"{entity}: rows changed"
    con.close()

    vac = {}
    for entity in ZORDER:
        v = vacuum_table(
            root,
            f"silver.{entity}",
            run_id="bench",
            settings=settings,
            retention_hours=0,
            force=True,
        )
        vac[entity] = {"files_removed": v.files_removed, "bytes_removed": v.bytes_removed}

    return {
        "benchmark": "maintenance",
        "items": args.items,
        "orders": n_orders,
        "batches": args.batches,
        "days": args.days,
        "data_source": source,
        "load_seconds": {k: round(v, 1) for k, v in load_s.items()},
        "settings": {
            "target_file_size": settings.target_file_size,
            "min_small_files": settings.min_small_files,
            "row_group_rows": settings.row_group_rows,
            "zorder_row_group_rows": settings.zorder_row_group_rows,
        },
        "zorder": {k: list(v) for k, v in ZORDER.items()},
        "before": before,
        "after": after,
        "optimize": opt,
        "vacuum_after_optimize": vac,
        "queries_before": lat_before,
        "queries_after": lat_after,
        "speedup_end_to_end": {
            q: round(lat_before[q]["end_to_end_ms"] / lat_after[q]["end_to_end_ms"], 1) for q in qs
        },
        "speedup_scan": {
            q: round(lat_before[q]["scan_ms"] / lat_after[q]["scan_ms"], 1) for q in qs
        },
        "log_read": log_read(tmp, args.log_commits, args.repeat) if args.log_commits else None,
        "repeat": args.repeat,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "machine": f"{platform.machine()} {platform.system()} python {platform.python_version()}",
    }


def markdown(r: dict[str, Any]) -> str:
    lines = [
        f"{r['items']:,} order items and their orders, {r['batches']} appends per table over "
        f"{r['days']} days ({r['data_source']}); {r['machine']}; medians of {r['repeat']} runs.",
        "",
        "| table | files before | files after | MB before | MB after |",
        "|---|---:|---:|---:|---:|",
    ]
    for e in ZORDER:
        b, a = r["before"][e], r["after"][e]
        lines.append(
            f"| silver.{e} | {b['files']:,} | {a['files']:,} | {b['bytes'] / 1e6:,.1f} | "
            f"{a['bytes'] / 1e6:,.1f} |"
        )
    lines += [
        "",
        "| query | before (ms) | after (ms) | speed-up | scan only: before → after (ms) |",
        "|---|---:|---:|---:|---:|",
    ]
    for q, before in r["queries_before"].items():
        after = r["queries_after"][q]
        lines.append(
            f"| {q} | {before['end_to_end_ms']:,.0f} | {after['end_to_end_ms']:,.0f} | "
            f"{r['speedup_end_to_end'][q]}x | {before['scan_ms']:,.0f} → {after['scan_ms']:,.0f} |"
        )
    log = r.get("log_read")
    if log:
        lines += [
            "",
            f"Opening a table after {log['commits']:,} commits (log replay + file list): "
            f"{log['open_no_checkpoint_ms']:,.0f} ms without a checkpoint, "
            f"{log['open_with_checkpoint_ms']:,.0f} ms with one ({log['speedup']}x).",
        ]
    return "\n".join(lines)


def update_doc(text: str, items: int) -> None:
    """Replace this size's block in docs/maintenance.md (each size has its own markers)."""
    begin, end = (
        f"<!-- bench_maintenance {items} begin -->",
        f"<!-- bench_maintenance {items} end -->",
    )
    if not DOC.exists():
        return
    doc = DOC.read_text()
    if begin not in doc or end not in doc:
        doc = doc.rstrip("\n") + f"\n\n{begin}\n{end}\n"
    head, rest = doc.split(begin, 1)
    _, tail = rest.split(end, 1)
    DOC.write_text(f"{head}{begin}\n{text}\n{end}{tail}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=1_000_000)
    ap.add_argument("--batches", type=int, default=300)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--log-commits", type=int, default=1000, help="0 skips the log benchmark")
    ap.add_argument("--no-docs", action="store_true", help="do not update docs/maintenance.md")
    ap.add_argument("--out", type=Path, default=RESULT)
    ap.add_argument(
        "--items-zorder",
        default=",".join(ZORDER["order_items"]),
        help="Z-order columns of order_items (e.g. product_id,order_id to compare)",
    )
    args = ap.parse_args()
    ZORDER["order_items"] = tuple(c.strip() for c in args.items_zorder.split(",") if c.strip())
    with tempfile.TemporaryDirectory() as d:
        result = run(args, Path(d))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    text = markdown(result)
    if not args.no_docs:
        update_doc(text, args.items)
    print(json.dumps(result, indent=2))
    print(text)


if __name__ == "__main__":
    main()
