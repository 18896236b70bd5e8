"""Which engine executes maintenance: the one place that chooses, by the lakehouse's engine.

`executor_for("local" | "spark" | engine, root)` gives an executor whose `optimize` / `vacuum`
run the shared plan (`plan.py`) and the shared retention rule (`settings.check_retention`) on
that engine — delta-rs locally, Delta SQL through a SparkSession on Spark — and return the same
`OptimizeResult` / `VacuumResult`, so `_ops.maintenance` rows and the CLI look the same.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from lakehouse.contracts import Contract
from lakehouse.errors import TerminalError
from lakehouse.maintenance.optimize import OptimizeResult, optimize_table
from lakehouse.maintenance.plan import file_layout
from lakehouse.maintenance.settings import MaintenanceSettings
from lakehouse.maintenance.vacuum import (
    VacuumResult,
    checkpoint_log,
    count_log_files,
    file_sizes,
    log_properties_to_set,
    vacuum_table,
)
from lakehouse.store.delta import lakehouse_metadata, open_table
from lakehouse.store.root import Root
from lakehouse.store.tables import split_name


class Executor(Protocol):
    name: str

    def optimize(
        self,
        root: Root,
        name: str,
        *,
        run_id: str,
        settings: MaintenanceSettings,
        contract: Contract | None = None,
        zorder: Sequence[str] | None = None,
        everything: bool = False,
    ) -> OptimizeResult: ...

    def vacuum(
        self,
        root: Root,
        name: str,
        *,
        run_id: str,
        settings: MaintenanceSettings,
        retention_hours: int | None = None,
        force: bool = False,
        dry_run: bool = False,
        full: bool = False,
    ) -> VacuumResult: ...


class LocalExecutor:
    """delta-rs compact / z_order and vacuum (`optimize.py`, `vacuum.py`)."""

    name = "local"

    def optimize(self, root: Root, name: str, **kw: Any) -> OptimizeResult:
        return optimize_table(root, name, **kw)

    def vacuum(self, root: Root, name: str, **kw: Any) -> VacuumResult:
        return vacuum_table(root, name, **kw)


@dataclass
class SparkExecutor:
    """`OPTIMIZE ... ZORDER BY` and `VACUUM ... RETAIN n HOURS` through a SparkSession
    (`spark_sql.py`); results read back from Spark's metrics rows and the Delta log."""

    spark: Any
    name: str = "spark"

    def optimize(
        self,
        root: Root,
        name: str,
        *,
        run_id: str,
        settings: MaintenanceSettings,
        contract: Contract | None = None,
        zorder: Sequence[str] | None = None,
        everything: bool = False,
    ) -> OptimizeResult:
        from lakehouse.engines.spark.frames import conflicts_retryable
        from lakehouse.maintenance.spark_sql import optimize_with_spark

        began = time.perf_counter()
        zone, table = split_name(name)
        first = int(open_table(root, zone, table).version())
        with conflicts_retryable(name):
            done = optimize_with_spark(
                self.spark,
                root,
                name,
                run_id=run_id,
                settings=settings,
                contract=contract,
                zorder=zorder,
                everything=everything,
            )
        plan = done.plan
        assert plan is not None
        result = OptimizeResult(
            name,
            plan.zorder_by,
            files_before=plan.files_total,
            files_after=plan.files_total,
            bytes_before=plan.bytes_total,
            bytes_after=plan.bytes_total,
        )
        if plan.needed:
            result.partitions = [p.label for p in plan.partitions]
            for row in done.rows:
                metrics = row.get("metrics") or {}
                result.files_removed += int(metrics.get("numFilesRemoved") or 0)
                result.files_added += int(metrics.get("numFilesAdded") or 0)
            dt = open_table(root, zone, table)
            result.versions = _committed(dt.history(), first, run_id, ("OPTIMIZE",))
            after = file_layout(dt, settings.target_file_size)
            result.files_after = sum(p.files for p in after)
            result.bytes_after = sum(p.bytes for p in after)
        result.seconds = time.perf_counter() - began
        return result

    def vacuum(
        self,
        root: Root,
        name: str,
        *,
        run_id: str,
        settings: MaintenanceSettings,
        retention_hours: int | None = None,
        force: bool = False,
        dry_run: bool = False,
        full: bool = False,
    ) -> VacuumResult:
        """As `vacuum_table`; Spark's VACUUM always lists the table's files (as `full`)."""
        from lakehouse.engines.spark.frames import conflicts_retryable
        from lakehouse.maintenance.spark_sql import vacuum_with_spark

        began = time.perf_counter()
        hours = settings.retention_hours if retention_hours is None else retention_hours
        settings.check_retention(hours, force=force)
        zone, table = split_name(name)
        dt = open_table(root, zone, table)
        first = int(dt.version())
        base, location = root.path(zone, table), root.table_uri(zone, table)
        sizes = file_sizes(root, base)
        result = VacuumResult(name, hours, dry_run)
        run: dict[str, Any] = {
            "run_id": run_id,
            "settings": settings,
            "retention_hours": hours,
            "force": force,
        }
        with conflicts_retryable(name):
            seen = vacuum_with_spark(self.spark, location, dry_run=True, **run)
            doomed = [_relative(str(r.get("path", "")), location) for r in seen.rows]
            result.files_removed = len(doomed)
            result.bytes_removed = sum(sizes.get(p, 0) for p in doomed)
            if dry_run:
                result.seconds = time.perf_counter() - began
                return result
            result.log_files_before = count_log_files(root, base)
            changed = log_properties_to_set(dt, settings)
            if doomed or changed:
                vacuum_with_spark(self.spark, location, properties=changed, **run)
        result.properties_set = changed
        dt = open_table(root, zone, table)
        if doomed:
            ends = [h for h in dt.history() if h.get("version", -1) > first]
            end = next((h for h in ends if h.get("operation") == "VACUUM END"), None)
            deleted = ((end or {}).get("operationMetrics") or {}).get("numDeletedFiles")
            if deleted is not None:
                result.files_removed = int(deleted)
        checkpoint_log(dt, result)
        result.log_files_after = count_log_files(root, base)
        result.versions = tuple(range(first + 1, int(dt.version()) + 1))
        result.seconds = time.perf_counter() - began
        return result


def _committed(
    history: list[dict[str, Any]], after: int, run_id: str, ops: Sequence[str]
) -> list[int]:
    """Versions above `after` that this run committed with one of `ops`, oldest first."""
    return sorted(
        int(h["version"])
        for h in history
        if int(h.get("version", -1)) > after
        and h.get("operation") in ops
        and lakehouse_metadata(h).get("lakehouse.run_id") == run_id
    )


def _relative(path: str, location: str) -> str:
    """A file path Spark returned, relative to the table folder (as delta-rs gives them)."""
    folder = location.split("://", 1)[-1].rstrip("/") + "/"
    return path.split(folder, 1)[-1]


def _spark(root: Root) -> Executor:
    from lakehouse.engines.spark.session import new_session

    return SparkExecutor(new_session(object_store=not root.is_local))


EXECUTORS: dict[str, Callable[[Root], Executor]] = {
    "local": lambda root: LocalExecutor(),
    "spark": _spark,
}


def executor_for(engine: str | Any | None, root: Root) -> Executor:
    """The executor for an engine name (None: local), or for an engine object (a Spark engine's
    own session is reused)."""
    spark = getattr(getattr(engine, "adapter", None), "spark", None)
    if spark is not None:
        return SparkExecutor(spark)
    if engine is not None and not isinstance(engine, str):
        engine = engine.capabilities.name
    make = EXECUTORS.get(engine or "local")
    if make is None:
        raise TerminalError(
            f"unknown engine {engine!r} for maintenance; choose one of {', '.join(EXECUTORS)}"
        )
    return make(root)
