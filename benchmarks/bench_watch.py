"""Near-real-time latency: a 10,000-row file dropped into landing/ while `lakehouse watch` runs,
until a reader sees its rows in silver, then until the gold table commits that run, then until
the run's whole gold build is recorded (every model refreshed, the global analyses last).

The watcher is the real CLI in a subprocess with the shipped settings (poll 0.25 s, batch
window 0.5 s). Each drop is written under a hidden name and renamed into landing/ (what a
careful producer does); the clock starts at the rename. "Visible" means a fresh DeltaTable of
silver.orders counts the new rows. Target: median under 5 s.

`--during-budget-refresh`: each measured drop lands while the watcher refreshes the gold models
with a staleness budget. The budget is set to 0 (every run takes them up after its every-run
models), a first file is dropped, and the measured one lands as soon as that run has committed
gold.sales_daily, i.e. while the run goes on with the budget models. Without giving way the
measured drop waits for all of them; a refresh gives way after the first it took up
(`lakehouse.gold.refresh.GiveWay`).
Usage: python benchmarks/bench_watch.py [--drops 7] [--rows 10000] [--gold-table gold.sales_daily]
       [--items 1000000]  (first load that many generated order items: latency at that size)
       [--during-budget-refresh]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from deltalake import DeltaTable

from bench_paths import RESULTS

LAB = Path(__file__).parent.parent / "tests" / "data" / "lab"
HEADER = "order_num,order_id,user_id,order_timestamp,total_amount,date\n"


def orders_file(path: Path, rows: int, first_id: int) -> None:
    start = dt.datetime(2025, 4, 1)
    lines = [HEADER]
    for i in range(rows):
        ts = start + dt.timedelta(seconds=37 * i)
        lines.append(
            f"{1 + i % 7},{first_id + i},{1 + i % 4999},{ts:%Y-%m-%dT%H:%M:%S},"
            f"{10 + (i * 7919) % 50000 / 100:.2f},{ts:%Y-%m-%d}\n"
        )
    path.write_text("".join(lines))


def count(table: Path) -> int:
    try:
        return int(DeltaTable(str(table)).to_pyarrow_dataset().count_rows())
    except Exception:
        return 0


def last_run_id(table: Path) -> str:
    try:
        return str(DeltaTable(str(table)).history(1)[0].get("lakehouse.run_id", ""))
    except Exception:
        return ""


def wait(check: object, what: str, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.02)
    return time.time()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--drops", type=int, default=7)
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--gold-table", default="gold.sales_daily")
    ap.add_argument(
        "--items", type=int, default=0, help="load this many generated order items first (0: none)"
    )
    ap.add_argument("--during-budget-refresh", action="store_true")
    args = ap.parse_args()
    busy = args.during_budget_refresh
    with tempfile.TemporaryDirectory() as d:
        root = Path(d) / "lake"
        landing = root / "landing"
        landing.mkdir(parents=True)
        if args.items:  # latency into a lakehouse of that size
            from bench_pipeline import dataset
            from lakehouse import Lakehouse

            summary = Lakehouse(root).run([dataset(args.items)])
            assert summary.status == "SUCCEEDED", summary
        limit = 60.0 + args.items / 50_000  # a drop into 10 M items waits for a 10 M gold step
        env = {**os.environ, "LAKEHOUSE__WATCH__IDLE_CHECK_SECONDS": "0"}
        if busy:
            env["LAKEHOUSE__GOLD__STALENESS_MINUTES"] = "0"
        proc = subprocess.Popen(
            [sys.executable, "-m", "lakehouse", "watch", "--root", str(root)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            silver = root / "silver" / "orders"
            gold_path = root / "gold" / args.gold_table.split(".", 1)[-1]
            builds = root / "_ops" / "gold_builds"
            # warm-up: the catalogue and a first drop (imports, table creation)
            if not args.items:
                (landing / "products.csv").write_bytes((LAB / "products.csv").read_bytes())
            silver_s: list[float] = []
            gold_s: list[float] = []
            built_s: list[float] = []
            for n in range(args.drops + 1):
                if busy:  # a run that goes on to the budget models once daily sales commit
                    first = Path(d) / f"orders_{n}_first.csv"
                    orders_file(first, args.rows, 2 * 10**9 + 1_000_000 * n)
                    at = count(silver)
                    os.rename(first, landing / first.name)
                    wait(lambda a=at: count(silver) >= a + args.rows, "the first drop", limit)
                    first_run = last_run_id(silver)
                    wait(lambda r=first_run: last_run_id(gold_path) == r, "its gold", limit)
                src = Path(d) / f"orders_{n}.csv"
                orders_file(src, args.rows, 10**9 + 1_000_000 * n)  # ids no generated order has
                before = count(silver)
                hidden = landing / f".{src.name}"
                os.replace(src, hidden)
                t0 = time.time()
                os.rename(hidden, landing / src.name)
                seen = wait(lambda b=before: count(silver) >= b + args.rows, "silver", limit)
                if n:  # the first drop is the warm-up
                    silver_s.append(seen - t0)
                run_id = last_run_id(silver)
                g = wait(lambda r=run_id: last_run_id(gold_path) == r, args.gold_table, limit)
                b = wait(lambda r=run_id: last_run_id(builds) == r, "the gold build", limit)
                if n:
                    gold_s.append(g - t0)
                    built_s.append(b - t0)
                time.sleep(0.3)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    result = {
        "benchmark": "watch_latency",
        "rows_per_file": args.rows,
        "lakehouse_order_items": args.items,
        "drops": args.drops,
        "silver_median_s": round(statistics.median(silver_s), 3),
        "silver_max_s": round(max(silver_s), 3),
        "silver_all_s": [round(x, 3) for x in silver_s],
        "gold_median_s": round(statistics.median(gold_s), 3),
        "gold_max_s": round(max(gold_s), 3),
        "gold_all_s": [round(x, 3) for x in gold_s],
        "gold_table": args.gold_table,
        "gold_build_median_s": round(statistics.median(built_s), 3),
        "gold_build_all_s": [round(x, 3) for x in built_s],
        "during_budget_refresh": busy,
        "target_s": 5.0,
        "machine": f"{platform.machine()} {platform.system()} python {platform.python_version()}"
        f" cpus {os.cpu_count()}",
    }
    name = f"watch_{args.items}.json" if args.items else "watch.json"
    if busy:
        name = name.replace(".json", "_during_budget_refresh.json")
    out = RESULTS / name
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
