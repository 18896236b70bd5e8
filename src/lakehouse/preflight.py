"""Checks made before a run writes anything: stored tables must accept their contracts."""

from __future__ import annotations

import pyarrow as pa

from lakehouse import zones
from lakehouse.contracts import Contract
from lakehouse.delta import try_open
from lakehouse.errors import SchemaEvolutionError
from lakehouse.storage import Root


def check_tables(root: Root, contracts: dict[str, Contract]) -> None:
    """Refuse a run whose contracts change a stored column's type, or add columns to a frozen one.

    Added optional columns are fine (the tables evolve when the run writes them).
    """
    for c in contracts.values():
        for zone, schema in (
            ("silver", zones.silver_schema(c)),
            ("bronze", zones.bronze_schema(c)),
        ):
            dt = try_open(root, zone, c.entity)
            if dt is None:
                continue
            stored = pa.schema(dt.schema())
            for f in schema:
                if f.name in stored.names and stored.field(f.name).type != f.type:
                    raise SchemaEvolutionError(
                        f"{zone}.{c.entity}: column {f.name!r} is {stored.field(f.name).type} in "
                        f"the table but {f.type} in contract {c.entity} v{c.version}; type "
                        "changes are refused — add a new column instead, or restore the contract"
                    )
            added = [f.name for f in schema if f.name not in stored.names]
            if added and c.evolution != "evolve":
                raise SchemaEvolutionError(
                    f"{zone}.{c.entity}: contract {c.entity} v{c.version} adds {added} but its "
                    "evolution policy is 'freeze'"
                )
