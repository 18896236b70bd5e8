"""A full load against the raw-library floor for the same bytes (issue #18: lakehouse ≤ 2x floor).

The same generated delivery (products, orders and order items of `--items` order lines over 60
days; Parquet by default, `--format` csv, jsonl or xlsx) is loaded, in alternating runs, each a
fresh interpreter into an empty folder, by

- **the lakehouse**: `Lakehouse(root).run([delivery])` with default settings (copy into landing,
  bronze, validation and merge into silver, quarantine, gold with its default refresh, catalog,
  quality checks, archive, maintenance, ops tables); its `RunSummary.steps` say where its time
  goes;
- **the floor**, pyarrow + DuckDB + delta-rs and nothing else:
  1. read every file with pyarrow (csv / jsonl / parquet; python-calamine for xlsx), the entity
     from the contracts' `file_patterns`, every value as text (nulls stay null);
  2. bronze: each entity's text as one Delta table (`write_deltalake`, one commit, unpartitioned);
  3. silver: `CAST` of each text column to its contract type in DuckDB (bigint, decimal(p,s),
     date, timestamp as UTC, string), written as one Delta table per entity with the contract's
     `partition_by` (date for orders and order items), one commit each;
  4. gold: five real models computed by DuckDB over the silver Arrow tables, from their own SQL
     files in `src/lakehouse/gold/models/` (line revenue materialised once, as the lakehouse
     does): sales_daily (by day), product_days (by product and day), customer_profile (by
     customer), department_sales (revenue by department and day) and catalog_summary (products
     by department and aisle, sold / active / 80 % of units, from product_days as the lakehouse
     does); each written whole with delta-rs. With `--models all`, every model the lakehouse
     writes (27), from its SQL file, each after the models it reads: the same gold work, so the
     ratio is then the lakehouse's own cost (validation, lineage, merge, ops, ...) over the
     libraries'.

  The floor does **not**: validate anything (no required, range, enum, key or foreign-key
  checks, no duplicate keys, no reasons, no quarantine), apply column defaults, hash files,
  keep lineage columns (`_source_file`, `_row`, ...), read in a sandboxed process, bound its
  memory (each entity is held whole, text and typed), merge into existing tables, build the
  other gold models (unless `--models all`), write ops tables (`_ops.*`: runs, files, metrics,
  gold builds), sync a catalog, check SLAs, archive files, maintain tables or take a lock. That
  is the point of a floor: the least work that turns these bytes into bronze, silver and gold.

Peak RSS is each child's own (`os.wait4`, as the other benchmarks); wall times include
interpreter start and imports on both sides. Both sides allocate Arrow memory from the same pool:
this script imports `lakehouse`, which chooses jemalloc (`lakehouse.store.arrow_pool`) through
`ARROW_DEFAULT_MEMORY_POOL`, and each child inherits it. The machine is shared: only the ratio
measured in this script (medians of `--repeat` alternating runs) is meaningful, not the absolute
seconds.
Usage: python benchmarks/bench_floor.py [--items 1000000] [--repeat 3] [--format parquet]
       [--models five|all]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq
from deltalake import DeltaTable, write_deltalake

from bench_paths import RESULTS
from bench_pipeline import DATA, HERE, child, dataset
from lakehouse.contracts import Contract, load_contracts
from lakehouse.gold.model import list_models

SRC = HERE.parent / "src" / "lakehouse"
MODELS = SRC / "gold" / "models"
GOLD = ["sales_daily", "product_days", "customer_profile", "department_sales", "catalog_summary"]
SHARED = "line_revenue"  # the ephemeral model product_days and department_sales read
#: DuckDB's name for a contract type (a decimal keeps its own spelling, `decimal(12,2)`)
SQL_TYPES = {"bigint": "BIGINT", "string": "VARCHAR", "date": "DATE", "timestamp": "TIMESTAMPTZ"}

# the gold step's seconds per model come from its `gold_refreshed` event (logged at INFO)
LAKEHOUSE = """
import json, logging, time
t0 = time.perf_counter()
from lakehouse import Lakehouse
t1 = time.perf_counter()
gold = {{}}
class Keep(logging.Handler):
    def emit(self, record):
        if record.getMessage() == "gold_refreshed":
            gold.update(record.fields)
logging.getLogger("lakehouse").addHandler(Keep())
logging.getLogger("lakehouse").setLevel(logging.INFO)
s = Lakehouse({root!r}).run([{src!r}])
t2 = time.perf_counter()
assert s.status == "SUCCEEDED", s
json.dump({{"import_s": t1 - t0, "call_s": t2 - t1, "run_s": s.seconds, "steps": s.steps,
           "rows_in": s.rows_in, "gold_compute_s": gold["compute_s"],
           "gold_write_s": gold["write_s"]}}, open({out!r}, "w"))
"""
FLOOR = "import sys; sys.path.insert(0, {here!r}); import bench_floor; bench_floor.floor({args})"


# --- the floor (runs in its own interpreter) ------------------------------------------------
def entity_of(name: str, specs: dict[str, Contract]) -> str:
    for entity, c in specs.items():
        if c.matches_file_name(name):
            return entity
    raise ValueError(f"{name}: no contract's file_patterns match")


def as_text(table: pa.Table) -> pa.Table:
    return table.cast(pa.schema([(n, pa.string()) for n in table.column_names]))


def read_xlsx(path: Path) -> pa.Table:
    from python_calamine import CalamineWorkbook

    def text(v: object) -> str | None:
        if v is None or v == "":
            return None
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return v.isoformat() if hasattr(v, "isoformat") else str(v)

    sheets = []
    wb = CalamineWorkbook.from_path(str(path))
    for name in wb.sheet_names:
        rows = wb.get_sheet_by_name(name).to_python()
        if len(rows) > 1:
            cols = list(zip(*rows[1:], strict=True))
            arrays = [pa.array([text(v) for v in col], pa.string()) for col in cols]
            sheets.append(pa.table(arrays, names=[str(h) for h in rows[0]]))
    return pa.concat_tables(sheets)


def read_csv(path: Path) -> pa.Table:
    names = pacsv.open_csv(path).schema.names
    text = pacsv.ConvertOptions(
        column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=True
    )
    return pacsv.read_csv(path, convert_options=text)


READERS: dict[str, Callable[[Path], pa.Table]] = {
    ".parquet": lambda p: as_text(pq.read_table(p)),
    ".csv": read_csv,
    ".jsonl": lambda p: as_text(pajson.read_json(p)),
    ".xlsx": read_xlsx,
}


def read_delivery(source: Path, specs: dict[str, Contract]) -> dict[str, pa.Table]:
    """Every file of the delivery, as text, one table per entity (the contract's column order)."""
    parts: dict[str, list[pa.Table]] = {}
    for path in sorted(source.iterdir()):
        if path.name.startswith((".", "_")):
            continue
        parts.setdefault(entity_of(path.name, specs), []).append(READERS[path.suffix](path))
    return {
        e: pa.concat_tables(t, promote_options="permissive").select(specs[e].names)
        for e, t in parts.items()
    }


def typed(con: duckdb.DuckDBPyConnection, text: pa.Table, contract: Contract) -> pa.Table:
    """The text cast to the contract's types in DuckDB: nothing checked, nothing set aside."""
    select = ", ".join(
        f'CAST("{c.name}" AS {SQL_TYPES.get(c.type, c.type.upper())}) AS "{c.name}"'
        for c in contract.columns
    )
    con.register("text_rows", text)
    rows = con.sql(f"SELECT {select} FROM text_rows").to_arrow_table()
    con.unregister("text_rows")
    return rows.cast(pa.schema([(c.name, c.arrow_type()) for c in contract.columns]))


def every_model() -> list[str]:
    """Every model the lakehouse writes, each after the models it reads (their declared order)."""
    return [m.name for m in list_models()]


def floor(source: str, root: str, out: str, models: str = "five") -> None:
    """Load `source` into Delta tables under `root`, gold by the five models (`models` "five")
    or by every model ("all"); phase seconds to `out` (JSON)."""
    phases: dict[str, float] = {}
    t = time.perf_counter()

    def lap(phase: str) -> None:
        nonlocal t
        now = time.perf_counter()
        phases[phase] = phases.get(phase, 0.0) + now - t
        t = now

    specs = load_contracts()
    text = read_delivery(Path(source), specs)
    lap("read")
    for entity, rows in text.items():
        write_deltalake(f"{root}/bronze/{entity}", rows)
    lap("bronze_write")
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'; SET enable_progress_bar = false")
    silver = {}
    for entity in list(text):
        silver[entity] = typed(con, text.pop(entity), specs[entity])
    lap("silver_cast")
    for entity, rows in silver.items():
        parts = list(specs[entity].partition_by) or None
        write_deltalake(f"{root}/silver/{entity}", rows, partition_by=parts)
    lap("silver_write")
    con.execute("CREATE SCHEMA silver; CREATE SCHEMA gold")
    for entity, rows in silver.items():
        con.register(f"silver_{entity}", rows)
        con.execute(f"CREATE VIEW silver.{entity} AS SELECT * FROM silver_{entity}")
    con.execute(f"CREATE TABLE gold.{SHARED} AS {(MODELS / f'{SHARED}.sql').read_text()}")
    lap("gold_compute")
    rows_out = {}
    for model in GOLD if models == "five" else every_model():
        result = con.sql((MODELS / f"{model}.sql").read_text()).to_arrow_table()
        con.register(f"gold_{model}", result)  # a later model may read it (catalog_summary)
        con.execute(f"CREATE VIEW gold.{model} AS SELECT * FROM gold_{model}")
        lap("gold_compute")
        write_deltalake(f"{root}/gold/{model}", result)
        rows_out[model] = result.num_rows
        lap("gold_write")
    con.close()
    rows_in = {e: t.num_rows for e, t in silver.items()}
    Path(out).write_text(json.dumps({"phases": phases, "rows_in": rows_in, "gold": rows_out}))


# --- the comparison -------------------------------------------------------------------------
def measure(side: str, source: Path, root: Path, out: Path, models: str) -> dict[str, Any]:
    """One fresh-interpreter run of `side` into an empty `root`: wall, peak RSS, its report."""
    shutil.rmtree(root, ignore_errors=True)
    if side == "lakehouse":
        code = LAKEHOUSE.format(root=str(root), src=str(source), out=str(out))
    else:
        args = ", ".join(map(repr, [str(source), str(root), str(out), models]))
        code = FLOOR.format(here=str(HERE), args=args)
    wall, rss = child(code)
    return {"wall_s": wall, "peak_rss_mib": rss, **json.loads(out.read_text())}


def medians(runs: list[dict[str, Any]], key: str) -> dict[str, float]:
    """Per-name median of the `key` dicts of `runs` (steps or phases)."""
    names = dict.fromkeys(n for r in runs for n in r[key])
    return {n: round(statistics.median(r[key].get(n, 0.0) for r in runs), 2) for n in names}


def gold_split(run: dict[str, Any]) -> dict[str, float]:
    """The lakehouse gold step's seconds: the floor's models (compute and write), the others,
    and the rest of the step (finding what changed, planning, recording the build)."""
    mine = {*GOLD, SHARED}
    split = {"floor_models": 0.0, "other_models": 0.0}
    for part in ("gold_compute_s", "gold_write_s"):
        for model, seconds in run[part].items():
            split["floor_models" if model in mine else "other_models"] += seconds
    split["rest_of_step"] = run["steps"]["gold"] - split["floor_models"] - split["other_models"]
    return split


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--format", default="parquet", choices=["parquet", "csv", "jsonl", "xlsx"])
    ap.add_argument(
        "--models",
        default="five",
        choices=["five", "all"],
        help="the floor's gold: the issue's five models, or every model the lakehouse builds",
    )
    args = ap.parse_args()
    source = dataset(args.items, args.format)
    work = DATA / "work_floor"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    runs: dict[str, list[dict[str, Any]]] = {"lakehouse": [], "floor": []}
    for n in range(args.repeat):
        order = ["lakehouse", "floor"] if n % 2 == 0 else ["floor", "lakehouse"]
        for side in order:
            run = measure(side, source, work / side, work / f"{side}-{n}.json", args.models)
            runs[side].append(run)
            print(f"run {n + 1}/{args.repeat} {side:9} {run['wall_s']:7.2f} s", flush=True)
    lake, flo = runs["lakehouse"], runs["floor"]
    rows_in = sum(flo[0]["rows_in"].values())
    assert lake[0]["rows_in"] == rows_in, (lake[0]["rows_in"], rows_in)
    built = {m: DeltaTable(work / "lakehouse" / "gold" / m).count() for m in flo[0]["gold"]}
    assert built == flo[0]["gold"], ("the floor's gold differs from the lakehouse's", built)
    wall = {s: statistics.median(r["wall_s"] for r in v) for s, v in runs.items()}
    result = {
        "benchmark": "full_load_vs_floor",
        "order_items": flo[0]["rows_in"]["order_items"],
        "floor_models": args.models,
        "rows_in": rows_in,
        "format": args.format,
        "repeat": args.repeat,
        "lakehouse_s_median": round(wall["lakehouse"], 2),
        "floor_s_median": round(wall["floor"], 2),
        "ratio_lakehouse_over_floor": round(wall["lakehouse"] / wall["floor"], 2),
        "ratio_per_pair": [
            round(a["wall_s"] / b["wall_s"], 2) for a, b in zip(lake, flo, strict=True)
        ],
        "lakehouse_s": [round(r["wall_s"], 2) for r in lake],
        "floor_s": [round(r["wall_s"], 2) for r in flo],
        "lakehouse_peak_rss_mib": [round(r["peak_rss_mib"]) for r in lake],
        "floor_peak_rss_mib": [round(r["peak_rss_mib"]) for r in flo],
        "lakehouse_median_s": {
            "import": round(statistics.median(r["import_s"] for r in lake), 2),
            "outside_steps": round(statistics.median(r["call_s"] - r["run_s"] for r in lake), 2),
            "run": round(statistics.median(r["run_s"] for r in lake), 2),
            "steps": medians(lake, "steps"),
            "gold_step": medians([{"split": gold_split(r)} for r in lake], "split"),
            "gold_models": len(lake[0]["gold_write_s"]),
        },
        "floor_phases_median_s": medians(flo, "phases"),
        "floor_gold_rows": flo[0]["gold"],
        "target": {"ratio_lakehouse_over_floor": 2.0},
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, python "
        f"{platform.python_version()}",
        "note": "alternating fresh-interpreter runs on a shared machine: compare the ratio, not "
        "the seconds; wall times include interpreter start and imports; the silver steps of "
        "products and orders run side by side, so the steps add up to more than the run; "
        "outside_steps: Lakehouse.run less the run's own clock (copy into landing, lock, the "
        "_ops.runs rows and metrics)",
    }
    suffix = "" if args.format == "parquet" else f"_{args.format}"
    suffix += "" if args.models == "five" else "_all_models"
    out = RESULTS / f"floor_{args.items}{suffix}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
