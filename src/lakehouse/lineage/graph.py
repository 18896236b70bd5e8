"""The lineage graph: tables, their columns, and the edges between columns.

An edge says where a column's values come from. `direct`: the target column's value is computed
from the source column (`gold.product_days.revenue` <- `gold.line_revenue.revenue`).
`indirect`: the source column decides *which rows* the target table holds or how they are grouped
(a join key, a filter, a GROUP BY key, a foreign key check): the edge targets the whole table
(`target_column` is None), so a change to the source may change every column of the target.

Traversal follows both kinds: downstream of a column, an indirect edge reaches every column of
its target table. A hit is `direct` only when every edge on its shortest path is direct.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal

from lakehouse.errors import LakehouseError

EdgeKind = Literal["direct", "indirect"]
ZONE_ORDER = ("landing", "bronze", "silver", "quarantine", "gold")


class LineageError(LakehouseError):
    """A table or column the lineage graph does not know; the message lists what it knows."""


@dataclass(frozen=True, order=True)
class ColumnRef:
    table: str  # zone.table
    column: str

    def __str__(self) -> str:
        return f"{self.table}.{self.column}"


@dataclass(frozen=True)
class Edge:
    source: ColumnRef
    target_table: str
    target_column: str | None  # None: the rows of the target table (indirect)
    kind: EdgeKind


@dataclass(frozen=True)
class TableNode:
    name: str  # zone.table
    columns: tuple[str, ...]
    description: str = ""
    #: how the table is made: "file" (landing), "contract" (bronze/silver/quarantine),
    #: "model" (gold), "ephemeral" (a gold model never written, inlined where it is read)
    kind: str = "contract"

    @property
    def zone(self) -> str:
        return self.name.split(".", 1)[0]


@dataclass(frozen=True, order=True)
class Hit:
    """One column reached by a traversal, at `depth` edges from the start."""

    depth: int
    ref: ColumnRef
    kind: EdgeKind


@dataclass
class LineageGraph:
    tables: dict[str, TableNode] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._into: dict[tuple[str, str | None], list[Edge]] = {}
        self._out: dict[ColumnRef, list[Edge]] = {}
        for e in self.edges:
            self._index(e)

    def _index(self, e: Edge) -> None:
        self._into.setdefault((e.target_table, e.target_column), []).append(e)
        self._out.setdefault(e.source, []).append(e)

    def add_table(self, table: TableNode) -> None:
        self.tables[table.name] = table

    def add_edge(self, edge: Edge) -> None:
        self.edges.append(edge)
        self._index(edge)

    # --- lookups ------------------------------------------------------------------
    def table(self, name: str) -> TableNode:
        if name not in self.tables:
            known = ", ".join(sorted(self.tables))
            raise LineageError(f"no table {name!r} in the lineage; known: {known}")
        return self.tables[name]

    def ref(self, table: str, column: str) -> ColumnRef:
        node = self.table(table)
        if column not in node.columns:
            raise LineageError(
                f"{table} has no column {column!r}; columns: {', '.join(node.columns)}"
            )
        return ColumnRef(table, column)

    def edges_into(self, table: str, column: str | None = None) -> list[Edge]:
        """Edges ending at one column (with the table's indirect edges), or at any column of
        the table when `column` is None."""
        if column is not None:
            return [*self._into.get((table, column), []), *self._into.get((table, None), [])]
        cols: list[str | None] = [*self.table(table).columns, None]
        return [e for c in cols for e in self._into.get((table, c), [])]

    def sources(self, table: str, column: str) -> list[Edge]:
        """The direct edges feeding one column (its value's inputs)."""
        return [e for e in self._into.get((table, column), []) if e.kind == "direct"]

    def input_tables(self, table: str) -> list[str]:
        """Tables read to build `table` (one step up)."""
        return sorted({e.source.table for e in self.edges_into(table)}, key=_table_order)

    def output_tables(self, table: str) -> list[str]:
        """Tables built from `table` (one step down)."""
        cols = self.table(table).columns
        found = {e.target_table for c in cols for e in self._out.get(ColumnRef(table, c), [])}
        return sorted(found, key=_table_order)

    # --- traversals ----------------------------------------------------------------
    def upstream(
        self,
        table: str,
        column: str | None = None,
        *,
        transitive: bool = True,
        direct_only: bool = False,
    ) -> list[Hit]:
        """Columns the column (or any column of the table) is derived from."""
        starts = [self.ref(table, column)] if column else self._all(table)
        return self._hits(starts, self._up, transitive, direct_only)

    def downstream(
        self,
        table: str,
        column: str | None = None,
        *,
        transitive: bool = True,
        direct_only: bool = False,
    ) -> list[Hit]:
        """Columns that change when the column (or any column of the table) changes."""
        starts = [self.ref(table, column)] if column else self._all(table)
        return self._hits(starts, self._down, transitive, direct_only)

    def upstream_tables(self, table: str, *, transitive: bool = True) -> list[str]:
        hits = self.upstream(table, transitive=transitive)
        return sorted({h.ref.table for h in hits} - {table}, key=_table_order)

    def downstream_tables(self, table: str, *, transitive: bool = True) -> list[str]:
        hits = self.downstream(table, transitive=transitive)
        return sorted({h.ref.table for h in hits} - {table}, key=_table_order)

    def _all(self, table: str) -> list[ColumnRef]:
        return [ColumnRef(table, c) for c in self.table(table).columns]

    def _up(self, ref: ColumnRef) -> Iterator[tuple[ColumnRef, EdgeKind]]:
        for e in self.edges_into(ref.table, ref.column):
            yield e.source, e.kind

    def _down(self, ref: ColumnRef) -> Iterator[tuple[ColumnRef, EdgeKind]]:
        for e in self._out.get(ref, []):
            if e.target_column is not None:
                yield ColumnRef(e.target_table, e.target_column), e.kind
            else:
                for c in self.tables[e.target_table].columns:
                    yield ColumnRef(e.target_table, c), "indirect"

    def _hits(
        self,
        starts: list[ColumnRef],
        step: Callable[[ColumnRef], Iterator[tuple[ColumnRef, EdgeKind]]],
        transitive: bool,
        direct_only: bool,
    ) -> list[Hit]:
        """A column is a `direct` hit when a path of direct edges reaches it (at that path's
        depth), else `indirect` (at the depth of its shortest path of any edges)."""
        direct = _walk(starts, step, transitive, {"direct"})
        hits = {ref: Hit(depth, ref, "direct") for ref, depth in direct.items()}
        if not direct_only:
            for ref, depth in _walk(starts, step, transitive, {"direct", "indirect"}).items():
                hits.setdefault(ref, Hit(depth, ref, "indirect"))
        return sorted(hits.values(), key=lambda h: (h.depth, _table_order(h.ref.table), h.ref))


def _walk(
    starts: list[ColumnRef],
    step: Callable[[ColumnRef], Iterator[tuple[ColumnRef, EdgeKind]]],
    transitive: bool,
    kinds: set[str],
) -> dict[ColumnRef, int]:
    """Breadth first over edges of `kinds`: each column reached, at its shortest depth."""
    start = set(starts)
    depths: dict[ColumnRef, int] = {}
    queue = deque((ref, 0) for ref in starts)
    while queue:
        ref, depth = queue.popleft()
        if not transitive and depth >= 1:
            continue
        for nxt, kind in step(ref):
            if kind in kinds and nxt not in start and nxt not in depths:
                depths[nxt] = depth + 1
                queue.append((nxt, depth + 1))
    return depths


def _table_order(name: str) -> tuple[int, str]:
    zone = name.split(".", 1)[0]
    return (ZONE_ORDER.index(zone) if zone in ZONE_ORDER else len(ZONE_ORDER), name)
