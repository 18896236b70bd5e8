"""Gold models on DuckDB: a full build, and the incremental refresh after one more day arrives.

Data: `lakehouse.generate` (parquet, realistic customers and baskets) cast to silver's Arrow
types, or `--source synthetic` (silver-shaped tables with nulls in prices, quantities and
payment methods). The incremental run starts from a full build of every day but the last
(untimed), then refreshes for the last day's dates, customers and products; `--verify` also
checks that applying its writes gives exactly the full build. Median of `--repeat` runs.

Usage: python benchmarks/bench_gold.py [--items 1000000] [--repeat 3] [--verify]
Results are merged into benchmarks/results/gold.json, keyed by the number of items.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from bench_paths import RESULTS
from lakehouse.gold import GoldWrite, Touched, list_models, refresh_gold

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))  # test data lives with the tests
from synthetic_silver import SilverTables, generate_silver, silver_from_parquet

RESULT = RESULTS / "gold.json"


def load(source: str, items: int, days: int, seed: int) -> SilverTables:
    if source == "synthetic":
        return generate_silver(items=items, days=days, products=2000, seed=seed)
    from lakehouse.generate import generate

    with tempfile.TemporaryDirectory() as d:
        generate(d, orders=max(1, round(items / 4.4)), days=days, products=2000, seed=seed,
                 fmt="parquet")  # fmt: skip
        return silver_from_parquet(d)


def connect(silver: SilverTables, threads: int | None) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    if threads:
        con.execute(f"SET threads = {threads}")
    con.execute("CREATE SCHEMA silver")
    for name in ("products", "orders", "order_items"):
        con.register(f"_silver_{name}", getattr(silver, name))
        con.execute(f"CREATE VIEW silver.{name} AS SELECT * FROM _silver_{name}")
    return con


def timed(
    silver: SilverTables, touched: Touched, old: dict[str, pa.Table] | None, threads: int | None
) -> tuple[float, float, list[GoldWrite], dict[str, float]]:
    con = connect(silver, threads)
    per_model: dict[str, float] = {}
    wall, cpu = time.perf_counter(), time.process_time()
    # a stream of writes, each yielded once its model is computed: all of them are timed
    writes = list(refresh_gold(con, touched, old.get if old else None, timings=per_model))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    con.close()
    return wall, cpu, writes, per_model


def apply(old: dict[str, pa.Table], writes: list[GoldWrite]) -> dict[str, pa.Table]:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    tables = dict(old)
    for w in writes:
        if w.mode == "overwrite":
            tables[w.model] = w.table
            continue
        con.register("current", tables[w.model])
        con.register("incoming", w.table)
        tables[w.model] = con.sql(
            f"SELECT * FROM current WHERE NOT ({w.predicate}) UNION ALL SELECT * FROM incoming"
        ).to_arrow_table()
    return tables


def summary(runs: list[tuple[float, float, list[GoldWrite], dict[str, float]]]) -> dict[str, Any]:
    walls = [r[0] for r in runs]
    median_run = sorted(runs, key=lambda r: r[0])[len(runs) // 2]
    slowest_first = sorted(median_run[3].items(), key=lambda kv: -kv[1])
    return {
        "median_s": round(statistics.median(walls), 3),
        "runs_s": [round(w, 3) for w in walls],
        "cpu_s_of_median_run": round(median_run[1], 3),
        "rows_written": sum(w.table.num_rows for w in median_run[2]),
        "writes": {w.model: f"{w.mode} {w.table.num_rows}" for w in median_run[2]},
        "per_model_s": {k: round(v, 3) for k, v in slowest_first},
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=1_000_000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--source", choices=["generate", "synthetic"], default="generate")
    ap.add_argument("--threads", type=int, default=None, help="DuckDB threads (default: all)")
    ap.add_argument("--verify", action="store_true", help="check incremental == full rebuild")
    args = ap.parse_args()

    t = time.perf_counter()
    silver = load(args.source, args.items, args.days, args.seed)
    prepare_s = time.perf_counter() - t
    last = silver.dates()[-1]
    dates, users, products = silver.touched(last)
    touched = Touched(dates, users, products)

    before = {w.model: w.table for w in timed(silver.without(last), Touched.full(), None,
                                              args.threads)[2]}  # fmt: skip
    full = [timed(silver, Touched.full(), None, args.threads) for _ in range(args.repeat)]
    incremental = [timed(silver, touched, before, args.threads) for _ in range(args.repeat)]

    verified = None
    if args.verify:
        rebuilt = {w.model: w.table for w in full[0][2]}
        applied = apply(before, incremental[0][2])
        verified = all(
            applied[m.name]
            .sort_by([(c, "ascending") for c in m.column_names])
            .equals(rebuilt[m.name].sort_by([(c, "ascending") for c in m.column_names]))
            for m in list_models()
        )

    result = {
        "benchmark": "gold",
        "source": args.source,
        "order_items": silver.order_items.num_rows,
        "orders": silver.orders.num_rows,
        "customers": len(set(silver.orders.column("user_id").to_pylist())),
        "products": silver.products.num_rows,
        "days": len(silver.dates()),
        "models": len(list_models()),
        "repeat": args.repeat,
        "prepare_data_s": round(prepare_s, 3),
        "full_build": summary(full),
        "incremental_one_day": {
            "day": last.isoformat(),
            "touched": {"dates": len(dates), "users": len(users), "products": len(products)},
            **summary(incremental),
        },
        "incremental_equals_full": verified,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "cpus": os.cpu_count(),
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        "duckdb": duckdb.__version__,
        "python": platform.python_version(),
    }
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    stored = json.loads(RESULT.read_text()) if RESULT.exists() else {}
    runs = stored.get("runs", {})
    runs[str(args.items)] = result
    RESULT.write_text(json.dumps({"benchmark": "gold", "runs": runs}, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
