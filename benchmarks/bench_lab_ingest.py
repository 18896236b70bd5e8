"""Lab data end to end (landing → bronze → silver), median of N fresh runs.

The baseline measured in the same process is *reading* the same files (the floor any pipeline
pays); the ratio says what bronze + validation + merge + archive add on top.
Usage: python benchmarks/bench_lab_ingest.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bench_paths import RESULTS
from lakehouse import Lakehouse
from lakehouse.ingest.readers import read_file

LAB = Path(__file__).parent.parent / "tests" / "data" / "lab"
FILES = ["products.csv", "orders_apr_2025.xlsx", "order_items_apr_2025.xlsx"]


def read_only() -> float:
    t = time.perf_counter()
    for name in FILES:
        read_file(name, (LAB / name).read_bytes())
    return time.perf_counter() - t


def pipeline(tmp: Path) -> float:
    root = tmp / "lake"
    shutil.rmtree(root, ignore_errors=True)
    t = time.perf_counter()
    summary = Lakehouse(root).run([LAB / f for f in FILES])
    elapsed = time.perf_counter() - t
    assert summary.status == "SUCCEEDED" and summary.rows_in == 49303
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        pipeline(Path(d))  # warm-up: imports, first-use caches
        runs = [pipeline(Path(d)) for _ in range(args.repeat)]
    reads = [read_only() for _ in range(args.repeat)]
    result = {
        "benchmark": "lab_ingest",
        "rows": 49303,
        "repeat": args.repeat,
        "pipeline_median_s": round(statistics.median(runs), 3),
        "read_only_median_s": round(statistics.median(reads), 3),
        "ratio_pipeline_to_read": round(statistics.median(runs) / statistics.median(reads), 2),
        "rows_per_s": round(49303 / statistics.median(runs)),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "machine": f"{platform.machine()} {platform.system()} python {platform.python_version()}",
    }
    out = RESULTS / "lab_ingest.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
