"""What the data docs say about each table: its definition (contract or model header), its
lineage (derived, `lakehouse.lineage`) and its state in a root (rows, Delta version, last
update, freshness and reject rate). One source: nothing here is written by hand."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from lakehouse.lineage import LineageGraph, cached_graph
from lakehouse.log import event
from lakehouse.store import zones
from lakehouse.store.tables import list_tables, table_info

if TYPE_CHECKING:
    from lakehouse.config.settings import Settings
    from lakehouse.contracts import Column, Contract
    from lakehouse.gold.model import GoldModel
    from lakehouse.store.root import Root


@dataclass(frozen=True)
class ColumnDoc:
    name: str
    type: str
    required: bool | None  # None: not declared (gold, lineage columns)
    checks: list[str]
    description: str
    sources: list[str]  # one step up, values only (`zone.table.column`)
    upstream: list[str]  # every column the value comes from, transitively
    downstream: list[str]  # every table with a column that changes with it, transitively
    downstream_columns: int


@dataclass
class TableDoc:
    name: str
    zone: str
    kind: str  # file | contract | model | ephemeral
    description: str
    grain: str = ""
    key: str = ""
    partition_by: list[str] = field(default_factory=list)
    refresh: str = ""
    sql: str = ""
    columns: list[ColumnDoc] = field(default_factory=list)
    reads: list[str] = field(default_factory=list)
    feeds: list[str] = field(default_factory=list)
    rows: int | None = None
    version: int | None = None
    last_update: dt.datetime | None = None
    freshness_minutes: float | None = None
    staleness_minutes: float | None = None
    fresh: bool | None = None
    reject_rate: float | None = None
    max_reject_rate: float | None = None
    freshness_from: str = ""  # gold: the silver table its staleness is inherited from


@dataclass(frozen=True)
class Docs:
    root: str
    generated_at: dt.datetime
    tables: list[TableDoc]


def checks_of(c: Column) -> list[str]:
    out = []
    if c.min is not None or c.max is not None:
        out.append(f"range [{'' if c.min is None else c.min}, {'' if c.max is None else c.max}]")
    if c.enum:
        out.append("one of " + ", ".join(c.enum))
    if c.default is not None:
        out.append(f"default {c.default}")
    if c.date_of:
        out.append(f"= date of {c.date_of}")
    if c.not_in_future:
        out.append("not in the future")
    return out


def collect(
    root: Root,
    contracts: Mapping[str, Contract],
    models: Mapping[str, GoldModel],
    settings: Settings,
    now: dt.datetime | None = None,
) -> Docs:
    moment = now or dt.datetime.now(dt.UTC)
    graph = cached_graph(contracts, models)
    docs = [_table(graph, name, contracts, models) for name in _ordered(graph)]
    _add_state(root, docs, contracts, settings, moment)
    return Docs(root.uri, moment, docs)


def _ordered(graph: LineageGraph) -> list[str]:
    zone_rank = {z: i for i, z in enumerate(("landing", "bronze", "silver", "quarantine", "gold"))}
    return sorted(graph.tables, key=lambda n: (zone_rank.get(n.split(".")[0], 9), n))


def _table(
    graph: LineageGraph,
    name: str,
    contracts: Mapping[str, Contract],
    models: Mapping[str, GoldModel],
) -> TableDoc:
    node = graph.tables[name]
    zone, _, table = name.partition(".")
    doc = TableDoc(name, zone, node.kind, node.description)
    doc.reads = graph.input_tables(name)
    doc.feeds = graph.output_tables(name)
    contract = contracts.get(table) if zone != "gold" else None
    types: dict[str, str] = {}
    declared: dict[str, Column] = {}
    described: dict[str, str] = {}
    if contract is not None:
        doc.key = ", ".join(contract.primary_key)
        declared = {c.name: c for c in contract.columns}
        if zone != "landing":
            schema = zones.schema_of(zone, contract)
            types = {f.name: str(f.type) for f in schema}
            described = {f.name: zones.comment(f) for f in schema}
        if zone == "silver":
            doc.partition_by = list(contract.partition_by)
            doc.grain = f"one row per {contract.entity} key ({doc.key})"
        elif zone == "landing":
            doc.grain = "files as delivered"
            types = dict.fromkeys(contract.names, "text")
        elif zone == "bronze":
            doc.grain = "every row received, values as text"
        else:
            doc.grain = "one row per rejected row (file, sheet, row)"
    model = models.get(table) if zone == "gold" else None
    if model is not None:
        doc.grain, doc.refresh, doc.sql = model.grain, model.refresh, model.sql
        doc.key = model.key or ""
        described = {c.name: c.description for c in model.columns}
    for column in node.columns:
        decl = declared.get(column)
        sources = [str(e.source) for e in graph.sources(name, column)]
        upstream = [str(h.ref) for h in graph.upstream(name, column, direct_only=True)]
        hits = graph.downstream(name, column)
        downstream = list(dict.fromkeys(h.ref.table for h in hits))
        doc.columns.append(
            ColumnDoc(
                column,
                types.get(column, ""),
                decl.required if decl is not None and zone == "silver" else None,
                checks_of(decl) if decl is not None and zone == "silver" else [],
                (decl.description if decl is not None else "") or described.get(column, ""),
                sources,
                upstream,
                downstream,
                len(hits),
            )
        )
    return doc


def _stored_types(root: Root, name: str) -> dict[str, str]:
    import pyarrow as pa

    from lakehouse.store.delta import open_table

    zone, _, table = name.partition(".")
    schema = pa.schema(open_table(root, zone, table, version=None).schema())
    return {f.name: str(f.type) for f in schema}


def _add_state(
    root: Root,
    docs: list[TableDoc],
    contracts: Mapping[str, Contract],
    settings: Settings,
    now: dt.datetime,
) -> None:
    """Rows, version and last update of every stored table; freshness and reject rate of the
    silver tables (as `lakehouse status` judges them). A root without tables yet: nothing."""
    try:
        stored = set(list_tables(root))
    except Exception as exc:  # an unreachable root still gets the definitions documented
        event("docs_state_unavailable", root=root.uri, error=repr(exc))
        return
    by_name = {d.name: d for d in docs}
    for name in stored & set(by_name):
        info = table_info(root, name)
        doc = by_name[name]
        doc.rows, doc.version, doc.last_update = info.rows, info.version, info.last_update
        if doc.zone == "gold":  # a model declares no types: the stored table has them
            stored_types = _stored_types(root, name)
            doc.columns = [
                replace(c, type=c.type or stored_types.get(c.name, "")) for c in doc.columns
            ]
    if not stored:
        return
    from lakehouse.monitoring.status import report

    status = report(root, settings, dict(contracts), now=now)
    for t in status.tables:
        silver = by_name.get(t.table)
        if silver is None:
            continue
        silver.freshness_minutes = t.freshness_objective_minutes
        silver.staleness_minutes = t.lag_minutes
        silver.fresh = t.fresh
        silver.reject_rate = t.reject_rate
        silver.max_reject_rate = t.max_reject_rate
    _inherit_freshness(docs, by_name)


def _inherit_freshness(docs: list[TableDoc], by_name: dict[str, TableDoc]) -> None:
    """A gold table is refreshed by every run that changes what it reads, so it is as fresh as
    the stalest silver table upstream of it, against the tightest of their objectives."""
    upstream: dict[str, set[str]] = {}

    def silver_of(name: str, trail: frozenset[str] = frozenset()) -> set[str]:
        if name not in upstream:
            found: set[str] = set()
            for read in by_name[name].reads if name in by_name else []:
                if read.startswith("silver."):
                    found.add(read)
                elif read.startswith("gold.") and read not in trail:
                    found |= silver_of(read, trail | {name})
            upstream[name] = found
        return upstream[name]

    for doc in docs:
        if doc.zone != "gold":
            continue
        sources = [by_name[s] for s in silver_of(doc.name) if s in by_name]
        timed = [s for s in sources if s.staleness_minutes is not None]
        if not timed:
            continue
        stalest = max(timed, key=lambda s: s.staleness_minutes or 0.0)
        doc.staleness_minutes = stalest.staleness_minutes
        doc.freshness_minutes = min(s.freshness_minutes or 0.0 for s in timed)
        doc.fresh = all(s.fresh for s in timed)
        doc.freshness_from = stalest.name
