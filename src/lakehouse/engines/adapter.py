"""What an engine supplies to the shared flow (`engines/flow.py`, `gold/refresh.py`).

The flow is written once, in the shared SQL dialect, over named relations; an adapter holds
those relations and commits Delta tables. It has two faces:

- `Relations`: hold an Arrow table or a Delta table under a name, define a view by SQL,
  compute a relation once (`materialized`), fetch small results. Every SQL text given to it is
  in the shared dialect (DuckDB); the adapter renders it for its engine.
- writes: `append` and `merge` into a Delta table, and `write_gold` one gold refresh result,
  each checking the fence and recording the commit metadata.

`LocalAdapter` (DuckDB + delta-rs) and `SparkAdapter` (Spark SQL + delta-spark) are the two.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

import pyarrow as pa

from lakehouse.engines.base import Rows
from lakehouse.gold.session import GoldSession, GoldWrite
from lakehouse.store.delta import CommitInfo
from lakehouse.store.root import Root


@dataclass(frozen=True)
class Merge:
    """MERGE INTO t USING s ON `on`, in the shared dialect. Clauses, in order: WHEN MATCHED AND
    `delete_when` THEN DELETE; WHEN MATCHED AND `update_when` THEN UPDATE every column of the
    table; WHEN NOT MATCHED [AND `insert_when`] THEN INSERT every column."""

    on: str
    update_when: str
    insert_when: str | None = None
    delete_when: str | None = None


@dataclass(frozen=True)
class Merged:
    version: int
    inserted: int
    updated: int


@dataclass(frozen=True)
class Target:
    """A Delta table to write: where it is, the schema its rows are cast to, the commit's
    metadata, and the fault-injection point reached right before the commit (after the lease
    is checked)."""

    zone: str
    name: str
    schema: pa.Schema
    commit: CommitInfo
    pause_point: str | None = None


class Adapter(GoldSession[Any], Protocol):
    root: Root

    # --- relations -------------------------------------------------------------------------
    def put_arrow(self, name: str, table: pa.Table) -> None:
        """Hold `table` (a small lookup, or an empty entity's rows) as relation `name`."""
        ...

    def put_rows(self, name: str, rows: Rows) -> int:
        """Hold a run's rows from the readers as relation `name`; how many there are."""
        ...

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
        """The Delta table's current snapshot (these columns, default all) as relation `name`,
        or the snapshot of `version` (time travel); `reread`: many queries will read it (an
        engine may keep it in memory meanwhile)."""
        ...

    def view(self, name: str, sql: str) -> None:
        """A relation computed by `sql` whenever it is read."""
        ...

    def union(self, name: str, first: str, second: str) -> None:
        """The rows of both relations, columns matched by name (missing ones null)."""
        ...

    def materialized(self, name: str, sql: str) -> AbstractContextManager[int]:
        """Compute `sql` once as relation `name` for the block, which gets its row count."""
        ...

    def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        """A small result's rows."""
        ...

    def forget(self, name: str) -> None:
        """Drop relation `name` (and whatever it holds); nothing when there is none."""
        ...

    def read_delta(self, zone: str, table: str) -> Any | None:
        """A Delta table's current rows as a result of this session (`GoldSession`); None
        when there is no such table."""
        ...

    # --- writes ----------------------------------------------------------------------------
    def append(
        self,
        target: Target,
        sql: str,
        transactions: Mapping[str, str] = {},
        *,
        rows: int | None = None,
    ) -> int:
        """Append the rows of `sql` in one commit; the table's new version. `transactions`
        (app id -> file hash, the rows' `_file_sha256`) are recorded in the same commit, so a
        file is appended once whatever happens. `rows`, when the caller knows it, is how many
        rows `sql` returns: an engine may choose its writer by it."""
        ...

    def append_relation(
        self,
        target: Target,
        name: str,
        transactions: Mapping[str, str] = {},
        *,
        rows: int | None = None,
    ) -> int:
        """`append` of the target's columns of relation `name`."""
        ...

    def merge(self, target: Target, sql: str, merge: Merge) -> Merged:
        """MERGE the rows of `sql` (the schema's columns plus any the predicates read)."""
        ...

    def write_gold(
        self, w: GoldWrite[Any], description: str, commit: CommitInfo
    ) -> tuple[int, int]:
        """Commit one gold refresh result; (the table's new version, rows written). A table
        that does not exist is created (fenced) first, with `description`."""
        ...

    def close(self) -> None: ...
