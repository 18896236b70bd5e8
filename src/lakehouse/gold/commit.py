"""Committing one gold write held as Arrow with delta-rs: the local engine's every gold write,
and the Spark engine's small ones (collected to the driver, `engines/spark/engine.py`)."""

from __future__ import annotations

import pyarrow as pa

from lakehouse.faults import fault_point
from lakehouse.gold.session import GoldWrite
from lakehouse.store.delta import CommitInfo, ensure_table, try_open
from lakehouse.store.root import Root


def commit_arrow(
    root: Root, w: GoldWrite[pa.Table], description: str, commit: CommitInfo
) -> tuple[int, int]:
    """Commit `w` (a whole table, or the rows replacing its predicate); (version, rows)."""
    from deltalake import write_deltalake

    current = try_open(root, "gold", w.model)
    created = current is None
    if current is None:
        # Created empty first (version 0, fenced: it carries this run's epoch and the lease is
        # checked after it), so that the write below goes on an opened snapshot: a delta-rs
        # write to a URI that finds version 0 taken meanwhile commits as version 1 instead of
        # failing, which would let a paused writer overwrite a new holder's table.
        current = ensure_table(
            root, "gold", w.model, w.table.schema, description=description, absent=True
        )
    properties = commit.properties()  # the lease is checked here
    fault_point(f"before_gold_write:{w.model}")
    if created or w.mode == "overwrite":
        write_deltalake(
            current,
            w.table,
            mode="overwrite",
            schema_mode="overwrite",
            name=f"gold.{w.model}",
            description=description,
            commit_properties=properties,
        )
    else:  # the table object follows its own write: no re-open needed
        write_deltalake(
            current,
            w.table.cast(pa.schema(current.schema())),
            mode="overwrite",
            predicate=w.predicate,
            commit_properties=properties,
        )
    return int(current.version()), w.table.num_rows
