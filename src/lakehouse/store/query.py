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
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

import sqlglot
from sqlglot import exp

from lakehouse.engines.dialect import quote
from lakehouse.errors import QueryError, TableNotFound, TerminalError
from lakehouse.store.delta import commit_time, open_table
from lakehouse.store.root import Root
from lakehouse.store.scan import arrow_dataset
from lakehouse.store.spill import spill_folder
from lakehouse.store.tables import list_tables, split_name
from lakehouse.store.zones import ZONES

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa
    from deltalake import DeltaTable

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


def _statements(sql: str) -> list[exp.Expr]:
    try:
        tree = sqlglot.parse(sql, read="duckdb")
    except sqlglot.errors.ParseError as exc:
        raise QueryError(f"SQL does not parse: {exc}") from exc
    return [s for s in tree if s is not None]


def referenced_tables(sql: str | list[exp.Expr]) -> list[str]:
    """The `zone.table` names a statement (text or parsed) reads, each once (the zone in any
    case, as DuckDB takes identifiers)."""
    found = []
    for statement in _statements(sql) if isinstance(sql, str) else sql:
        for t in statement.find_all(exp.Table):
            name = f"{t.db.lower()}.{t.name}"
            if t.db.lower() in ZONES and name not in found:
                found.append(name)
    return found


# statements that would change (or drop, or replace) the relation they name
_WRITES = (
    exp.Insert,
    exp.Update,
    exp.Delete,
    exp.Merge,
    exp.Create,
    exp.Drop,
    exp.Alter,
    exp.TruncateTable,
    exp.Comment,
)


def written_tables(sql: str | list[exp.Expr]) -> list[str]:
    """The lakehouse tables (or zones) a statement (text or parsed) would change: SQL may only
    read them."""
    found = []
    for statement in _statements(sql) if isinstance(sql, str) else sql:
        if not isinstance(statement, _WRITES):
            continue
        if isinstance(statement, (exp.Drop, exp.TruncateTable)):
            targets = list(statement.find_all(exp.Table))
        else:
            target = statement.this
            targets = [target.this if isinstance(target, exp.Schema) else target]
        for t in targets:
            if not isinstance(t, exp.Table):
                continue
            zone = (t.db or t.name).lower()  # `DROP SCHEMA silver` names the zone alone
            if zone in ZONES:
                found.append(".".join(p for p in (t.db, t.name) if p))
    return found


#: a memory size as DuckDB reads one: a positive number and an optional unit
_SIZE = re.compile(r"\s*(?P<n>\d+(\.\d+)?)\s*(B|[KMGT]i?B|bytes)?\s*", re.IGNORECASE)


def memory_limit() -> str:
    """DuckDB's memory limit per connection (`LAKEHOUSE_DUCKDB_MEMORY_LIMIT`, default 2GB).
    A size DuckDB would misread is refused naming the variable: "-5GB" lifted the cap to the
    machine's 80 %, "abc" failed every query with DuckDB's parser error."""
    value = os.environ.get("LAKEHOUSE_DUCKDB_MEMORY_LIMIT", "2GB")
    size = _SIZE.fullmatch(value)
    if size is None or float(size["n"]) <= 0:
        raise TerminalError(
            f"LAKEHOUSE_DUCKDB_MEMORY_LIMIT={value!r} is not a memory size: give a positive "
            "number and a unit, e.g. 2GB or 512MiB"
        )
    return value


def roomy_memory_limit() -> str:
    """The limit a gold model is retried with once it ran out of `memory_limit`: half of the
    machine's memory (or of the cgroup's, when that is smaller)."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        capped = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        total = min(total, int(capped))
    except (OSError, ValueError):  # no cgroup v2 limit ("max", or not there)
        pass
    return f"{total // 2 // 2**20}MB"


def new_connection() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection as the lakehouse uses it: UTC, no progress bar, and
    bounded memory — past `LAKEHOUSE_DUCKDB_MEMORY_LIMIT` (default 2GB) a query spills to a
    folder of the system's temporary directory instead of growing (or littering `./.tmp`).
    The folder is the connection's own: DuckDB creates it on the first spill and removes it
    when the connection closes; what a killed process left is cleared by the next
    (`lakehouse.store.spill`)."""
    import duckdb

    spill = spill_folder()
    con = duckdb.connect(config={"memory_limit": memory_limit(), "temp_directory": str(spill)})
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
            _load_as_of(dt_, name, as_of)
        alias = f"__{zone}__{table}"
        con.register(alias, arrow_dataset(dt_, root.local_path(zone, table)))
        view, source = f"{quote(zone)}.{quote(table)}", quote(alias)
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(zone)}")
        con.execute(f"CREATE OR REPLACE VIEW {view} AS SELECT * FROM {source}")
    return con


def _load_as_of(table: DeltaTable, name: str, as_of: int | dt.datetime) -> None:
    """`table` as it was at version or time `as_of`; a QueryError naming the table when it
    has no such version, or did not exist yet at that time."""
    latest = table.version()
    if isinstance(as_of, int) and not 0 <= as_of <= latest:
        raise QueryError(f"{name} has versions 0..{latest}: there is no version {as_of}")
    if isinstance(as_of, dt.datetime):
        # the version by the commits' own times, as `history` shows them: delta-rs goes by the
        # log files' modification times, which a copy (`cp -r`) or a skewed clock changes (a
        # copied lakehouse answered from version 0, silently)
        history = table.history()
        first = commit_time(history[-1])
        if history[-1].get("version", 0) == 0 and as_of < first:
            raise QueryError(
                f"{name} did not exist yet at {as_of.isoformat()}: its first version is of "
                f"{first.isoformat()}"
            )
        stamp = as_of.timestamp() * 1000
        as_of = max(
            (int(h["version"]) for h in history if h["timestamp"] <= stamp),
            default=int(history[-1]["version"]),
        )
    try:
        table.load_as_version(as_of)
    except Exception as exc:  # e.g. the log of that version was cleaned up
        raise QueryError(f"{name}: cannot read it as of {as_of}: {exc}") from exc


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

    statements = _statements(sql)  # parsed once for both checks
    written = written_tables(statements)
    if written:
        raise QueryError(
            f"{', '.join(written)}: the lakehouse tables are read-only in SQL; they change "
            "through `lakehouse run` (and restore, repair, optimize, vacuum)"
        )
    known = {n.lower(): n for n in list_tables(root)}
    names = []
    for n in referenced_tables(statements):
        if n.lower() not in known:
            raise TableNotFound(f"table {n} does not exist; `lakehouse tables` lists them")
        names.append(known[n.lower()])
    con = connect(root, list(dict.fromkeys(names)), as_of)
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
