"""Benchmark the local and spark engines on the same job: wall time and peak RSS side by side.

    python benchmarks/bench_engines.py [--items N] [--repeat R] [--engines local,spark]

Datasets: the lab delivery (tests/data/lab: two workbooks and products.csv) and, with
`--items N`, N generated order items (`lakehouse.generate`, parquet). Each engine runs each
dataset in a fresh process, into a fresh lakehouse root: the time of `Lakehouse.run` is the
job; Spark's session start is reported apart (`startup_s`). Peak RSS is the highest sum of
resident memory over the process and its children (the JVM, Spark's Python workers), sampled
every 200 ms; `driver_python_peak_mb` is the driver's Python process alone (its own maximum).
Prints a table and writes JSON to benchmarks/results/engines.json (or --result).
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench_paths import RESULTS

HERE = Path(__file__).parent
LAB = HERE.parent / "tests" / "data" / "lab"
LAB_FILES = ("products.csv", "orders_apr_2025.xlsx", "order_items_apr_2025.xlsx")
ITEMS_PER_ORDER = 4.4  # mean lines per order of the generator's default shop model


# --- child: one engine, one dataset, one run ---------------------------------------------------
def child(engine: str, source: Path, root: Path) -> dict[str, Any]:
    from lakehouse import Lakehouse

    t0 = time.perf_counter()
    if engine == "spark":
        from lakehouse.engines.spark import get_session

        get_session()
    startup = time.perf_counter() - t0
    lh = Lakehouse(root)
    t1 = time.perf_counter()
    summary = lh.run(sorted(p for p in source.iterdir() if p.is_file()), engine=engine)
    seconds = time.perf_counter() - t1
    counts = {
        t: int(lh.sql(f"SELECT count(*) AS n FROM silver.{t}")["n"][0].as_py())
        for t in ("products", "orders", "order_items")
    }
    return {
        "status": summary.status,
        "seconds": round(seconds, 3),
        # the driver's Python process alone (not the JVM, its Python workers or the reader
        # sandbox): where the local readers' rows lived before the executors read the files
        "driver_python_peak_mb": round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
        ),
        "startup_s": round(startup, 3),
        "rows_in": summary.rows_in,
        "quarantined": summary.rows_quarantined,
        "silver_rows": counts,
    }


# --- parent: datasets, processes, memory --------------------------------------------------------
def _tree_rss(pid: int) -> int:
    """Resident bytes of a process and its descendants (Linux /proc). Children are looked up
    on each process's main thread only (PySpark starts the JVM from it): walking every JVM
    thread 20 times a second would steal the CPU being measured."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo += [int(c) for c in f.read().split()]
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total


def measure(engine: str, source: Path, work: Path) -> dict[str, Any]:
    root = work / f"lake-{engine}"
    shutil.rmtree(root, ignore_errors=True)
    cmd = [sys.executable, __file__, "--child", engine, str(source), str(root)]
    wall0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0

    def sample() -> None:
        nonlocal peak
        while proc.poll() is None:
            peak = max(peak, _tree_rss(proc.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    sampler.join()
    if proc.returncode != 0:  # stdout says whether the run finished before the process died
        raise SystemExit(
            f"{engine} on {source} failed with status {proc.returncode}:\n"
            f"stdout: {out[-1000:]}\nstderr: {err[-6000:]}"
        )
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    result["process_s"] = round(time.perf_counter() - wall0, 3)
    result["peak_rss_mb"] = round(peak / 2**20, 1)
    shutil.rmtree(root, ignore_errors=True)
    return result


def datasets(items: int | None, work: Path) -> dict[str, Path]:
    lab = work / "lab"
    lab.mkdir(parents=True, exist_ok=True)
    for name in LAB_FILES:
        shutil.copy(LAB / name, lab / name)
    out = {"lab": lab}
    if items:
        try:
            from lakehouse.generate import generate
        except ImportError:
            print("lakehouse.generate is not available: --items skipped", file=sys.stderr)
            return out
        folder = work / f"generated_{items}"
        result = generate(folder, orders=max(1, round(items / ITEMS_PER_ORDER)), fmt="parquet")
        flat = work / f"items_{items}"
        flat.mkdir()
        for f in result.files:
            shutil.copy(f, flat / f.relative_to(folder).as_posix().replace("/", "__"))
        out[f"generated_{result.order_items}_items"] = flat
    return out


def spark_settings() -> dict[str, str]:
    from lakehouse.engines.spark import session

    return {
        "master": os.environ.get("LAKEHOUSE_SPARK_MASTER", "local[2]"),
        "driver_memory": os.environ.get("LAKEHOUSE_SPARK_DRIVER_MEMORY", "2g"),
        "java_options": os.environ.get("LAKEHOUSE_SPARK_JAVA_OPTIONS", session.JAVA_OPTIONS),
    }


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    best = min(runs, key=lambda r: r["seconds"])
    return {
        **best,
        "median_s": round(statistics.median(r["seconds"] for r in runs), 3),
        "runs_s": [r["seconds"] for r in runs],
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--items", type=int, default=None, help="also N generated order items")
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--engines", default="local,spark")
    p.add_argument("--result", type=Path, default=RESULTS / "engines.json")
    args = p.parse_args(argv)
    engines = [e for e in args.engines.split(",") if e]
    report: dict[str, Any] = {
        "benchmark": "engines",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
            "spark": spark_settings(),
        },
        "note": "seconds = Lakehouse.run (the job); startup_s = Spark session start, apart; "
        "peak_rss_mb = process + JVM (+ its Python workers); driver_python_peak_mb = the "
        "driver's Python process alone",
        "datasets": {},
    }
    with tempfile.TemporaryDirectory(prefix="bench-engines-") as tmp:
        for name, source in datasets(args.items, Path(tmp)).items():
            row: dict[str, Any] = {}
            for engine in engines:
                runs = [measure(engine, source, Path(tmp)) for _ in range(args.repeat)]
                row[engine] = summarise(runs)
            if "local" in row and "spark" in row:
                row["spark_vs_local_time"] = round(
                    row["spark"]["median_s"] / row["local"]["median_s"], 2
                )
                same = row["spark"]["silver_rows"] == row["local"]["silver_rows"]
                row["same_silver_counts"] = same
            report["datasets"][name] = row
    args.result.parent.mkdir(parents=True, exist_ok=True)
    args.result.write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"{'dataset':34} {'engine':7} {'run s':>8} {'start s':>8} {'peak MB':>9} "
        f"{'driver MB':>9} rows in"
    )
    for name, row in report["datasets"].items():
        for engine in engines:
            r = row[engine]
            print(
                f"{name:34} {engine:7} {r['median_s']:8.2f} {r['startup_s']:8.2f} "
                f"{r['peak_rss_mb']:9.0f} {r['driver_python_peak_mb']:9.0f} {r['rows_in']}"
            )
    return report


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        faulthandler.enable()  # a native crash prints every thread's Python stack
        print(json.dumps(child(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]))))
    else:
        main()
