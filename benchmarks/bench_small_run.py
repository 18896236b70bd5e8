"""The fixed cost of a small run: one day's files (about 10,000 order lines) into an empty
lakehouse, against what its rows alone cost.

Each measurement is a fresh interpreter, as a user's `lakehouse run` is:
- `cli`: `lakehouse run --root R --source D` (what users run), wall time;
- `run`: the same run through the Python API, with the run's steps (`RunSummary.steps`) and the
  time to import the package;
- `rows`: the floor for the same bytes: pyarrow reads the three CSV files and delta-rs writes
  them as three tables, imports included.
Medians of `--repeat` rounds, the cases alternating; `fixed_s` is the run's time beyond the rows'.
Usage: python benchmarks/bench_small_run.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench_paths import RESULTS
from bench_pipeline import DATA

RUN = """
import json, time
began = time.perf_counter()
from lakehouse import Lakehouse
imported = time.perf_counter() - began
s = Lakehouse({root!r}).run([{src!r}])
assert s.status == "SUCCEEDED" and s.rows_in == {rows}, s
print(json.dumps({{"import_s": imported, "steps": s.steps}}))
"""
ROWS = """
import pyarrow.csv as csv
from deltalake import write_deltalake
for name in {names!r}:
    table = csv.read_csv({src!r} + "/" + name)
    write_deltalake({root!r} + "/" + name.split("_2")[0].removesuffix(".csv"), table)
"""


def timed(args: list[str]) -> tuple[float, str]:
    began = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, env={**os.environ})
    wall = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"{args[:3]} failed:\n{done.stderr[-2000:]}")
    return wall, done.stdout


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    from lakehouse.generate import generate

    src = DATA / "small_run"
    shutil.rmtree(src, ignore_errors=True)
    generate(src, orders=2300, products=300, days=1, fmt="csv", seed=42)
    names = sorted(p.name for p in src.glob("*.csv"))
    rows = sum(sum(1 for _ in (src / n).open()) - 1 for n in names)
    work = DATA / "small_run_lake"
    cli = str(Path(sys.executable).with_name("lakehouse"))
    walls: dict[str, list[float]] = {"cli": [], "run": [], "rows": []}
    imports: list[float] = []
    steps: dict[str, list[float]] = {}
    for _ in range(args.repeat):
        for case in walls:
            shutil.rmtree(work, ignore_errors=True)
            if case == "cli":
                wall, _ = timed([cli, "run", "--root", str(work), "--source", str(src)])
            elif case == "run":
                code = RUN.format(root=str(work), src=str(src), rows=rows)
                wall, out = timed([sys.executable, "-c", code])
                report = json.loads(out.strip().splitlines()[-1])
                imports.append(report["import_s"])
                for step, seconds in report["steps"].items():
                    steps.setdefault(step, []).append(seconds)
            else:
                work.mkdir(parents=True)
                code = ROWS.format(names=names, src=str(src), root=str(work))
                wall, _ = timed([sys.executable, "-c", code])
            walls[case].append(wall)
    median = {k: round(statistics.median(v), 3) for k, v in walls.items()}
    result = {
        "benchmark": "small_run",
        "files": names,
        "rows": rows,
        "repeat": args.repeat,
        "wall_s_median": median,
        "import_lakehouse_s_median": round(statistics.median(imports), 3),
        "steps_s_median": {k: round(statistics.median(v), 3) for k, v in steps.items()},
        "fixed_s": round(median["cli"] - median["rows"], 3),
        "ratio_cli_over_rows": round(median["cli"] / median["rows"], 2),
    }
    out = RESULTS / "small_run.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
