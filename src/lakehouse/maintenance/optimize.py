"""Optimize on the local engine: execute a shared plan with delta-rs compact / z_order.

The rewrite is an ordinary Delta transaction (`dataChange = false`) carrying the run id and the
Z-order columns in its commit metadata. Files it replaces stay on storage until vacuum, so
readers holding an older snapshot finish their reads and time travel keeps working.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from deltalake import DeltaTable, WriterProperties
from deltalake.exceptions import CommitFailedError

from lakehouse.contracts import Contract
from lakehouse.errors import RetryableError
from lakehouse.maintenance.plan import (
    OptimizePlan,
    PartitionFiles,
    file_layout,
    plan_optimize,
    zorder_columns,
)
from lakehouse.maintenance.settings import MaintenanceSettings
from lakehouse.store.delta import CommitInfo, open_table, writer_properties
from lakehouse.store.root import Root
from lakehouse.store.tables import split_name

Filter = list[tuple[str, str, Any]]
# delta-rs optimize writes ZSTD by default, but UNCOMPRESSED as soon as WriterProperties are
# given without a codec: name it
COMPRESSION: Final = "ZSTD"


@dataclass
class OptimizeResult:
    table: str
    zorder_by: tuple[str, ...]
    partitions: list[str] = field(default_factory=list)  # labels of the partitions rewritten
    files_before: int = 0
    files_after: int = 0
    files_removed: int = 0
    files_added: int = 0
    bytes_before: int = 0
    bytes_after: int = 0
    versions: list[int] = field(default_factory=list)  # Delta versions committed
    seconds: float = 0.0

    @property
    def skipped(self) -> bool:
        return not self.versions


def plan_for(
    root: Root,
    name: str,
    *,
    settings: MaintenanceSettings,
    contract: Contract | None = None,
    zorder: Sequence[str] | None = None,
    everything: bool = False,
    dt: DeltaTable | None = None,
) -> OptimizePlan:
    """The shared plan for `zone.table`, read from its Delta log."""
    zone, table = split_name(name)
    dt = dt or open_table(root, zone, table)
    partition_by = list(dt.metadata().partition_columns)
    cols = zorder_columns(
        name,
        schema_names=[f.name for f in dt.schema().fields],
        partition_by=partition_by,
        contract=contract if zone == "silver" else None,
        requested=zorder,
    )
    return plan_optimize(
        name,
        file_layout(dt, settings.target_file_size),
        partition_by=partition_by,
        zorder_by=cols,
        settings=settings,
        everything=everything,
    )


def partition_filters(plan: OptimizePlan) -> list[Filter | None]:
    """delta-rs filters covering the plan's partitions: one `in` filter when the table has one
    partition column (one commit), else one conjunction per partition; None = whole table."""
    if not plan.partition_by:
        return [None]
    if len(plan.partition_by) == 1:
        col = plan.partition_by[0]
        return [[(col, "in", [_raw(p.values[0][1]) for p in plan.partitions])]]
    return [[(c, "=", _raw(v)) for c, v in p.values] for p in plan.partitions]


def _raw(value: str | None) -> str:
    return "" if value is None else value  # delta-rs matches the null partition with ''


def optimize_table(
    root: Root,
    name: str,
    *,
    run_id: str,
    settings: MaintenanceSettings,
    contract: Contract | None = None,
    zorder: Sequence[str] | None = None,
    everything: bool = False,
) -> OptimizeResult:
    """Compact (and Z-order) the partitions of `zone.table` that need it."""
    began = time.perf_counter()
    zone, table = split_name(name)
    dt = open_table(root, zone, table)
    plan = plan_for(
        root,
        name,
        settings=settings,
        contract=contract,
        zorder=zorder,
        everything=everything,
        dt=dt,
    )
    result = OptimizeResult(
        name,
        plan.zorder_by,
        files_before=plan.files_total,
        files_after=plan.files_total,
        bytes_before=plan.bytes_total,
        bytes_after=plan.bytes_total,
    )
    if not plan.needed:
        result.seconds = time.perf_counter() - began
        return result
    result.partitions = [p.label for p in plan.partitions]
    info = CommitInfo(
        run_id,
        "optimize",
        extra={
            "zorder_by": list(plan.zorder_by),
            "partitions": result.partitions,
            "target_size": plan.target_size,
        },
    )
    rows = settings.zorder_row_group_rows if plan.zorder_by else settings.row_group_rows
    writer = writer_properties(COMPRESSION, max_row_group_size=rows)
    for filters in partition_filters(plan):
        version = int(dt.version())
        metrics = _execute(dt, plan, filters, writer, info, name)
        result.files_removed += int(metrics.get("numFilesRemoved", 0))
        result.files_added += int(metrics.get("numFilesAdded", 0))
        if int(dt.version()) != version:  # nothing to rewrite commits nothing
            result.versions.append(int(dt.version()))
    after = file_layout(dt, settings.target_file_size)
    result.files_after = sum(p.files for p in after)
    result.bytes_after = sum(p.bytes for p in after)
    result.seconds = time.perf_counter() - began
    return result


def _execute(
    dt: DeltaTable,
    plan: OptimizePlan,
    filters: Filter | None,
    writer: WriterProperties,
    info: CommitInfo,
    name: str,
) -> dict[str, Any]:
    try:
        if plan.zorder_by:
            return dt.optimize.z_order(
                list(plan.zorder_by),
                partition_filters=filters,
                target_size=plan.target_size,
                writer_properties=writer,
                commit_properties=info.properties(),
            )
        return dt.optimize.compact(
            partition_filters=filters,
            target_size=plan.target_size,
            writer_properties=writer,
            commit_properties=info.properties(),
        )
    except CommitFailedError as exc:
        raise RetryableError(
            f"{name}: optimize conflicted with a concurrent commit ({exc}); nothing was "
            "changed — run `lakehouse optimize` again"
        ) from exc


def describe_partitions(parts: Sequence[PartitionFiles], limit: int = 3) -> str:
    labels = [p.label for p in parts]
    more = f" (+{len(labels) - limit} more)" if len(labels) > limit else ""
    return "; ".join(labels[:limit]) + more
