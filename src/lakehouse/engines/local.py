"""The embedded engine: DuckDB computes over Arrow, delta-rs commits Delta tables."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import pyarrow as pa

from lakehouse.engines.adapter import Merge, Merged, Target
from lakehouse.engines.append import append_arrow, as_schema
from lakehouse.engines.base import Capabilities
from lakehouse.engines.dialect import quote
from lakehouse.engines.flow import FlowEngine
from lakehouse.engines.sql import columns_of, quote_all
from lakehouse.gold.builds import SILVER
from lakehouse.gold.commit import commit_arrow
from lakehouse.gold.session import DuckDBSession, GoldWrite
from lakehouse.store.delta import (
    CommitInfo,
    open_table,
    try_open,
    writer_properties,
)
from lakehouse.store.root import Root
from lakehouse.store.scan import duckdb_scan

CAPABILITIES = Capabilities(name="local", sql_dialect="duckdb", distributed=False)
STREAM_BATCH_ROWS = 122_880  # DuckDB's row group: rows per batch streamed into an append


class LocalAdapter(DuckDBSession):
    """Relations are DuckDB relations (Arrow tables and Delta snapshots registered, views and
    temp tables); writes are delta-rs commits of Arrow tables."""

    def __init__(self, root: Root) -> None:
        from lakehouse.store.query import memory_limit, new_connection

        super().__init__(new_connection(), memory_limit())
        self.root = root
        self.sources: Mapping[str, str] = {f"silver.{e}": f"__silver_{e}" for e in SILVER}
        self._registered: dict[str, object] = {}  # name -> the Arrow table or dataset
        self._views: set[str] = set()

    def close(self) -> None:
        self.con.close()

    # --- relations -------------------------------------------------------------------------
    def put_arrow(self, name: str, table: pa.Table) -> None:
        self.forget(name)
        self.con.register(name, table)
        self._registered[name] = table

    def put_rows(self, name: str, rows: pa.Table) -> int:
        self.put_arrow(name, rows)
        return int(rows.num_rows)

    def keep(self, name: str, rows: pa.Table) -> None:
        self.put_arrow(name, rows)

    def put_delta(
        self,
        name: str,
        zone: str,
        table: str,
        columns: Sequence[str],
        *,
        reread: bool = False,
        version: int | None = None,
    ) -> None:
        """`reread` changes nothing here: the view reads the snapshot's files when queried.

        A table is read by DuckDB's own Parquet reader where it reads it as delta-rs does
        (`lakehouse.store.scan`), else as a delta-rs Arrow dataset. Quarantine is read into
        memory (it holds only rejected rows): DuckDB pushes the waiting-rows filter
        (`_file_sha256 NOT IN (...)`) into a dataset scan as range comparisons that pyarrow
        cannot evaluate on delta-rs's string_view columns."""
        self.forget(name)
        dt = open_table(self.root, zone, table, version)
        local = self.root.local_path(zone, table)
        scan = None if zone == "quarantine" else duckdb_scan(self.con, dt, local)
        if scan is not None:
            self.view(name, f"SELECT {_select(columns)} FROM ({scan})")
            return
        source = f"__delta_{name}"
        dataset = dt.to_pyarrow_dataset()
        if zone == "quarantine":
            dataset = dataset.to_table(columns=list(columns) or None)
        self.con.register(source, dataset)
        self._registered[source] = dataset
        self.view(name, f"SELECT {_select(columns)} FROM {source}")

    def view(self, name: str, sql: str) -> None:
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW {quote(name)} AS {sql}")
        self._views.add(name)

    def union(self, name: str, first: str, second: str) -> None:
        self.view(
            name, f"SELECT * FROM {quote(first)} UNION ALL BY NAME SELECT * FROM {quote(second)}"
        )

    @contextmanager
    def materialized(self, name: str, sql: str) -> Iterator[int]:
        self.temp_table(name, sql)
        try:
            [(n,)] = self.fetch(f"SELECT count(*) FROM {quote(name)}")
            yield int(n)
        finally:
            self.forget(name)

    def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        return self.con.execute(sql).fetchall()

    def forget(self, name: str) -> None:
        if name in self._views:
            self.con.execute(f"DROP VIEW IF EXISTS {quote(name)}")
            self._views.discard(name)
            self.forget(f"__delta_{name}")
        elif name in self._registered:
            self.con.unregister(name)
            del self._registered[name]
        elif name in self._tables:
            super().forget(name)

    def read_delta(self, zone: str, table: str) -> pa.Table | None:
        found = try_open(self.root, zone, table)
        return None if found is None else found.to_pyarrow_dataset().to_table()

    # --- writes ----------------------------------------------------------------------------
    def _rows(self, target: Target, sql: str) -> pa.Table:
        """The rows of `sql`: the target's columns cast to its schema, then any others."""
        table = self.con.sql(sql).to_arrow_table()
        names = target.schema.names
        extra = [c for c in table.column_names if c not in names]
        typed = as_schema(table, target.schema)
        return pa.Table.from_arrays(
            [*typed.columns, *(table[c] for c in extra)], names=[*names, *extra]
        )

    def append(
        self,
        target: Target,
        sql: str,
        transactions: Mapping[str, str] = {},
        *,
        rows: int | None = None,
    ) -> int:
        """The rows stream from DuckDB into the writer batch by batch, cast to the target's
        schema: never held whole as one Arrow table (`rows` changes nothing here)."""

        def stream() -> pa.RecordBatchReader:
            schema = target.schema
            batches = self.con.sql(sql).to_arrow_reader(STREAM_BATCH_ROWS)
            cast = (as_schema(b, schema) for b in batches)
            return pa.RecordBatchReader.from_batches(schema, cast)

        return append_arrow(self.root, target, stream, transactions)

    def append_relation(
        self,
        target: Target,
        name: str,
        transactions: Mapping[str, str] = {},
        *,
        rows: int | None = None,
    ) -> int:
        """An Arrow table put here is written as it is: streamed through DuckDB it would be
        copied into Arrow again (a million bronze rows written in 0.46-0.50 s, against
        0.70-0.81 s through DuckDB)."""
        held = self._registered.get(name)
        if not isinstance(held, pa.Table):
            return self.append(target, columns_of(name, target.schema.names), transactions)
        typed = as_schema(held, target.schema)
        return append_arrow(self.root, target, lambda: typed, transactions)

    def merge(self, target: Target, sql: str, merge: Merge) -> Merged:
        rows = self._rows(target, sql)
        table = open_table(self.root, target.zone, target.name)
        every = {quote(n): f"s.{quote(n)}" for n in target.schema.names}
        builder = table.merge(
            rows,
            predicate=merge.on,
            source_alias="s",
            target_alias="t",
            commit_properties=target.commit.properties(),
            writer_properties=writer_properties(),
        )
        if merge.delete_when is not None:
            builder = builder.when_matched_delete(predicate=merge.delete_when)
        builder = builder.when_matched_update(updates=every, predicate=merge.update_when)
        metrics = builder.when_not_matched_insert(updates=every, predicate=merge.insert_when)
        counts = metrics.execute()
        return Merged(
            int(table.version()),
            int(counts["num_target_rows_inserted"]),
            int(counts["num_target_rows_updated"]),
        )

    def write_gold(
        self, w: GoldWrite[pa.Table], description: str, commit: CommitInfo
    ) -> tuple[int, int]:
        return commit_arrow(self.root, w, description, commit)


def _select(columns: Sequence[str]) -> str:
    return quote_all(columns) if columns else "*"


class LocalEngine(FlowEngine):
    capabilities = CAPABILITIES

    def __init__(self, root: Root, contracts_dir: str | None = None) -> None:
        super().__init__(LocalAdapter(root), contracts_dir)
