"""Impact of a contract change: which columns it changes, and what is built from each of them.

Used where a contract version is applied to the stored tables (`preflight.check_tables`, before a
run writes): the stored silver schema is compared with the contract's, and every changed column
is reported with the gold tables and columns downstream of it, so the people who own them hear
about it before the numbers move.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import pyarrow as pa

from lakehouse.contracts import Contract
from lakehouse.lineage.graph import Hit, LineageGraph
from lakehouse.log import event
from lakehouse.store import zones
from lakehouse.store.delta import same_type

if TYPE_CHECKING:
    from deltalake import DeltaTable

Change = Literal["added", "removed", "type", "description", "checks"]
#: the commit metadata key holding `Contract.column_specs()` of the contract a write applied
SPECS_KEY = "lakehouse.contract_columns"


@dataclass(frozen=True)
class ColumnChange:
    table: str  # silver.<entity>
    column: str
    change: Change
    before: str
    after: str

    def describe(self) -> str:
        was, now = self.before or "-", self.after or "-"
        return f"{self.table}.{self.column} {self.change}: {was} -> {now}"


def schema_changes(
    stored: pa.Schema, contract: Contract, recorded: dict[str, str] | None = None
) -> list[ColumnChange]:
    """How the contract's silver schema differs from the stored one, column by column, and
    (given the `column_specs` recorded by the last write) whose checks changed."""
    table = f"silver.{contract.entity}"
    specs = contract.column_specs()
    wanted = zones.silver_schema(contract)
    out: list[ColumnChange] = []
    for f in wanted:
        if f.name not in stored.names:
            out.append(ColumnChange(table, f.name, "added", "", str(f.type)))
            continue
        have = stored.field(f.name)
        if not same_type(have.type, f.type):
            out.append(ColumnChange(table, f.name, "type", str(have.type), str(f.type)))
        before, after = zones.comment(have), zones.comment(f)
        if before and before != after:
            out.append(ColumnChange(table, f.name, "description", before, after))
        was = (recorded or {}).get(f.name)
        if was is not None and f.name in specs and was != specs[f.name]:
            out.append(ColumnChange(table, f.name, "checks", was, specs[f.name]))
    for f in stored:
        if f.name not in wanted.names:
            out.append(ColumnChange(table, f.name, "removed", str(f.type), ""))
    return out


def gold_impact(graph: LineageGraph, change: ColumnChange) -> list[Hit]:
    """The gold columns downstream of a changed column (none for a column silver never had)."""
    if change.column not in graph.table(change.table).columns:
        return []
    hits = graph.downstream(change.table, change.column)
    return [h for h in hits if h.ref.table.startswith("gold.")]


def impact_text(hits: list[Hit]) -> str:
    """`gold.t.c (direct), ...`, or `nothing in gold`."""
    return ", ".join(f"{h.ref} ({h.kind})" for h in hits) or "nothing in gold"


def recorded_contract(dt: DeltaTable, look_back: int = 20) -> tuple[str | None, dict[str, str]]:
    """The contract (`orders@v1`) the newest of the table's last commits that names one applied
    (maintenance commits name none), with the column specs it recorded."""
    for commit in dt.history(look_back):
        meta = dict(commit)
        try:
            user = json.loads(commit.get("userMetadata") or "{}")  # delta-spark
        except (TypeError, ValueError):
            user = {}
        if isinstance(user, dict):
            meta.update(user)
        value = meta.get("lakehouse.contract")
        if isinstance(value, str) and value:
            try:
                specs = json.loads(meta.get(SPECS_KEY) or "{}")
            except (TypeError, ValueError):
                specs = {}
            return value, specs if isinstance(specs, dict) else {}
    return None, {}


def report_contract_change(
    dt: DeltaTable, contract: Contract, graph_of: Callable[[], LineageGraph]
) -> list[tuple[ColumnChange, list[Hit]]]:
    """Log, once per new contract version, each changed column with its gold impact.

    Silent once a run with this version has committed to silver (its commits record
    `entity@vN`), and when the new version changes no column."""
    applied = f"{contract.entity}@v{contract.version}"
    previous, specs = recorded_contract(dt)
    if previous == applied:
        return []
    changes = schema_changes(pa.schema(dt.schema()), contract, specs)
    if not changes:
        return []
    graph = graph_of()
    found = []
    for change in changes:
        hits = gold_impact(graph, change)
        found.append((change, hits))
        event(
            "contract_change_impact",
            logging.WARNING,
            contract=applied,
            previous=previous,
            column=f"{change.table}.{change.column}",
            change=change.change,
            before=change.before,
            after=change.after,
            downstream=[f"{h.ref} ({h.kind})" for h in hits],
        )
    return found
