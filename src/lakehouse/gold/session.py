"""Where gold models run: the few operations the refresh needs from a SQL engine.

`lakehouse.gold.refresh` plans and orders the models once; a `GoldSession` computes their SQL
(already rendered for `dialect`) and holds the results by name for the models that read them.
`DuckDBSession` is the embedded one (results are Arrow tables); the Spark engine's adapter is
the other (results are persisted DataFrames), so gold is computed where the engine computes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeVar

import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.engines.dialect import Dialect, quote

if TYPE_CHECKING:
    import duckdb

R = TypeVar("R")


@dataclass(frozen=True)
class GoldWrite(Generic[R]):
    """One table write: `overwrite` the whole table, or `replace` the rows matching `predicate`
    (SQL over the model's own columns, e.g. ``date IN ('2025-04-01')``) by `table`'s rows.
    `table` is the session's result type (an Arrow table on DuckDB)."""

    model: str
    table: R
    mode: Literal["overwrite", "replace"]
    predicate: str | None = None


class GoldSession(Protocol[R]):
    #: the dialect every SQL text given to `compute`, `scalar` and `temp_table` is in
    dialect: Dialect
    #: the silver tables' names in this session ("silver.orders" -> a relation name)
    sources: Mapping[str, str]

    def time_zone(self) -> str: ...

    def scalar(self, sql: str) -> Any: ...

    def compute(self, sql: str) -> R:
        """The rows of `sql`, computed once (reading them again does not recompute them)."""
        ...

    def temp_table(self, name: str, sql: str) -> None:
        """The rows of `sql` as relation `name`, stored compactly (spilling past memory)."""
        ...

    def keep(self, name: str, rows: R) -> None:
        """`rows` as relation `name`, read by later models (computed once)."""
        ...

    def put_arrow(self, name: str, table: pa.Table) -> None: ...

    def forget(self, name: str) -> None: ...

    def columns(self, rows: R) -> list[str]: ...

    def select(self, rows: R, columns: Sequence[str]) -> R: ...

    def replace_keys(self, stored: R, key: str, values: Sequence[object], rows: R) -> R | None:
        """`stored` with the rows whose `key` is in `values` replaced by `rows`; None when the
        stored column types no longer fit `rows` (the caller rebuilds)."""
        ...


class DuckDBSession:
    """Gold on a DuckDB connection that has `silver.products`, `silver.orders` and
    `silver.order_items` (e.g. `lakehouse.store.query.connect`); results are Arrow tables.

    With `memory_limit` (the connection's own, e.g. `lakehouse.store.query.memory_limit()`), a
    `compute` or `temp_table` that runs out of it (a gold model; on the local engine also a
    relation the silver step materializes) runs once more with `roomy_memory_limit()`, then the
    limit is set back. DuckDB spills joins, sorts and grouping past its limit, but not every state
    (the sets of a `COUNT(DISTINCT ...)`): at 100 M order lines department_sales needs more
    than 2 GB, while every model at 10 M fits in it (docs/performance.md)."""

    dialect: Dialect = "duckdb"
    sources: Mapping[str, str] = {}  # the connection reads silver.* by those names

    def __init__(self, con: duckdb.DuckDBPyConnection, memory_limit: str | None = None) -> None:
        self.con = con
        self.memory_limit = memory_limit
        self._tables: set[str] = set()

    def _roomy(self, work: Callable[[], R], what: str) -> R:
        import duckdb

        from lakehouse.log import event
        from lakehouse.store.query import roomy_memory_limit

        try:
            return work()
        except duckdb.OutOfMemoryException as exc:
            if self.memory_limit is None:
                raise
            roomy = roomy_memory_limit()
            event(
                "duckdb_memory_raised",
                logging.WARNING,
                query=what,
                limit=self.memory_limit,
                retried_with=roomy,
                error=str(exc).splitlines()[0],
            )
            self.con.execute(f"SET memory_limit = '{roomy}'")
            try:
                return work()
            finally:
                self.con.execute(f"SET memory_limit = '{self.memory_limit}'")

    def time_zone(self) -> str:
        return str(self.scalar("SELECT current_setting('TimeZone')"))

    def scalar(self, sql: str) -> Any:
        rows = self.con.execute(sql).fetchall()  # fetched whole: DuckDB 2 wants results finished
        return rows[0][0] if rows else None

    def compute(self, sql: str) -> pa.Table:
        return self._roomy(lambda: self.con.sql(sql).to_arrow_table(), sql[:200])

    def temp_table(self, name: str, sql: str) -> None:
        create = f"CREATE OR REPLACE TEMP TABLE {quote(name)} AS {sql}"
        self._roomy(lambda: self.con.execute(create), name)
        self._tables.add(name)

    def keep(self, name: str, rows: pa.Table) -> None:
        self.con.register(name, rows)

    def put_arrow(self, name: str, table: pa.Table) -> None:
        self.con.register(name, table)

    def forget(self, name: str) -> None:
        if name in self._tables:
            self.con.execute(f"DROP TABLE IF EXISTS {quote(name)}")
            self._tables.discard(name)
        else:
            self.con.unregister(name)

    def columns(self, rows: pa.Table) -> list[str]:
        return list(rows.column_names)

    def select(self, rows: pa.Table, columns: Sequence[str]) -> pa.Table:
        return rows.select(list(columns))

    def replace_keys(
        self, stored: pa.Table, key: str, values: Sequence[object], rows: pa.Table
    ) -> pa.Table | None:
        try:
            column = stored.column(key)
            replaced = pc.is_in(column, value_set=pa.array(values, type=column.type))
            kept = stored.filter(pc.invert(pc.fill_null(replaced, False)))
            return pa.concat_tables([kept.cast(rows.schema), rows])
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            return None
