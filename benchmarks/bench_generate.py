"""Benchmark the data generator: rows per second and peak memory for N order items.

    python benchmarks/bench_generate.py --items 10000000 --out DIR [--format parquet]

Orders are sized from the expected basket (ITEMS_PER_ORDER); the real item count is reported.
Prints one JSON object and writes it to benchmarks/results/generate.json (or --result).
Peak RSS is the process's high-water mark (resource.getrusage), so run one size per process.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import tempfile
from pathlib import Path

from bench_paths import RESULTS
from lakehouse.generate import FORMATS, generate

ITEMS_PER_ORDER = 4.4  # measured mean lines per order with the default shop model
TARGET = {"items": 10_000_000, "seconds": 60.0, "peak_rss_mb": 2048.0}


def main(argv: list[str] | None = None) -> dict[str, object]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--items", type=int, default=1_000_000, help="order items to generate")
    p.add_argument("--out", type=Path, default=None, help="folder (default: a temporary one)")
    p.add_argument("--format", choices=FORMATS, default="parquet")
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--products", type=int, default=2000)
    p.add_argument("--dirty-rate", type=float, default=0.0)
    p.add_argument("--keep", action="store_true", help="keep the generated files")
    p.add_argument("--result", type=Path, default=RESULTS / "generate.json")
    args = p.parse_args(argv)

    out = args.out or Path(tempfile.mkdtemp(prefix="bench-generate-"))
    if out.exists() and any(out.iterdir()):
        out = out / f"run-{os.getpid()}"  # never mix with (or delete) files already there
    created = args.out is None or not out.exists()
    orders = max(1, round(args.items / ITEMS_PER_ORDER))
    r = generate(
        out,
        orders=orders,
        products=args.products,
        days=args.days,
        fmt=args.format,
        dirty_rate=args.dirty_rate,
    )
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    size = sum(f.stat().st_size for f in r.files)
    result: dict[str, object] = {
        "benchmark": "generate",
        "format": args.format,
        "items_requested": args.items,
        "orders": r.orders,
        "order_items": r.order_items,
        "products": r.products,
        "customers": r.customers,
        "days": args.days,
        "files": len(r.files),
        "bytes": size,
        "seconds": round(r.seconds, 3),
        "items_per_second": round(r.order_items / r.seconds),
        "rows_per_second": round(r.rows / r.seconds),
        "peak_rss_mb": round(peak_kb / 1024, 1),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "target": TARGET,
    }
    if r.order_items >= TARGET["items"]:
        result["meets_target"] = (
            r.seconds < TARGET["seconds"] and peak_kb / 1024 < TARGET["peak_rss_mb"]
        )
    if not args.keep:
        for f in [*r.files, *([r.manifest] if r.manifest else [])]:
            f.unlink()
        if created:
            shutil.rmtree(out, ignore_errors=True)
    print(json.dumps(result, indent=2))
    args.result.parent.mkdir(parents=True, exist_ok=True)
    args.result.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
