"""Appending rows held as Arrow with delta-rs: every append of the local engine, and the Spark
engine's small ones (collected to its driver, `engines/spark/engine.py`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

import pyarrow as pa

from lakehouse.engines.adapter import Target
from lakehouse.faults import fault_point
from lakehouse.store.delta import open_table, writer_properties
from lakehouse.store.root import Root

RowsT = TypeVar("RowsT", pa.Table, pa.RecordBatch)


def as_schema(rows: RowsT, schema: pa.Schema) -> RowsT:
    """`rows` (a table or a batch) as `schema`: its columns, in order, cast to their types. A
    dictionary-encoded column of the field's type stays encoded (delta-rs writes its values)."""
    kept = rows.select(schema.names)
    fields = [
        f.with_type(t) if pa.types.is_dictionary(t) and t.value_type == f.type else f
        for f, t in zip(schema, kept.schema.types, strict=True)
    ]
    return kept.cast(pa.schema(fields, metadata=schema.metadata))


def append_arrow(
    root: Root,
    target: Target,
    rows: Callable[[], pa.Table | pa.RecordBatchReader],
    transactions: Mapping[str, str],
) -> int:
    """Commit `rows()` to `target` in one append, with the app `transactions`; the table's new
    version. `rows` is called once the lease is checked and past any pause point, so a stream
    is opened only to be written at once."""
    from deltalake import write_deltalake

    table = open_table(root, target.zone, target.name)
    properties = target.commit.properties(list(transactions))  # the lease is checked here
    if target.pause_point:
        fault_point(target.pause_point)
    write_deltalake(
        table,
        rows(),
        mode="append",
        commit_properties=properties,
        writer_properties=writer_properties(),
    )
    return int(table.version())
