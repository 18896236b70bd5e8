"""SQL over the lakehouse: DuckDB with every `zone.table` a view over its Delta table.

A user's statement (`run_sql`: `lakehouse sql`, `Lakehouse.sql`) runs on a throw-away in-memory
database whose tables are Arrow datasets registered by the lakehouse, so it needs no file
access of its own: by default DuckDB may not read, write or list files, attach databases or
install and load extensions, and the configuration is locked so the statement cannot undo
that. `allow_file_access=True` (`--allow-file-access`) lifts this for statements that must
read or write files.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import sqlglot
from sqlglot import exp

from lakehouse.catalog import list_tables, split_name
from lakehouse.delta import open_table
from lakehouse.dialect import quote
from lakehouse.errors import QueryError, TableNotFound
from lakehouse.storage import ZONES, Root

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

_connections = itertools.count()
FILE_ACCESS_HINT = (
    "SQL sees only the lakehouse tables (zone.table) and may not read or write files, attach "
    "databases, load extensions or change settings; --allow-file-access (allow_file_access=True "
    "in Python) lifts this"
)


def parse_as_of(value: str | None) -> int | dt.datetime | None:
    if value is None:
        return None
    if value.isdigit():
        return int(value)
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise QueryError(f"--as-of {value!r}: give a version number or an ISO timestamp") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def referenced_tables(sql: str) -> list[str]:
    try:
        tree = sqlglot.parse(sql, read="duckdb")
    except sqlglot.errors.ParseError as exc:
        raise QueryError(f"SQL does not parse: {exc}") from exc
    found = []
    for statement in tree:
        if statement is None:
            continue
        for t in statement.find_all(exp.Table):
            if t.db in ZONES and f"{t.db}.{t.name}" not in found:
                found.append(f"{t.db}.{t.name}")
    return found


def new_connection() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection as the lakehouse uses it: UTC, no progress bar, and
    bounded memory — past `LAKEHOUSE_DUCKDB_MEMORY_LIMIT` (default 2GB) a query spills to a
    folder of the system's temporary directory instead of growing (or littering `./.tmp`).
    The folder is the connection's own: DuckDB creates it on the first spill and removes it
    when the connection closes."""
    import duckdb

    spill = Path(tempfile.gettempdir()) / f"lakehouse-duckdb-{os.getpid()}-{next(_connections)}"
    con = duckdb.connect(
        config={
            "memory_limit": os.environ.get("LAKEHOUSE_DUCKDB_MEMORY_LIMIT", "2GB"),
            "temp_directory": str(spill),
        }
    )
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    return con


def connect(
    root: Root, tables: list[str] | None = None, as_of: int | dt.datetime | None = None
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the given tables (default: all) as `zone.table` views."""
    con = new_connection()
    for name in tables if tables is not None else list_tables(root):
        zone, table = split_name(name)
        dt_ = open_table(root, zone, table)
        if as_of is not None:
            dt_.load_as_version(as_of)
        alias = f"__{zone}__{table}"
        con.register(alias, dt_.to_pyarrow_dataset())
        view, source = f"{quote(zone)}.{quote(table)}", quote(alias)
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(zone)}")
        con.execute(f"CREATE OR REPLACE VIEW {view} AS SELECT * FROM {source}")
    return con


def lock_down(con: duckdb.DuckDBPyConnection) -> None:
    """Only what is registered is reachable: no files, databases or extensions; and no
    statement can change a setting (so none can turn this off)."""
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def run_sql(
    root: Root,
    sql: str,
    as_of: int | dt.datetime | None = None,
    *,
    allow_file_access: bool = False,
) -> pa.Table:
    """The statement's result, fully read; the connection is closed before returning (an
    open connection holding Arrow datasets can stall the interpreter's exit). The statement
    sees only the lakehouse tables unless `allow_file_access` (see the module's docstring)."""
    import duckdb

    names = referenced_tables(sql)
    known = set(list_tables(root))
    for n in names:
        if n not in known:
            raise TableNotFound(f"table {n} does not exist; `lakehouse tables` lists them")
    con = connect(root, names, as_of)
    try:
        if not allow_file_access:
            lock_down(con)
        rel = con.sql(sql)
        if rel is None:
            raise QueryError(
                "the statement returned no rows to show; it ran on a throw-away in-memory "
                "database (the lakehouse tables are read-only views)"
            )
        return rel.to_arrow_table()
    except duckdb.Error as exc:
        message = str(exc).splitlines()[0]
        refused = isinstance(exc, duckdb.PermissionException) or "has been locked" in message
        if refused and not allow_file_access:
            message += f" ({FILE_ACCESS_HINT})"
        raise QueryError(message) from exc
    finally:
        con.close()
