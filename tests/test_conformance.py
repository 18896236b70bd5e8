"""The local and spark engines give identical tables on the same inputs.

Both engines process the same files with the same run clock; every bronze, silver and
quarantine table is then read back (delta-rs + DuckDB, whichever engine wrote it) and compared
row by row after sorting. Only lineage that names the run differs: `_run_id`, `_ingested_at`.
Gold, computed by each engine, is compared too: rows, stored types, descriptions. Spark
commits a small append or gold result from the driver with delta-rs and a bigger one with
delta-spark (`LAKEHOUSE_SPARK_DRIVER_WRITE_ROWS`): the pairs cover the default (every lab write
is small), executors only (the dirty lab), a mix in which gold tables cross the line between
runs (late parent), and rows the driver appended that delta-spark then merges (corrections).
Every scenario of tests/scenarios runs here on both engines.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from conftest import lab_workbooks
from lakehouse import Lakehouse
from lakehouse.contracts import contract_for
from lakehouse.engines.spark.writes import driver_write_rows
from lakehouse.gold import list_models
from lakehouse.gold.builds import definition_digest
from lakehouse.orchestration.pipeline import RunSummary
from lakehouse.store.delta import lakehouse_metadata
from lakehouse.store.fencing import EPOCH_KEY
from spark_fixtures import SPARK_MARKS, need_spark, spark_session_fixture  # noqa: F401
from test_chunked_runs import bronze_appends

pytestmark = SPARK_MARKS

SCENARIOS = Path(__file__).parent / "scenarios"
ENGINES = ("local", "spark")
RUN_LINEAGE = ("_run_id", "_ingested_at")  # the only columns allowed to differ
COUNTS = ("rows_in", "rows_rechecked", "valid", "quarantined", "released", "inserted", "updated")


@dataclass
class Pair:
    lakes: dict[str, Lakehouse]
    summaries: dict[str, list[RunSummary]]


#: settings of both sides of a pair (`lakehouse.toml`): late_parent's 95 waiting lines,
#: delivered as three files (`split_lines`), are taken in chunks of whole files up to 40 rows
#: on local (40 | 40 | 15); Spark's executors hold the rows, so it takes them in one piece
SETTINGS = {"late_parent_pair": "[pipeline]\nchunk_rows = 40\n"}
DRIVER_ROWS_VARIABLE = "LAKEHOUSE_SPARK_DRIVER_WRITE_ROWS"
#: the most rows of an append or a gold result Spark's driver commits itself, per pair (else the
#: default), and who then commits Spark's gold writes
DRIVER_WRITE_ROWS = {"dirty_lab_pair": 0, "corrections_pair": 10, "late_parent_pair": 4}
SPARK_GOLD_WRITERS = {
    "dirty_lab_pair": {"Apache-Spark"},
    "corrections_pair": {"delta-rs", "Apache-Spark"},
    "late_parent_pair": {"delta-rs", "Apache-Spark"},
}
#: the pairs in which a gold table is written by one writer, then by the other
GOLD_CROSSING = {"late_parent_pair"}
#: who commits Spark's bronze and silver appends (late_parent's all exceed 4 rows)
SPARK_APPEND_WRITERS = {
    "dirty_lab_pair": {"Apache-Spark"},
    "late_parent_pair": {"Apache-Spark"},
}
DATA_OPS = ("WRITE", "MERGE")
#: silver commits in order, (operation, writer): rows the driver appended, merged by delta-spark
SILVER_COMMITS = {
    "corrections_pair": {"orders": [("WRITE", "delta-rs"), ("MERGE", "Apache-Spark")]},
}


def run_both(
    base: Path, runs: list[list[Path]], settings: str = "", driver_rows: int | None = None
) -> Pair:
    """Each engine on its own root, the same runs in the same order, the same clock."""
    need_spark()
    limit = {} if driver_rows is None else {DRIVER_ROWS_VARIABLE: str(driver_rows)}
    with mock.patch.dict(os.environ, limit):
        return _run_both(base, runs, settings)


def _run_both(base: Path, runs: list[list[Path]], settings: str) -> Pair:
    start = dt.datetime.now(dt.UTC).replace(microsecond=0)
    pair = Pair({}, {})
    for engine in ENGINES:
        if settings:
            (base / engine).mkdir(parents=True)
            (base / engine / "lakehouse.toml").write_text(settings)
        lh = Lakehouse(base / engine)
        pair.lakes[engine] = lh
        pair.summaries[engine] = [
            lh.run(files, engine=engine, now=start + dt.timedelta(minutes=n))
            for n, files in enumerate(runs)
        ]
    return pair


def scenario_runs(name: str) -> list[list[Path]]:
    return [sorted(d.iterdir()) for d in sorted((SCENARIOS / name / "input").iterdir())]


def split_lines(path: Path, dest: Path, sizes: list[int]) -> list[Path]:
    """A CSV file as consecutive files of `sizes` data rows each (the header in every one)."""
    header, *lines = path.read_text(encoding="utf-8").splitlines(True)
    assert sum(sizes) == len(lines), (path, len(lines))
    dest.mkdir(parents=True, exist_ok=True)
    out, start = [], 0
    for n, size in enumerate(sizes):
        part = dest / f"{path.stem}_part{n}{path.suffix}"
        part.write_text(header + "".join(lines[start : start + size]), encoding="utf-8")
        out.append(part)
        start += size
    return out


def build_pair(name: str, base: Path) -> Pair:
    if name == "lab_pair":
        return run_both(base, [lab_workbooks(base / "in")])
    runs = scenario_runs(name.removesuffix("_pair"))
    if name == "late_parent_pair":
        (items,) = [p for p in runs[0] if p.name.startswith("order_items")]
        runs[0] = [
            *(p for p in runs[0] if p != items),
            *split_lines(items, base / "in", [40, 40, 15]),
        ]
    return run_both(base, runs, SETTINGS.get(name, ""), DRIVER_WRITE_ROWS.get(name))


@pytest.fixture(scope="session")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Pair]:
    """Each pair built once per test process, when a test first asks for it (the Spark group
    keeps every test of this module on one worker: `xdist_group`, honoured with pytest < 9)."""
    built: dict[str, Pair] = {}

    def get(name: str) -> Pair:
        if name not in built:
            built[name] = build_pair(name, tmp_path_factory.mktemp(f"conformance_{name}"))
        return built[name]

    return get


@pytest.fixture
def lab_pair(pairs: Callable[[str], Pair]) -> Pair:
    return pairs("lab_pair")


@pytest.fixture
def dirty_pair(pairs: Callable[[str], Pair]) -> Pair:
    return pairs("dirty_lab_pair")


@pytest.fixture(params=["lab_pair", "dirty_lab_pair", "corrections_pair", "late_parent_pair"])
def pair(request: pytest.FixtureRequest, pairs: Callable[[str], Pair]) -> Pair:
    return pairs(request.param)


# --- comparing tables -------------------------------------------------------------------------
def contents(lh: Lakehouse, table: str) -> pa.Table:
    t = lh.sql(f"SELECT * FROM {table}")
    t = t.drop_columns([c for c in RUN_LINEAGE if c in t.column_names])
    keys = [c for c in t.column_names if not pa.types.is_list(t.schema.field(c).type)]
    return t.sort_by([(c, "ascending") for c in keys])


def _frozen(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in sorted(row.items()))


def difference(a: pa.Table, b: pa.Table) -> str:
    if a.schema != b.schema:
        return f"schemas differ:\n{a.schema}\n---\n{b.schema}"
    left = Counter(_frozen(r) for r in a.to_pylist())
    right = Counter(_frozen(r) for r in b.to_pylist())
    only_l, only_r = list((left - right).elements()), list((right - left).elements())
    return (
        f"{len(only_l)} rows only on local, e.g. {only_l[:2]}; "
        f"{len(only_r)} rows only on spark, e.g. {only_r[:2]}"
    )


def data_tables(lh: Lakehouse) -> list[str]:
    return [
        t.name for t in lh.tables() if t.name.split(".")[0] in ("bronze", "silver", "quarantine")
    ]


def test_same_tables_row_by_row(pair: Pair) -> None:
    local, spark = pair.lakes["local"], pair.lakes["spark"]
    names = data_tables(local)
    assert names == data_tables(spark)
    assert any(n.startswith("silver.") for n in names)
    for name in names:
        a, b = contents(local, name), contents(spark, name)
        assert a.num_rows == b.num_rows, (
            f"{name}: {a.num_rows} rows on local, {b.num_rows} on spark"
        )
        assert a.equals(b), f"{name}: {difference(a, b)}"


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9) or (math.isnan(a) and math.isnan(b))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_value(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def test_same_gold_tables(request: pytest.FixtureRequest, pair: Pair) -> None:
    """Gold computed by each engine (Spark SQL on spark, DuckDB on local): the same rows (floats
    to 1e-9: parallel sums may differ in the last bits), the same stored types, and the same
    descriptions, whichever writer committed each of Spark's writes."""
    local, spark = pair.lakes["local"], pair.lakes["spark"]
    names = [t.name for t in local.tables() if t.name.startswith("gold.")]
    assert names == [t.name for t in spark.tables() if t.name.startswith("gold.")]
    assert len(names) == len([m for m in list_models() if m.materialized])
    pair_name = request.node.callspec.params["pair"]
    limit = DRIVER_WRITE_ROWS.get(pair_name, driver_write_rows())
    writers = SPARK_GOLD_WRITERS.get(pair_name, {"delta-rs"})
    spark_writers: set[str] = set()
    crossed = []  # tables written by both writers, one run after another
    for name in names:
        a, b = (DeltaTable(lh.root.table_uri("gold", name[5:])) for lh in (local, spark))
        assert pa.schema(a.schema()) == pa.schema(b.schema()), name
        assert a.metadata().description == b.metadata().description, name
        assert {w for w, _ in _data_writes(a)} == {"delta-rs"}, name
        written_by = _writers_by_size(b, limit, name)
        spark_writers |= written_by
        if len(written_by) == 2:
            crossed.append(name)
        a, b = contents(local, name).to_pylist(), contents(spark, name).to_pylist()
        assert len(a) == len(b), name
        for x, y in zip(a, b, strict=True):
            assert x.keys() == y.keys(), name
            assert all(_same_value(x[k], y[k]) for k in x), f"{name}: {x} != {y}"
    assert spark_writers == writers
    assert bool(crossed) == (pair_name in GOLD_CROSSING), crossed


def test_spark_appends_by_size(request: pytest.FixtureRequest, pair: Pair) -> None:
    """Spark's bronze and silver appends: its driver commits those of at most the limit's rows
    with delta-rs (every append of the lab and corrections pairs), its executors the others;
    delta-spark merges into what delta-rs appended (corrections)."""
    pair_name = request.node.callspec.params["pair"]
    limit = DRIVER_WRITE_ROWS.get(pair_name, driver_write_rows())
    spark = pair.lakes["spark"]
    writers: set[str] = set()
    for name in data_tables(spark):
        if not name.startswith("quarantine."):  # merged, never appended
            zone, table = name.split(".")
            writers |= _writers_by_size(DeltaTable(spark.root.table_uri(zone, table)), limit, name)
    assert writers == SPARK_APPEND_WRITERS.get(pair_name, {"delta-rs"})
    for entity, commits in SILVER_COMMITS.get(pair_name, {}).items():
        history = reversed(DeltaTable(spark.root.table_uri("silver", entity)).history())
        found = [(c["operation"], _writer(c)) for c in history if c["operation"] in DATA_OPS]
        assert found == commits, entity


def _writers_by_size(table: DeltaTable, limit: int, name: str) -> set[str]:
    """Who wrote each of the table's data writes, checked against the driver's limit."""
    written_by = set()
    for writer, rows in _data_writes(table):  # the driver commits exactly the small writes
        small = limit > 0 and rows <= limit
        assert writer == ("delta-rs" if small else "Apache-Spark"), (name, rows)
        written_by.add(writer)
    return written_by


def test_same_run_accounting(pair: Pair) -> None:
    for ours, theirs in zip(pair.summaries["local"], pair.summaries["spark"], strict=True):
        assert ours.status == theirs.status == "SUCCEEDED"
        assert ours.files_rejected == theirs.files_rejected
        assert sorted(ours.files_loaded) == sorted(theirs.files_loaded)
        for entity, mine in ours.entities.items():
            other = theirs.entities[entity]
            for count in COUNTS:
                assert getattr(mine, count) == getattr(other, count), (entity, count)
            assert mine.reasons == other.reasons, entity


def test_local_in_chunks_equals_spark_in_one_piece(pairs: Callable[[str], Pair]) -> None:
    """The late_parent pair (compared table by table above), `chunk_rows = 40` on both: local
    appended the waiting lines to bronze in three chunks; Spark, whose executors hold the rows
    they read, in one (more chunks on the local engine: test_chunked_runs)."""
    pair = pairs("late_parent_pair")
    appends = [bronze_appends(pair.lakes[e].root, "order_items") for e in ENGINES]
    assert appends == [3, 1]


def test_same_layout_protocol_and_properties(pair: Pair) -> None:
    local, spark = pair.lakes["local"], pair.lakes["spark"]
    for name in data_tables(local):
        a, b = local.describe(name), spark.describe(name)
        assert a.partition_by == b.partition_by, name
        assert a.protocol == b.protocol, name
        # the fencing epoch names the lock holder that created or last fenced the table: each
        # lakehouse had its own holders, so its value differs by design; its presence may not
        assert (EPOCH_KEY in a.configuration) == (EPOCH_KEY in b.configuration), name
        assert _layout(a.configuration) == _layout(b.configuration), name
        assert (a.protocol["min_reader_version"], a.protocol["min_writer_version"]) <= (1, 4)
        if name.startswith("silver."):
            assert b.configuration.get("delta.enableChangeDataFeed") == "true", name


def _data_writes(table: DeltaTable) -> list[tuple[str, int]]:
    """Who committed each of the table's data writes (WRITE commits), delta-rs or Apache-Spark
    (delta-spark), and how many rows it wrote."""
    found = []
    for commit in table.history():
        if commit.get("operation") == "WRITE":
            metrics = commit.get("operationMetrics") or {}
            rows = metrics.get("num_added_rows", metrics.get("numOutputRows"))
            found.append((_writer(commit), int(rows)))
    return found


def _writer(commit: dict[str, Any]) -> str:
    """delta-rs or Apache-Spark (delta-spark)."""
    client = str(commit.get("engineInfo") or commit.get("clientVersion") or "")
    return client.split("/")[0].split(":")[0]


def _layout(configuration: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in configuration.items() if k != EPOCH_KEY}


def test_spark_commits_and_layouts(dirty_pair: Pair) -> None:
    """What Spark committed: partitions, descriptions, types, comments, run metadata, CDF."""
    lh = dirty_pair.lakes["spark"]
    (summary,) = dirty_pair.summaries["spark"]
    silver = DeltaTable(lh.root.table_uri("silver", "orders"))
    assert silver.metadata().partition_columns == ["date"]
    assert silver.metadata().description == contract_for("orders").description
    meta = lakehouse_metadata(silver.history(1)[0])  # appended by delta-rs, merged by Spark
    assert meta["lakehouse.run_id"] == summary.run_id
    assert meta["lakehouse.operation"] == "silver_merge"
    assert "orders_dirty.csv" in json.loads(meta["lakehouse.source_files"])
    schema = pa.schema(silver.schema())
    assert schema.field("total_amount").type == pa.decimal128(12, 2)
    assert schema.field("order_timestamp").type == pa.timestamp("us", tz="UTC")
    assert schema.field("order_id").metadata[b"comment"]  # column descriptions kept
    quarantine = pa.schema(DeltaTable(lh.root.table_uri("quarantine", "orders")).schema())
    assert quarantine.field("_reasons").type == pa.list_(pa.string())
    feed = silver.load_cdf(starting_version=0).read_all()
    assert feed.num_rows == summary.entities["orders"].inserted
    assert summary.entities["order_items"].reasons["orphan:order_id"] > 0
    # gold tables are written several at once: each commit carries its own model's metadata
    gold = [m.name for m in list_models() if m.materialized]
    for name in gold:
        commit = lakehouse_metadata(DeltaTable(lh.root.table_uri("gold", name)).history(1)[0])
        assert commit["lakehouse.run_id"] == summary.run_id, name
        assert commit["lakehouse.operation"] == "gold_refresh", name
        assert commit["lakehouse.model_digest"] == definition_digest(name), name


def test_lab_counts_on_spark(lab_pair: Pair) -> None:
    spark = lab_pair.lakes["spark"]
    counts = {
        t: spark.sql(f"SELECT count(*) AS n FROM silver.{t}")["n"][0].as_py()
        for t in ("orders", "order_items", "products")
    }
    assert counts == {"orders": 7500, "order_items": 40803, "products": 1000}
    assert lab_pair.summaries["spark"][0].rows_quarantined == 0


# --- the typing rules on awkward text ---------------------------------------------------------
AWKWARD = [
    "1", "+5", "-7", "007", " 12 ", "12\n", "\t12", "\u00a012\u2003", "1e3", "1 2", "", "  ",
    "9223372036854775807", "999999999999999999", "1.5", ".5", "5.", "+5.00", "-0.01", "1.005",
    "12345678901.00", "1,50", "2025-04-01", "2025-02-30", "2024-02-29", "2025-4-1", "2025-04-01\n",
    "2025-04-01 11:27", "2025-04-01T11:27:00", "2025-04-01 11:27:00Z", "2025-04-01 11:27:00+02:00",
    "2025-04-01 11:27:00+0200", "2025-04-01 11:27:00-05:30", "2025-04-01T11:27:00.123456",
    "2025-04-01T11:27:00.1", "2025-04-01 24:00:00", "2025-04-01 23:59:60", "2025-04-01 11:60:00",
    "2025-13-01 00:00:00", "0001-01-01 00:00:00", "9999-12-31 23:59:59+14:00",
    "2025-04-01 11:27:00+18:00", "2025-04-01 11:27:00+19:00", "2025-04-01 11:27:00+02:30",
    "2025-04-01T11:27:00z", "2025-04-01t11:27:00", None,
]  # fmt: skip


def test_typing_rules_agree_on_awkward_text(spark: Any) -> None:
    """Every column type, every awkward value: the same typed value or the same rejection."""
    import duckdb

    from lakehouse.contracts import Column
    from lakehouse.contracts.validation import typed_expr
    from lakehouse.engines.sql import render

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("batch", pa.table({"v": pa.array(AWKWARD, pa.string())}))
    spark.createDataFrame([(v,) for v in AWKWARD], "v string").createOrReplaceTempView("batch")
    for kind in ("string", "bigint", "decimal(12,2)", "date", "timestamp"):
        expr = typed_expr(Column("v", kind, False, ""))
        typed = render(f"SELECT v, {expr} AS x FROM batch", "spark")
        # compared as text (timestamps as epoch microseconds): year 1 is beyond PySpark's reach
        if kind == "timestamp":
            duck_sql = f"SELECT v, epoch_us({expr}) FROM batch"
            spark_sql = f"SELECT v, unix_micros(x) AS x FROM ({typed})"
        else:
            duck_sql = f"SELECT v, CAST({expr} AS VARCHAR) FROM batch"
            spark_sql = f"SELECT v, CAST(x AS STRING) AS x FROM ({typed})"
        duck = dict(con.execute(duck_sql).fetchall())
        theirs = {r["v"]: r["x"] for r in spark.sql(spark_sql).collect()}
        for v in AWKWARD:
            assert duck[v] == theirs[v], (kind, v, duck[v], theirs[v])
