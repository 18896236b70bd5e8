"""The optimize policy, shared by every engine: which partitions to rewrite, by which columns.

Engines only execute a plan (`optimize.py` with delta-rs, `spark_sql.py` with Spark SQL). A
partition needs optimizing when it holds at least `min_small_files` files smaller than the
target size; a partition already compacted (one or a few files) is left alone, so running
optimize twice does nothing the second time.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable

from lakehouse.contracts import Contract
from lakehouse.errors import TerminalError
from lakehouse.maintenance.settings import MaintenanceSettings

PartitionKey = tuple[tuple[str, str | None], ...]  # ((column, raw value or None), ...)


@dataclass(frozen=True)
class PartitionFiles:
    """The live files of one partition (`values == ()` for an unpartitioned table)."""

    values: PartitionKey
    files: int
    small_files: int
    bytes: int

    @property
    def label(self) -> str:
        return ", ".join(f"{c}={v}" for c, v in self.values) or "(whole table)"


@dataclass(frozen=True)
class OptimizePlan:
    table: str  # zone.table
    partition_by: tuple[str, ...]
    zorder_by: tuple[str, ...]
    target_size: int
    partitions: tuple[PartitionFiles, ...]  # only those that need rewriting
    files_total: int
    bytes_total: int

    @property
    def needed(self) -> bool:
        return bool(self.partitions)

    @property
    def files_considered(self) -> int:
        return sum(p.files for p in self.partitions)


def file_layout(dt: DeltaTable, target_size: int) -> list[PartitionFiles]:
    """Live files per partition, from the Delta log (no data file is opened)."""
    actions = pa.table(dt.get_add_actions(flatten=True))
    partition_by = list(dt.metadata().partition_columns)
    if actions.num_rows == 0:
        return []
    sizes = actions.column("size_bytes").to_pylist()
    columns = [
        pc.cast(actions.column(f"partition.{c}"), pa.string()).to_pylist() for c in partition_by
    ]
    grouped: dict[PartitionKey, list[int]] = defaultdict(list)
    for i, size in enumerate(sizes):
        key = tuple((c, columns[j][i]) for j, c in enumerate(partition_by))
        grouped[key].append(int(size))
    return [
        PartitionFiles(key, len(s), sum(1 for x in s if x < target_size), sum(s))
        for key, s in sorted(grouped.items(), key=lambda kv: [v or "" for _, v in kv[0]])
    ]


def plan_optimize(
    table: str,
    layout: Sequence[PartitionFiles],
    *,
    partition_by: Sequence[str],
    zorder_by: Sequence[str],
    settings: MaintenanceSettings,
    everything: bool = False,
) -> OptimizePlan:
    """Pick the partitions that need it (all of them with `everything`, if they have files)."""
    chosen = [
        p for p in layout if (everything and p.files) or p.small_files >= settings.min_small_files
    ]
    return OptimizePlan(
        table=table,
        partition_by=tuple(partition_by),
        zorder_by=tuple(zorder_by),
        target_size=settings.target_file_size,
        partitions=tuple(chosen),
        files_total=sum(p.files for p in layout),
        bytes_total=sum(p.bytes for p in layout),
    )


def zorder_columns(
    table: str,
    *,
    schema_names: Sequence[str],
    partition_by: Sequence[str],
    contract: Contract | None,
    requested: Sequence[str] | None = None,
) -> tuple[str, ...]:
    """Columns to cluster by: `requested` if given, else the contract's `zorder` list.

    Z-ordering by a partition column is pointless (one value per partition) and refused.
    """
    source = "--zorder"
    cols: Any = requested
    if cols is None:
        source = f"contract {contract.entity} key 'zorder'" if contract else ""
        cols = contract.extra.get("zorder", []) if contract else []
    if isinstance(cols, str) or not all(isinstance(c, str) for c in cols):
        raise TerminalError(f"{table}: {source} must be a list of column names, got {cols!r}")
    for c in cols:
        if c not in schema_names:
            raise TerminalError(
                f"{table}: Z-order column {c!r} ({source}) is not a column of the table; "
                f"columns are {', '.join(schema_names)}"
            )
        if c in partition_by:
            raise TerminalError(
                f"{table}: Z-order column {c!r} ({source}) is a partition column; "
                "each partition holds one value of it, so choose other columns"
            )
    return tuple(cols)
