"""The spark engine: session and jars, shared SQL rendered for Spark, bronze idempotency per file,
commit metadata, table layouts, and runs that alternate between the two engines."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from lakehouse import Lakehouse
from lakehouse.contracts import contract_for
from lakehouse.contracts.validation import validation_query
from lakehouse.engines.base import RunContext
from lakehouse.engines.sql import newest_per_key_sql, render
from lakehouse.errors import TerminalError
from lakehouse.store import zones
from lakehouse.store.root import Root
from spark_fixtures import SPARK_MARKS, spark_session_fixture  # noqa: F401

SCENARIOS = Path(__file__).parent / "scenarios"
spark_test = pytest.mark.usefixtures("spark")


def with_spark(fn: Any) -> Any:
    for mark in SPARK_MARKS:
        fn = mark(fn)
    return spark_test(fn)


# --- no Spark needed ----------------------------------------------------------------------------
def test_trim_renders_as_duckdb_trims() -> None:
    """DuckDB's TRIM strips Unicode space separators; Spark's only ' ': rendered as a regex."""
    spark_sql = render("SELECT NULLIF(TRIM(x), '') FROM t", "spark")
    assert "REGEXP_REPLACE(x, '^\\\\p{Zs}+|\\\\p{Zs}+\\\\z', '')" in spark_sql
    assert render("SELECT TRIM(x, 'a') FROM t", "spark") == "SELECT TRIM('a' FROM x) FROM t"
    assert render("SELECT TRIM(x) FROM t", "duckdb") == "SELECT TRIM(x) FROM t"


def test_shared_sql_renders_without_duckdb_only_syntax() -> None:
    for entity in ("products", "orders", "order_items"):
        c = contract_for(entity)
        newest = render(newest_per_key_sql(c, "SELECT * FROM v"), "spark")
        assert "EXCLUDE" not in newest and "EXCEPT" not in newest
        lineage = [*zones.LINEAGE_NAMES, "_sheet_index", "_seq", "_recheck"]
        query = validation_query(c, lineage, dt.datetime(2025, 5, 1, tzinfo=dt.UTC))
        spark_sql = query.render("spark")
        assert "REGEXP_MATCHES" not in spark_sql and " RLIKE " in spark_sql
        assert "TIMESTAMPTZ" not in spark_sql and '"' not in spark_sql


def test_jar_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lakehouse.engines.spark import session

    monkeypatch.setenv("LAKEHOUSE_CACHE", str(tmp_path))
    monkeypatch.delenv("LAKEHOUSE_SPARK_JARS", raising=False)
    assert session.cached_jars() is None
    jar = tmp_path / "delta.jar"
    jar.write_bytes(b"")
    session._remember([str(jar)])
    assert session.cached_jars() == [str(jar)]
    jar.unlink()  # a cache whose jars are gone is resolved again
    assert session.cached_jars() is None
    monkeypatch.setenv("LAKEHOUSE_SPARK_JARS", "/a.jar,/b.jar")
    assert session.cached_jars() == ["/a.jar", "/b.jar"]


def test_maven_resolves_when_sparks_resolver_cannot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A start whose ivy resolution fails is retried with jars Maven fetched, which are cached."""
    from lakehouse.engines.spark import session

    monkeypatch.setenv("LAKEHOUSE_CACHE", str(tmp_path))
    monkeypatch.delenv("LAKEHOUSE_SPARK_JARS", raising=False)
    jar = tmp_path / "delta-spark.jar"
    jar.write_bytes(b"")
    starts: list[list[str] | None] = []

    def start(jars: list[str] | None, object_store: bool = False) -> str:
        starts.append(jars)
        if jars is None:
            raise RuntimeError("Java gateway process exited: unresolved dependency")
        return "session"

    monkeypatch.setattr(session, "_builder_start", start)
    monkeypatch.setattr(session, "maven_jars", lambda object_store=False: [str(jar)])
    assert session._start_local() == "session"
    assert starts == [None, [str(jar)]]
    assert session.cached_jars() == [str(jar)]  # the next start resolves nothing


def test_lost_commit_races_are_retryable() -> None:
    from lakehouse.engines.spark.frames import conflicts_retryable
    from lakehouse.errors import RetryableError

    class ConcurrentAppendException(Exception):  # as delta-spark's Python API names it
        pass

    lost = r"silver.orders: another writer committed first"
    with pytest.raises(RetryableError, match=lost), conflicts_retryable("silver.orders"):
        raise ConcurrentAppendException("Files were added to partition [date=2025-04-01]")
    with pytest.raises(ValueError), conflicts_retryable("silver.orders"):
        raise ValueError("not a conflict")


@pytest.mark.parametrize("value", ["many", "-1", "1e6", " "])
def test_a_driver_write_limit_that_is_not_a_row_count_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    from lakehouse.engines.spark.writes import driver_write_rows
    from lakehouse.errors import TerminalError

    monkeypatch.setenv("LAKEHOUSE_SPARK_DRIVER_WRITE_ROWS", value)
    with pytest.raises(TerminalError, match="LAKEHOUSE_SPARK_DRIVER_WRITE_ROWS must be a whole"):
        driver_write_rows()
    monkeypatch.setenv("LAKEHOUSE_SPARK_DRIVER_WRITE_ROWS", " 0 ")
    assert driver_write_rows() == 0
    monkeypatch.delenv("LAKEHOUSE_SPARK_DRIVER_WRITE_ROWS")
    assert driver_write_rows() == 500_000


# --- on Spark -----------------------------------------------------------------------------------
@with_spark
def test_session_settings(spark: Any) -> None:
    from lakehouse.engines.spark.session import get_session, new_session

    assert get_session() is spark
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"
    assert "DeltaSparkSessionExtension" in spark.conf.get("spark.sql.extensions")
    other = new_session()
    assert other.sparkContext is spark.sparkContext
    assert other.conf.get("spark.sql.parquet.outputTimestampType") == "TIMESTAMP_MICROS"
    other.range(1).createOrReplaceTempView("only_in_other")
    assert not spark.catalog.tableExists("only_in_other")


def _bronze_rows(entity: str, files: dict[str, int], run_id: str) -> pa.Table:
    """Bronze rows of fake files (sha -> row count), as intake.bronze_rows builds them."""
    contract = contract_for(entity)
    schema = zones.bronze_batch_schema(contract)  # per-file lineage dictionary-encoded
    now = dt.datetime(2025, 5, 1, tzinfo=dt.UTC)
    out = []
    for seq, (sha, n) in enumerate(files.items()):
        for row in range(2, n + 2):
            values: dict[str, Any] = {c: str(row) for c in contract.names}
            values |= {"_source_file": f"{sha}.csv", "_sheet": "", "_row": row}
            values |= {"_file_sha256": sha, "_run_id": run_id, "_ingested_at": now}
            values |= {"_sheet_index": 0, "_seq": seq, "_recheck": False}
            out.append(values)
    table = pa.Table.from_pylist(out, schema=schema.append(pa.field("_seq", pa.int64())))
    return table.append_column("_recheck", pa.array([False] * table.num_rows))


@with_spark
def test_small_tables_are_read_by_the_driver_big_ones_by_the_executors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A table of at most `LAKEHOUSE_SPARK_DRIVER_WRITE_ROWS` rows, and at most
    `DRIVER_READ_ROWS`, comes over as Arrow (a local relation, no Delta scan); a bigger one, an
    older version's size counted, is Spark's scan (and the table is not looked at again); the
    rows are the same either way."""
    from deltalake import write_deltalake

    from lakehouse.engines.spark import writes
    from lakehouse.engines.spark.engine import SparkAdapter

    root = Root(tmp_path / "lake")
    uri = root.table_uri("gold", "t")
    write_deltalake(uri, pa.table({"k": pa.array([1, 2, 3], pa.int64())}))
    write_deltalake(uri, pa.table({"k": pa.array([4, 5], pa.int64())}), mode="append")
    adapter = SparkAdapter(root)

    def read(version: int | None = None) -> tuple[str, list[int]]:
        frame = adapter._read("gold", "t", version)
        plan = frame._jdf.queryExecution().analyzed().toString()
        how = "driver" if "LocalRelation" in plan else "executors" if "parquet" in plan else plan
        return how, sorted(r[0] for r in frame.collect())

    monkeypatch.setenv("LAKEHOUSE_SPARK_DRIVER_WRITE_ROWS", "4")
    assert read(0) == ("driver", [1, 2, 3])
    assert read() == ("executors", [1, 2, 3, 4, 5])
    assert read(0) == ("executors", [1, 2, 3])  # found too big: not looked at again
    monkeypatch.setenv("LAKEHOUSE_SPARK_DRIVER_WRITE_ROWS", "5")
    assert read() == ("driver", [1, 2, 3, 4, 5])
    monkeypatch.setenv("LAKEHOUSE_SPARK_DRIVER_WRITE_ROWS", "0")
    assert read(0) == ("executors", [1, 2, 3])
    monkeypatch.delenv("LAKEHOUSE_SPARK_DRIVER_WRITE_ROWS")
    assert read() == ("driver", [1, 2, 3, 4, 5])
    monkeypatch.setattr(writes, "DRIVER_READ_ROWS", 3)  # reads stop lower than writes
    assert (read(0), read()) == (("driver", [1, 2, 3]), ("executors", [1, 2, 3, 4, 5]))


@with_spark
def test_bronze_is_idempotent_per_file_across_engines(tmp_path: Path) -> None:
    from lakehouse.engines.local import LocalEngine
    from lakehouse.engines.spark import SparkEngine

    root = Root(tmp_path / "lake")
    contract = contract_for("products")
    ctx = RunContext("run-1", dt.datetime(2025, 5, 1, tzinfo=dt.UTC), ("a.csv",), frozenset())
    local, spark_engine = LocalEngine(root), SparkEngine(root)
    try:
        assert local.write_bronze(contract, _bronze_rows("products", {"a": 3}, "r1"), ["a"], ctx)
        both = _bronze_rows("products", {"a": 3, "b": 2}, "r2")  # a crashed run, re-run
        version = spark_engine.write_bronze(contract, both, ["a", "b"], ctx)
        assert version == 2  # only b was appended
        assert spark_engine.write_bronze(contract, both, ["a", "b"], ctx) is None
        assert local.write_bronze(contract, both, ["a", "b"], ctx) is None
    finally:
        local.close()
        spark_engine.close()
    table = DeltaTable(root.table_uri("bronze", "products"))
    assert table.transaction_version("lakehouse-bronze-a") == 1
    assert table.transaction_version("lakehouse-bronze-b") == 1
    rows = table.to_pyarrow_table()
    assert sorted(rows["_file_sha256"].to_pylist()) == ["a"] * 3 + ["b"] * 2
    meta = json.loads(table.history(1)[0]["userMetadata"])
    assert meta["lakehouse.run_id"] == "run-1" and meta["lakehouse.operation"] == "bronze"
    assert meta["lakehouse.contract"] == f"products@v{contract.version}"


@with_spark
def test_bronze_falls_back_to_one_commit_per_file(spark: Any, tmp_path: Path) -> None:
    """Without Delta's transaction API the public writer options are used, one file each."""
    from py4j.protocol import Py4JError

    from lakehouse.engines.spark.frames import append_with_transactions, to_spark
    from lakehouse.store.delta import ensure_table

    class NoInternalApi:
        @property
        def _jvm(self) -> Any:
            raise Py4JError("no such class")

    root = Root(tmp_path / "lake")
    ensure_table(root, "bronze", "products", zones.bronze_schema(contract_for("products")))
    rows = to_spark(
        spark,
        _bronze_rows("products", {"a": 2, "b": 1}, "r1").drop_columns(
            ["_seq", "_recheck", zones.CANONICAL]
        ),
    )
    parts = {f"app-{s}": rows.where(rows["_file_sha256"] == s) for s in ("a", "b")}
    uri = root.table_uri("bronze", "products")
    append_with_transactions(NoInternalApi(), uri, rows, parts, "{}")  # type: ignore[arg-type]
    table = DeltaTable(uri)
    assert table.version() == 2  # one commit per file
    assert table.transaction_version("app-a") == table.transaction_version("app-b") == 1
    assert table.to_pyarrow_table().num_rows == 3


def run_scenario(lh: Lakehouse, name: str, engines: tuple[str, ...]) -> list[Any]:
    runs = sorted((SCENARIOS / name / "input").iterdir())
    assert len(runs) == len(engines)
    return [lh.run(sorted(d.iterdir()), engine=e) for d, e in zip(runs, engines, strict=True)]


def check_expected(lh: Lakehouse, name: str) -> None:
    spec = json.loads((SCENARIOS / name / "expected.json").read_text())
    for entity, n in spec["silver_counts"].items():
        assert lh.sql(f"SELECT count(*) AS n FROM silver.{entity}")["n"][0].as_py() == n, entity
    for entity, rows in spec.get("silver_rows", {}).items():
        for want in rows:
            cols = ", ".join(f"CAST({c} AS VARCHAR) AS {c}" for c in want)
            got = lh.sql(f"SELECT {cols} FROM silver.{entity} WHERE order_id = {want['order_id']}")
            assert got.to_pylist() == [{k: str(v) for k, v in want.items()}], (entity, want)
    waiting = sum(
        lh.sql(f"SELECT count(*) AS n FROM {t.name}")["n"][0].as_py()
        for t in lh.tables()
        if t.name.startswith("quarantine.")
    )
    assert waiting == len(spec["quarantine"])


@with_spark
def test_engines_take_turns_on_one_lakehouse(tmp_path: Path) -> None:
    """Children wait in a quarantine Spark wrote; the local engine releases them into silver
    tables Spark wrote. (Spark merging into delta-rs data: test_delta_interop.py.)"""
    lh = Lakehouse(tmp_path / "lake")
    summaries = run_scenario(lh, "late_parent", ("spark", "local"))
    assert [s.status for s in summaries] == ["SUCCEEDED", "SUCCEEDED"]
    assert summaries[1].entities["order_items"].released > 0
    check_expected(lh, "late_parent")
    for name in ("silver.orders", "silver.order_items", "quarantine.order_items"):
        if name in [t.name for t in lh.tables()]:
            d = lh.describe(name)
            assert (d.protocol["min_reader_version"], d.protocol["min_writer_version"]) == (1, 4)
            assert d.configuration["delta.enableChangeDataFeed"] == "true"


# --- the Glue entry point -----------------------------------------------------------------------
def test_glue_job_arguments() -> None:
    from lakehouse.glue import parse_args

    args = parse_args(["job.py", "--JOB_NAME", "j", "--root", "s3://lake/p", "--step", "run"])
    assert (args.root, args.step, args.contracts, args.trigger) == (
        "s3://lake/p",
        "run",
        None,
        "glue",
    )
    args = parse_args(["job.py", "--root=s3://l", "--trigger", "s3-event", "--run-id", "x"])
    assert (args.root, args.trigger) == ("s3://l", "s3-event")
    with pytest.raises(TerminalError, match="--root is empty"):  # it was the current folder
        parse_args(["job.py", "--root", " "])
    for flag in ("--run-id", "--step", "--trigger"):  # they fell back to their defaults
        with pytest.raises(TerminalError, match=f"{flag} is empty"):
            parse_args(["job.py", "--root", "s3://l", f"{flag}="])


def test_glue_job_refuses_a_single_step(capsys: pytest.CaptureFixture[str]) -> None:
    from lakehouse.glue import main

    with pytest.raises(SystemExit) as exit_info:
        main(["job.py", "--root", "s3://lake/p", "--step", "silver_orders"])
    assert exit_info.value.code == 2
    assert "--step 'silver_orders'" in capsys.readouterr().err
