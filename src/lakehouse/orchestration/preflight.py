"""Before a run writes rows: stored tables must accept their contracts, and every contract's
silver and quarantine tables exist."""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa
from deltalake import DeltaTable

from lakehouse.contracts import Contract
from lakehouse.errors import SchemaEvolutionError
from lakehouse.gold.model import all_models
from lakehouse.lineage import LineageGraph, cached_graph
from lakehouse.lineage.impact import impact_text, report_contract_change
from lakehouse.store import zones
from lakehouse.store.delta import CDF, columns_to_add, ensure_table, try_open
from lakehouse.store.root import Root


def check_tables(root: Root, contracts: dict[str, Contract]) -> dict[str, DeltaTable]:
    """Refuse a run whose contracts change a stored column's type, or add columns to a frozen one.

    Added optional columns are fine (the tables evolve when the run writes them). A new contract
    version that changes silver columns logs each change with the gold tables and columns
    downstream of it (`contract_change_impact`); a refused change names them in its error.
    Returns the silver tables it opened, by entity, for `create_entity_tables`.
    """
    graph: list[LineageGraph] = []
    silver: dict[str, DeltaTable] = {}

    def graph_of() -> LineageGraph:  # built only when a contract changed something
        if not graph:
            graph.append(cached_graph(contracts, all_models()))
        return graph[0]

    for c in contracts.values():
        for zone, schema in (
            ("silver", zones.silver_schema(c)),
            ("bronze", zones.bronze_schema(c)),
        ):
            dt = try_open(root, zone, c.entity)
            if dt is None:
                continue
            if zone == "silver":
                silver[c.entity] = dt
            impact = report_contract_change(dt, c, graph_of) if zone == "silver" else []
            try:
                columns_to_add(
                    pa.schema(dt.schema()),
                    schema,
                    f"{zone}.{c.entity}",
                    allowed=c.evolution == "evolve",
                    contract=f"contract {c.entity} v{c.version}",
                )
            except SchemaEvolutionError as exc:
                hits = [h for change, found in impact if change.change == "type" for h in found]
                if not hits:
                    raise
                raise SchemaEvolutionError(
                    f"{exc}; downstream of the changed column(s): {impact_text(hits)}"
                ) from exc
    return silver


def create_entity_tables(
    root: Root, contracts: dict[str, Contract], silver: Mapping[str, DeltaTable] | None = None
) -> None:
    """Create every contract's silver and quarantine table that does not exist yet, empty.

    So `SELECT count(*) FROM quarantine.orders` answers 0 after a clean first run instead of
    "does not exist". Metadata only (delta-rs), the same for both engines; the engines' own
    writes find the tables and evolve them as before. `silver`: the tables `check_tables` has
    just opened (an open reads every commit since the last checkpoint, on S3 a request each).
    """
    for c in contracts.values():
        ensure_table(
            root,
            "silver",
            c.entity,
            zones.silver_schema(c),
            partition_by=c.partition_by,
            description=zones.descriptions(c)["silver"],
            configuration=CDF,
            evolve=c.evolution == "evolve",
            opened=(silver or {}).get(c.entity),
        )
        ensure_table(
            root,
            "quarantine",
            c.entity,
            zones.quarantine_schema(c),
            description=zones.descriptions(c)["quarantine"],
            configuration=CDF,
        )
