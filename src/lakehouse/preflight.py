"""Checks made before a run writes anything: stored tables must accept their contracts."""

from __future__ import annotations

import pyarrow as pa

from lakehouse import zones
from lakehouse.contracts import Contract
from lakehouse.delta import columns_to_add, try_open
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
            if dt is not None:
                columns_to_add(
                    pa.schema(dt.schema()),
                    schema,
                    f"{zone}.{c.entity}",
                    allowed=c.evolution == "evolve",
                    contract=f"contract {c.entity} v{c.version}",
                )
