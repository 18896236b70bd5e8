"""A Delta snapshot as DuckDB SQL over its Parquet files, read by DuckDB's own reader.

DuckDB scans an Arrow dataset (what `DeltaTable.to_pyarrow_dataset` gives) through the Arrow
stream interface: every batch is built by pyarrow, then copied, and a join's key filter never
reaches the files. Its own Parquet reader runs on all cores, reads only the row groups and
columns a query needs, and prunes partitions by their paths: a semi-join of the lines with one
day's customers is about six times faster (docs/performance.md). The pipeline reads its own
tables this way; users' SQL keeps the datasets, since its connection may not read files.

The files are exactly the snapshot's live files (its add actions), never a folder listing, so a
half-written or vacuumed file is never read. Only what both readers read alike is given to
DuckDB: a local table of reader protocol 1 (no deletion vectors, no column mapping) whose
partition values are spelled plainly in the files' paths, and no folder above it looks like a
partition. Otherwise `duckdb_scan` returns None and the caller uses the dataset.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.dataset as ds

from lakehouse.engines.dialect import literal, quote

if TYPE_CHECKING:
    import duckdb
    from deltalake import DeltaTable


def plain_files(dt: DeltaTable, table_path: str | None) -> list[str] | None:
    """The snapshot's live files as paths below `table_path` when any Parquet reader reads the
    table as delta-rs does (see the module's docstring), else None. `table_path` is the table's
    local folder (None: not a local table)."""
    protocol = dt.protocol()
    if table_path is None or protocol.min_reader_version != 1 or protocol.reader_features:
        return None
    if "=" in table_path:
        return None  # a folder above the table would read as a partition column too
    actions = pa.table(dt.get_add_actions(flatten=True))
    if actions.num_rows == 0:
        return None
    paths: list[str] = actions.column("path").to_pylist()
    if any(p.startswith("/") or "://" in p or "%" in p for p in paths):
        return None  # files outside the table's folder (a shallow clone), or escaped names
    for column in dt.metadata().partition_columns:
        values = actions.column(f"partition.{column}").cast(pa.string()).to_pylist()
        for path, value in zip(paths, values, strict=True):
            if value is None or f"{column}={value}/" not in f"/{path}":
                return None  # a null or an escaped value: the path does not say it plainly
    return paths


def arrow_dataset(dt: DeltaTable, table_path: str | None) -> ds.Dataset:
    """The snapshot as an Arrow dataset read by pyarrow's own Parquet reader where it reads it
    as delta-rs does (`plain_files`), else delta-rs's dataset. A scan of delta-rs's dataset that
    stops early (`LIMIT`, `head`) leaves native work that crashes or hangs the interpreter's
    exit after the answer was given (deltalake 1.6: 7 exits in 8)."""
    paths = plain_files(dt, table_path)
    if paths is None:
        return dt.to_pyarrow_dataset()
    schema = pa.schema(dt.schema().to_arrow())
    partitions = list(dt.metadata().partition_columns)
    part = ds.partitioning(pa.schema([schema.field(c) for c in partitions]), flavor="hive")
    try:
        return ds.dataset(
            [f"{table_path}/{p}" for p in paths],
            schema=schema,
            format="parquet",
            partitioning=part if partitions else None,
            partition_base_dir=table_path,
        )
    except FileNotFoundError:  # a data file gone: delta-rs's dataset fails when it is read, as
        return dt.to_pyarrow_dataset()  # before (the dashboard names such a table, not failing)


def duckdb_scan(
    con: duckdb.DuckDBPyConnection, dt: DeltaTable, table_path: str | None
) -> str | None:
    """SQL (a SELECT) with the snapshot's rows in its schema's column order and types, or None
    when only delta-rs reads the table right (`plain_files`). `table_path` is the table's local
    folder (None: not a local table)."""
    paths = plain_files(dt, table_path)
    if paths is None:
        return None
    partitions = list(dt.metadata().partition_columns)
    schema = pa.schema(dt.schema().to_arrow())
    types = dict(zip(schema.names, con.from_arrow(schema.empty_table()).dtypes, strict=True))
    files = ", ".join(literal(f"{table_path}/{p}") for p in paths)
    hive = ", ".join(f"{literal(c)}: {literal(str(types[c]))}" for c in partitions)
    options = (
        f"hive_partitioning = true, hive_types = {{{hive}}}"
        if partitions
        else "hive_partitioning = false"
    )
    scan = f"read_parquet([{files}], {options}, union_by_name = true)"
    written = set(con.sql(f"SELECT * FROM {scan}").columns)  # binds only: reads the footers
    columns = ", ".join(
        f"CAST({quote(n) if n in written else 'NULL'} AS {types[n]}) AS {quote(n)}"
        for n in schema.names  # a column added after every file was written reads as nulls
    )
    return f"SELECT {columns} FROM {scan}"
