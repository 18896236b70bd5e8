"""Derive the lineage graph from the definitions: contracts and gold model SQL, never by hand.

Contracts give landing -> bronze -> silver / quarantine, column for column (a bronze column is
the text of the delivered column; silver types it; quarantine keeps it), plus the indirect edges
the validation reads: every bronze column decides whether its row reaches silver (its checks,
`date_of` included), and a foreign key's parent columns (key and `must_agree`) decide for the
child; the same columns feed quarantine's `_reasons`.

Each gold model's SQL is parsed once, qualified against the schemas the lakehouse really holds
(silver: contract columns plus the lineage columns of `zones.LINEAGE`; gold: each model's output
columns, ephemeral building blocks included) and walked with sqlglot's column lineage: an output
column's direct sources are the leaf table columns of its lineage tree (window PARTITION BY and
ORDER BY included, as sqlglot counts them). The columns that only shape rows (JOIN ON, WHERE,
GROUP BY, HAVING, QUALIFY, SELECT DISTINCT) of a query the value passes through, and of the
queries that query reads its rows from, are its indirect inputs, resolved through CTEs to the
table columns they come from. A LEFT JOIN's condition shapes only the values read from the
joined side. This over-approximates a little (a filter in a CTE counts for every value read
through it) and never misses a column the SQL reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache

import sqlglot
from sqlglot import exp
from sqlglot.lineage import Node, lineage, to_node
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, build_scope
from sqlglot.schema import MappingSchema

from lakehouse.contracts import Contract
from lakehouse.engines.dialect import SOURCE_DIALECT, parse
from lakehouse.gold.model import GoldModel, ModelError
from lakehouse.lineage.graph import ColumnRef, Edge, LineageGraph, TableNode
from lakehouse.store import zones

#: clauses whose columns decide which rows a query keeps or how it groups them
_ROW_SHAPING = ("joins", "where", "group", "having", "qualify")


@dataclass(frozen=True)
class ModelLineage:
    """What one model's SQL reads: per output column its direct sources and the row-shaping
    columns of every query its value passes through (indirect); every table it names."""

    columns: dict[str, frozenset[ColumnRef]]
    indirect: dict[str, frozenset[ColumnRef]]
    reads: frozenset[str]


def build_graph(contracts: Mapping[str, Contract], models: Mapping[str, GoldModel]) -> LineageGraph:
    """The whole lakehouse's lineage: contracts' zones, then every gold model (ephemeral too)."""
    graph = LineageGraph()
    for contract in contracts.values():
        _add_contract(graph, contract)
    schema = sql_schema(contracts, models)
    for model in models.values():
        found = model_lineage(model, schema)
        name = model.table
        header = model.column_names
        columns = [*found.columns, *(c for c in header if c not in found.columns)]
        graph.add_table(
            TableNode(
                name,
                tuple(columns),
                model.description,
                "model" if model.materialized else "ephemeral",
            )
        )
        for column, sources in found.columns.items():
            for src in sorted(sources):
                graph.add_edge(Edge(src, name, column, "direct"))
        for column, sources in found.indirect.items():
            for src in sorted(sources):
                graph.add_edge(Edge(src, name, column, "indirect"))
    return graph


def _add_contract(graph: LineageGraph, c: Contract) -> None:
    e = c.entity
    landing, bronze, silver, quarantine = (
        f"{zone}.{e}" for zone in ("landing", "bronze", "silver", "quarantine")
    )
    patterns = ", ".join(c.file_patterns)
    graph.add_table(
        TableNode(landing, tuple(c.names), f"Files dropped in landing/ named {patterns}.", "file")
    )
    descriptions = zones.descriptions(c)
    for zone in zones.SCHEMAS:
        names = zones.schema_of(zone, c).names
        graph.add_table(TableNode(f"{zone}.{e}", tuple(names), descriptions[zone]))
    bronze_cols = graph.tables[bronze].columns
    for col in c.names:
        graph.add_edge(Edge(ColumnRef(landing, col), bronze, col, "direct"))
    for col in bronze_cols:
        for target in (silver, quarantine):
            if col in graph.tables[target].columns:
                graph.add_edge(Edge(ColumnRef(bronze, col), target, col, "direct"))
    # every value is checked (types, ranges, enums, date_of ...): it decides silver or quarantine
    for col in c.names:
        graph.add_edge(Edge(ColumnRef(bronze, col), quarantine, zones.REASONS.name, "direct"))
        graph.add_edge(Edge(ColumnRef(bronze, col), silver, None, "indirect"))
    for fk in c.foreign_keys:
        parent = f"silver.{fk.references}"
        for ref_col in (fk.ref_column, *fk.must_agree):
            src = ColumnRef(parent, ref_col)
            graph.add_edge(Edge(src, silver, None, "indirect"))
            graph.add_edge(Edge(src, quarantine, zones.REASONS.name, "direct"))


def sql_schema(
    contracts: Mapping[str, Contract], models: Mapping[str, GoldModel]
) -> dict[str, dict[str, dict[str, str]]]:
    """`{zone: {table: {column: type}}}` of what model SQL may read: silver as stored (contract
    columns, then the lineage columns) and every gold model's declared columns."""
    silver = {
        e: {f.name: str(f.type) for f in zones.silver_schema(c)} for e, c in contracts.items()
    }
    gold = {m.name: dict.fromkeys(m.column_names, "unknown") for m in models.values()}
    return {"silver": silver, "gold": gold}


def model_lineage(
    model: GoldModel, schema: Mapping[str, Mapping[str, Mapping[str, str]]]
) -> ModelLineage:
    """Parse, qualify and walk one model's SQL (see the module docstring)."""
    return _model_lineage(model.sql, model.path or model.name, _frozen(schema))


def _frozen(schema: Mapping[str, Mapping[str, Mapping[str, str]]]) -> _Schema:
    return tuple(
        (zone, tuple((t, tuple(cols.items())) for t, cols in tables.items()))
        for zone, tables in schema.items()
    )


_Schema = tuple[tuple[str, tuple[tuple[str, tuple[tuple[str, str], ...]], ...]], ...]


@cache
def _model_lineage(sql: str, where: str, frozen: _Schema) -> ModelLineage:
    raw: dict[str, object] = {
        zone: {t: dict(cols) for t, cols in tables} for zone, tables in frozen
    }
    schema = MappingSchema(raw, dialect=SOURCE_DIALECT)
    try:
        parsed = parse(sql)
        query = qualify(
            parsed,
            schema=schema,
            dialect=SOURCE_DIALECT,
            validate_qualify_columns=False,
            quote_identifiers=False,
        )
    except sqlglot.errors.SqlglotError as exc:
        raise ModelError(f"{where}: lineage could not read the SQL: {exc}") from exc
    if not isinstance(query, exp.Query):
        raise ModelError(f"{where}: the SQL must be one SELECT query")
    root = build_scope(query)
    assert root is not None
    scopes = {id(scope.expression): scope for scope in root.traverse()}
    tables = {zone: {t for t, _ in named} for zone, named in frozen}
    for each in scopes.values():  # before, `silver.ordres` was taken in and given columns
        for source in each.sources.values():
            if isinstance(source, exp.Table) and source.name not in tables.get(source.db, ()):
                known = ", ".join(f"{z}.<{'entity' if z == 'silver' else 'model'}>" for z in tables)
                raise ModelError(
                    f"{where}: reads {source.db or '(no zone)'}.{source.name}, which is no "
                    f"table of the lakehouse (it may read {known})"
                )
    shaping: dict[tuple[int, int], frozenset[ColumnRef]] = {}

    def shaped_by(scope: Scope, aliases: set[str]) -> set[ColumnRef]:
        """Table columns that decide the rows of `scope` a value read from `aliases` sits on:
        its own row-shaping clauses, then (recursively) the rows of the queries it reads from
        (FROM and inner joins always; a LEFT JOIN only when the value is read from it)."""
        found: set[ColumnRef] = set()
        if isinstance(scope.expression, exp.SetOperation):
            for branch in scope.set_operation_scopes:
                found |= shaped_by(branch, set())
            return found
        for i, (only, column_list) in enumerate(_row_shaping_columns(scope)):
            if only is not None and only not in aliases:
                continue
            key = (id(scope.expression), i)
            if key not in shaping:
                resolved: set[ColumnRef] = set()
                for column in column_list:
                    resolved |= _resolve(column, scope, schema)
                shaping[key] = frozenset(resolved)
            found |= shaping[key]
        for alias, (_, source) in scope.selected_sources.items():
            if isinstance(source, Scope) and _row_source(scope, alias, aliases):
                found |= shaped_by(source, set())
        return found

    columns: dict[str, frozenset[ColumnRef]] = {}
    indirect: dict[str, frozenset[ColumnRef]] = {}
    for name in query.named_selects:
        node = lineage(
            name,
            query,
            schema=schema,
            dialect=SOURCE_DIALECT,
            scope=root,
            copy=False,
            trim_selects=False,
        )
        columns[name] = frozenset(_leaves(node))
        rows: set[ColumnRef] = set()
        for n in node.walk():
            scope = scopes.get(id(n.source))
            if scope is not None:
                used = {c.table for c in n.expression.find_all(exp.Column)}
                rows |= shaped_by(scope, used)
        indirect[name] = frozenset(rows - columns[name])
    reads = {
        _table_name(t)
        for s in root.traverse()
        for t in s.sources.values()
        if isinstance(t, exp.Table)
    }
    return ModelLineage(columns, indirect, frozenset(reads))


def _leaves(node: Node) -> Iterable[ColumnRef]:
    for n in node.walk():
        if isinstance(n.expression, exp.Table):
            yield ColumnRef(_table_name(n.expression), n.name.rsplit(".", 1)[-1].strip('"'))


def _table_name(table: exp.Table) -> str:
    return f"{table.db}.{table.name}" if table.db else table.name


def _row_shaping_columns(scope: Scope) -> list[tuple[str | None, list[exp.Column]]]:
    """The columns of a query's row-shaping clauses, each with the one source alias it is
    limited to: a LEFT JOIN's condition only decides what the joined side contributes (the left
    rows are kept), so it shapes only the values read from that side; None: every value."""
    select = scope.expression
    if not isinstance(select, exp.Select):
        return []
    found: list[tuple[str | None, list[exp.Column]]] = []
    for clause in _ROW_SHAPING:
        value = select.args.get(clause)
        for part in value if isinstance(value, list) else [value]:
            if part is None:
                continue
            only: str | None = None
            if isinstance(part, exp.Join):
                only = part.alias_or_name if part.side == "LEFT" else None
                part = part.args.get("on")
                if part is None:
                    continue
            found.append((only, list(part.find_all(exp.Column))))
    if select.args.get("distinct"):  # every selected value decides which rows are kept
        found.append((None, [c for e in select.selects for c in e.find_all(exp.Column)]))
    return found


def _row_source(scope: Scope, alias: str, used: set[str]) -> bool:
    """Whether the source `alias` decides which rows `scope` has (for a value from `used`)."""
    select = scope.expression
    if not isinstance(select, exp.Select):
        return True
    for join in select.args.get("joins") or []:
        if join.alias_or_name == alias:
            return join.side != "LEFT" or alias in used
    return True


def _resolve(column: exp.Column, scope: Scope, schema: MappingSchema) -> set[ColumnRef]:
    """The table columns a scope's column reads: itself when its source is a table, else the
    leaves of its lineage through the CTE or subquery it names."""
    source = scope.sources.get(column.table)
    if isinstance(source, exp.Table):
        return {ColumnRef(_table_name(source), column.name)}
    if isinstance(source, Scope):
        if column.name not in getattr(source.expression, "named_selects", ()):
            return set()
        node = to_node(column.name, source, SOURCE_DIALECT, schema, trim_selects=False)
        return set(_leaves(node))
    return set()
