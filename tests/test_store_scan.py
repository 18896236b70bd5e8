"""The pipeline reads its Delta tables with DuckDB's Parquet reader (`lakehouse.store.scan`):
the rows and types must be exactly those delta-rs reads, and a table only delta-rs can read
right must be left to delta-rs."""

from __future__ import annotations

import datetime as dt
import decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from lakehouse.engines.local import LocalAdapter
from lakehouse.store.root import Root
from lakehouse.store.scan import duckdb_scan

UTC = dt.UTC


def _batch(ids: list[int], day: dt.date, **extra: list[object]) -> pa.Table:
    n = len(ids)
    columns: dict[str, pa.Array] = {
        "id": pa.array(ids, pa.int64()),
        "price": pa.array([decimal.Decimal(f"{i}.25") for i in ids], pa.decimal128(12, 2)),
        "at": pa.array(
            [dt.datetime(2025, 4, 1, 23, 59, i % 60, tzinfo=UTC) for i in ids],
            pa.timestamp("us", "UTC"),
        ),
        "name": pa.array([None if i % 3 == 0 else f"n{i}" for i in ids], pa.string()),
        "date": pa.array([day] * n, pa.date32()),
    }
    columns.update({k: pa.array(v) for k, v in extra.items()})
    return pa.table(columns)


def _both(con: duckdb.DuckDBPyConnection, table: DeltaTable, path: str) -> tuple[str, str]:
    """(DuckDB's own reader, the delta-rs dataset) as two relation names."""
    scan = duckdb_scan(con, table, path)
    assert scan is not None, "this table is one DuckDB reads alike"
    con.execute(f"CREATE OR REPLACE TEMP VIEW native AS {scan}")
    con.register("dataset", table.to_pyarrow_dataset())
    return "native", "dataset"


def _rows(con: duckdb.DuckDBPyConnection, relation: str) -> list[tuple[object, ...]]:
    return con.sql(f"SELECT * FROM {relation} ORDER BY id").fetchall()


def test_rows_and_types_equal_the_delta_rs_reading_across_a_schema_change(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    write_deltalake(path, _batch([1, 2, 3], dt.date(2025, 4, 1)), partition_by=["date"])
    write_deltalake(path, _batch([4, 5], dt.date(2025, 4, 2)), mode="append")
    # a column added later: the files written before it do not have it
    later = _batch([6], dt.date(2025, 4, 2), channel=["web"])
    write_deltalake(path, later, mode="append", schema_mode="merge")
    # and a column the table has but no file was ever written with
    table = DeltaTable(path)
    table.alter.add_columns([_field("note", "string")])
    table = DeltaTable(path)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    native, dataset = _both(con, table, path)

    assert con.sql(f"DESCRIBE {native}").fetchall() == con.sql(f"DESCRIBE {dataset}").fetchall()
    assert con.sql(f"SELECT * FROM {native}").columns == [
        "id", "price", "at", "name", "date", "channel", "note",
    ]  # fmt: skip
    got = _rows(con, native)
    assert got == _rows(con, dataset)
    assert len(got) == 6
    assert [r[5] for r in got] == [None] * 5 + ["web"]
    assert {r[6] for r in got} == {None}
    # a partition filter still selects by the path's value
    assert con.sql(f"SELECT count(*) FROM {native} WHERE date = '2025-04-02'").fetchall() == [(3,)]


def _field(name: str, kind: str) -> object:
    from deltalake.schema import Field

    return Field(name, kind, nullable=True)


def test_only_the_snapshots_live_files_are_read(tmp_path: Path) -> None:
    """An overwritten file still on disk (not vacuumed) and a stray Parquet file in a partition
    folder are not part of the snapshot: a folder listing would read them, the scan must not."""
    path = str(tmp_path / "t")
    write_deltalake(path, _batch([1, 2], dt.date(2025, 4, 1)), partition_by=["date"])
    write_deltalake(path, _batch([3], dt.date(2025, 4, 1)), mode="overwrite")
    stray = tmp_path / "t" / "date=2025-04-01" / "stray.parquet"
    import pyarrow.parquet as pq

    pq.write_table(_batch([99], dt.date(2025, 4, 1)).drop_columns(["date"]), stray)
    assert len(list((tmp_path / "t" / "date=2025-04-01").glob("*.parquet"))) == 3
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    native, dataset = _both(con, DeltaTable(path), path)
    assert [r[0] for r in _rows(con, native)] == [3]
    assert _rows(con, native) == _rows(con, dataset)


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("north east/2", "a value with a slash and a space is escaped in its path"),
        ("100%", "a percent sign is escaped in its path"),
        (None, "a null is written as __HIVE_DEFAULT_PARTITION__"),
    ],
)
def test_a_partition_value_its_path_does_not_spell_is_left_to_delta_rs(
    tmp_path: Path, value: str | None, why: str
) -> None:
    root = Root(str(tmp_path / "lake"))
    path = root.path("silver", "regions")
    rows = pa.table(
        {
            "id": pa.array([1, 2, 3], pa.int64()),
            "region": pa.array([value, "plain", value], pa.string()),
        }
    )
    write_deltalake(path, rows, partition_by=["region"])
    con = duckdb.connect()
    assert duckdb_scan(con, DeltaTable(path), path) is None, why

    adapter = LocalAdapter(root)  # the pipeline's reader falls back to the dataset
    try:
        adapter.put_delta("regions", "silver", "regions", ())
        got = adapter.fetch("SELECT id, region FROM regions ORDER BY id")
    finally:
        adapter.close()
    assert got == [(1, value), (2, "plain"), (3, value)]


def test_a_plain_string_partition_is_read_by_duckdb(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    rows = pa.table(
        {"id": pa.array([1, 2], pa.int64()), "region": pa.array(["north", "south"], pa.string())}
    )
    write_deltalake(path, rows, partition_by=["region"])
    con = duckdb.connect()
    native, dataset = _both(con, DeltaTable(path), path)
    assert _rows(con, native) == [(1, "north"), (2, "south")] == _rows(con, dataset)


def test_a_table_without_files_or_off_the_local_disk_is_left_to_delta_rs(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    write_deltalake(path, _batch([1], dt.date(2025, 4, 1)).slice(0, 0))
    con = duckdb.connect()
    assert duckdb_scan(con, DeltaTable(path), path) is None  # no files
    write_deltalake(path, _batch([1], dt.date(2025, 4, 1)), mode="append")
    assert duckdb_scan(con, DeltaTable(path), None) is None  # not a local table
    assert duckdb_scan(con, DeltaTable(path), path) is not None
    # a folder above the table named like a partition would be read as one
    inside = str(tmp_path / "date=2020-01-01" / "t")
    write_deltalake(inside, _batch([1], dt.date(2025, 4, 1)), partition_by=["date"])
    assert duckdb_scan(con, DeltaTable(inside), inside) is None
