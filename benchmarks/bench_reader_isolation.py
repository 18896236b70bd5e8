"""A/B: the pipeline with the previous source tree (A) and this one (B), runs alternating.

Reading untrusted files in a confined worker process costs per file and per byte; this measures
what that costs end to end on the lab data (3 files, 49,303 rows) and, with `--items`, on the
generated 1 M-item data set (Parquet, a file per day and entity). Every run is a fresh root in
a fresh interpreter; the medians of each side and B/A are printed.
Usage: python benchmarks/bench_reader_isolation.py --a OLD/src --b NEW/src [--repeat 5]
       [--items 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
LAB = HERE.parent / "tests" / "data" / "lab"
LAB_FILES = ["products.csv", "orders_apr_2025.xlsx", "order_items_apr_2025.xlsx"]
RUN = """
import sys, time
from pathlib import Path
from lakehouse import Lakehouse
sources = [Path(p) for p in sys.argv[2:]]
started = time.perf_counter()
summary = Lakehouse(Path(sys.argv[1])).run(sources)
assert summary.status == "SUCCEEDED" and not summary.files_rejected, summary
print(time.perf_counter() - started)
"""


def one_run(src: str, sources: list[Path]) -> float:
    """Seconds `Lakehouse.run` takes (imports excluded) in a fresh interpreter and root."""
    with tempfile.TemporaryDirectory() as d:
        out = subprocess.run(
            [sys.executable, "-c", RUN, str(Path(d) / "lake"), *map(str, sources)],
            env={**os.environ, "PYTHONPATH": src, "LAKEHOUSE_LOG": "text"},
            check=True,
            capture_output=True,
            text=True,
        )
    return float(out.stdout.strip().splitlines()[-1])


def ab(a: str, b: str, sources: list[Path], repeat: int) -> dict[str, float]:
    times: dict[str, list[float]] = {"a": [], "b": []}
    for _ in range(repeat):
        for side, src in (("a", a), ("b", b)):
            times[side].append(one_run(src, sources))
    ma, mb = statistics.median(times["a"]), statistics.median(times["b"])
    return {
        "a_median_s": round(ma, 3),
        "b_median_s": round(mb, 3),
        "b_over_a": round(mb / ma, 3),
        "a_runs": [round(t, 3) for t in times["a"]],
        "b_runs": [round(t, 3) for t in times["b"]],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--a", required=True, help="source tree (the src folder) before the change")
    ap.add_argument("--b", required=True, help="source tree with the change")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--items", type=int, default=0, help="also the generated data set")
    args = ap.parse_args()
    result: dict[str, object] = {
        "lab": ab(args.a, args.b, [LAB / f for f in LAB_FILES], args.repeat)
    }
    print(json.dumps(result, indent=2), flush=True)
    if args.items:
        sys.path.insert(0, str(HERE))
        from bench_pipeline import dataset

        data = dataset(args.items)
        files = sorted(p for p in data.rglob("*") if p.is_file() and not p.name.startswith("."))
        started = time.perf_counter()
        result[f"items_{args.items}"] = {
            "files": len(files),
            **ab(args.a, args.b, files, args.repeat),
        }
        result["total_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
