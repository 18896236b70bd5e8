"""Pipeline at scale on the local engine: full load, one-day incremental, dashboard queries.

Data comes from the generator (Parquet, one file per day per entity), cached under
benchmarks/data/. Each phase runs in a fresh subprocess so its peak RSS is its own
(`resource.getrusage(RUSAGE_CHILDREN)` after it exits). The Spark side of the comparison is
benchmarks/bench_engines.py.
Usage: python benchmarks/bench_pipeline.py [--items 1000000] [--queries 15]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from bench_paths import DATA, RESULTS

if TYPE_CHECKING:
    from lakehouse.generate import Format

HERE = Path(__file__).parent
QUERIES = {
    "sales_trend": "SELECT date, orders, revenue, aov FROM gold.sales_daily ORDER BY date",
    "top_products": "SELECT product_name, units, revenue FROM gold.product_performance "
    "ORDER BY revenue DESC LIMIT 20",
    "heatmap": "SELECT day_of_week, hour, orders FROM gold.order_time_heatmap",
    "payments": "SELECT payment_method, orders, revenue, aov FROM gold.payment_methods",
    "segments": "SELECT segment, count(*) AS customers FROM gold.customer_segments GROUP BY 1",
    "pairs": "SELECT product_a, product_b, lift FROM gold.product_pairs "
    "ORDER BY lift DESC LIMIT 20",
}


def dataset(items: int, fmt: Format = "parquet") -> Path:
    """Generated data with about `items` order lines (about 4.4 lines per order), as files of
    `fmt` (Parquet: one file per day and entity)."""
    out = DATA / (f"items_{items}" if fmt == "parquet" else f"items_{items}_{fmt}")
    if not (out / ".complete").exists():
        shutil.rmtree(out, ignore_errors=True)
        from lakehouse.generate import generate

        orders = max(1000, int(items / 4.4))
        generate(
            out,
            orders=orders,
            products=5000,
            customers=max(100, orders // 4),
            days=60,
            fmt=fmt,
            seed=1,
        )
        (out / ".complete").touch()
    return out


def child(code: str) -> tuple[float, float]:
    """Run `code` in a fresh interpreter; (wall seconds, that process's own peak RSS in MiB)."""
    t = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", code], env={**os.environ, "LAKEHOUSE_LOG": "text"}
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    if status != 0:
        raise SystemExit(f"benchmark child failed with status {status}")
    return wall, usage.ru_maxrss / 1024


def committed_after(table: Path, start: float) -> float:
    """Seconds from `start` (epoch) to the table's latest commit."""
    from deltalake import DeltaTable

    return round(DeltaTable(str(table)).history(1)[0]["timestamp"] / 1000 - start, 2)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=15)
    args = ap.parse_args()
    data = dataset(args.items)
    days = sorted({p.stem.rsplit("_", 1)[-1] for p in data.glob("orders_*.parquet")})
    last = days[-1]
    work = DATA / "work"
    shutil.rmtree(work, ignore_errors=True)
    history = work / "history"
    history.mkdir(parents=True)
    for p in data.glob("*.parquet"):
        if last not in p.name:
            os.link(p, history / p.name)
    newest = work / "newest"
    newest.mkdir()
    for p in data.glob(f"*{last}*.parquet"):
        os.link(p, newest / p.name)
    root = work / "lake"
    run = (
        "from lakehouse import Lakehouse; s = Lakehouse({root!r}).run([{src!r}]); "
        "assert s.status == 'SUCCEEDED', s"
    )
    full_s, full_rss = child(run.format(root=str(root), src=str(history)))
    inc_start = time.time()
    inc_s, inc_rss = child(run.format(root=str(root), src=str(newest)))
    # when, inside that run, each layer was current (gold writes its by-date tables first)
    current_after = {
        name: committed_after(root / table, inc_start)
        for name, table in (
            ("silver.order_items", "silver/order_items"),
            ("gold.sales_daily", "gold/sales_daily"),
            ("every gold table", "_ops/gold_builds"),
        )
    }

    from lakehouse import Lakehouse

    lh = Lakehouse(root)
    items = lh.sql("SELECT count(*) AS n FROM silver.order_items")["n"][0].as_py()
    timings: dict[str, float] = {}
    for name, sql in QUERIES.items():
        lh.sql(sql)  # warm: table metadata and first-use costs
        samples = []
        for _ in range(args.queries):
            t = time.perf_counter()
            lh.sql(sql)
            samples.append(time.perf_counter() - t)
        timings[name] = round(statistics.median(samples) * 1000, 1)
    result = {
        "benchmark": "pipeline_local",
        "order_items": items,
        "full_pipeline_s": round(full_s, 2),
        "full_rows_per_s": round(items / full_s),
        "full_peak_rss_mib": round(full_rss),
        "incremental_day_s": round(inc_s, 2),
        "incremental_peak_rss_mib": round(inc_rss),
        "incremental_current_after_s": current_after,
        "dashboard_query_median_ms": timings,
        "targets": {"full_10m_s": 60, "peak_rss_mib": 4096, "incremental_s": 5, "query_ms": 200},
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, python "
        f"{platform.python_version()}",
        "note": "wall times include interpreter start and imports (about 1 s)",
    }
    out = RESULTS / f"pipeline_{args.items}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
