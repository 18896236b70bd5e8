"""The gold models rendered for Spark SQL give the same rows as on DuckDB.

Spark runs in a child process (its own local[2] session, UTC), so the session of other Spark
tests is never touched. Run as a script, this file is that child:
    python tests/test_gold_spark.py SILVER_DIR OUT_FILE
"""

from __future__ import annotations

import datetime as dt
import pickle
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from gold_oracle import compare, connect_silver
from lakehouse.gold import Touched, list_models, refresh_gold, render
from synthetic_silver import generate_silver


def run_on_spark(silver_dir: Path, out: Path) -> None:
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[2]")
        .appName("gold-conformance")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    tables = {}
    for name in ("products", "orders", "order_items"):
        spark.read.parquet(str(silver_dir / f"{name}.parquet")).createOrReplaceTempView(name)
        tables[f"silver.{name}"] = name
    results: dict[str, Any] = {}
    for model in list_models():
        names = {**tables, **{f"gold.{d}": f"gold_{d}" for d in model.depends_on}}
        try:
            frame = spark.sql(render(model, "spark", tables=names))
            frame.createOrReplaceTempView(f"gold_{model.name}")
            types = {f.name: f.dataType.simpleString() for f in frame.schema.fields}
            results[model.name] = {"rows": [r.asDict() for r in frame.collect()], "types": types}
        except Exception as exc:  # report every model, not just the first failure
            results[model.name] = {"error": str(exc)[:2000]}
    spark.stop()
    out.write_bytes(pickle.dumps(results))


def _utc(row: dict[str, Any]) -> dict[str, Any]:
    """Spark returns naive datetimes in the session time zone (UTC)."""
    return {
        k: v.replace(tzinfo=dt.UTC) if isinstance(v, dt.datetime) and v.tzinfo is None else v
        for k, v in row.items()
    }


@pytest.mark.spark
@pytest.mark.slow
def test_spark_gives_the_same_rows_as_duckdb(tmp_path: Path) -> None:
    assert shutil.which("java"), "Spark needs a Java runtime (Java 17)"
    silver = generate_silver(items=3_000, days=20, products=120, seed=21)
    for name in ("products", "orders", "order_items"):
        pq.write_table(getattr(silver, name), tmp_path / f"{name}.parquet")
    out = tmp_path / "spark.pickle"
    child = subprocess.run(
        [sys.executable, __file__, str(tmp_path), str(out)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    on_spark = pickle.loads(out.read_bytes())
    on_duckdb = {w.model: w.table for w in refresh_gold(connect_silver(silver), Touched.full())}
    problems = []
    for name, table in on_duckdb.items():
        result = on_spark[name]
        if "error" in result:
            problems.append(f"{name}: {result['error']}")
            continue
        problems += compare(name, table, [_utc(r) for r in result["rows"]], rel=1e-9)
        if len(result["rows"]) != table.num_rows:
            problems.append(f"{name}: {len(result['rows'])} rows on Spark, {table.num_rows}")
    assert problems == []


if __name__ == "__main__":
    run_on_spark(Path(sys.argv[1]), Path(sys.argv[2]))
