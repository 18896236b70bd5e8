"""Table maintenance: compaction, Z-ordering, vacuum and log upkeep, and when to run them.

Modules, one job each: settings (retention and thresholds), plan (the engine-neutral choice of
partitions and Z-order columns), optimize and vacuum (local execution with delta-rs), spark_sql
(the same plan as Delta SQL on a SparkSession), executor (which of the two runs it, by the
lakehouse's engine), policy (when a table is due, and the
maintenance run), step (the pipeline step), records (`_ops.maintenance`), actions (the CLI's
optimize / vacuum), health (what `lakehouse describe` shows).

Names are imported lazily, so `lakehouse.maintenance.settings` stays cheap to import.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lakehouse.maintenance.actions import optimize_tables, vacuum_tables
    from lakehouse.maintenance.health import table_health
    from lakehouse.maintenance.optimize import OptimizeResult, optimize_table, plan_for
    from lakehouse.maintenance.plan import OptimizePlan, PartitionFiles
    from lakehouse.maintenance.policy import (
        MaintenanceReport,
        TableMaintenance,
        due_reason,
        maintenance_due,
        run_maintenance,
    )
    from lakehouse.maintenance.settings import (
        TIME_TRAVEL_PROMISE_HOURS,
        MaintenanceSettings,
        RetentionRefused,
    )
    from lakehouse.maintenance.vacuum import VacuumResult, vacuum_table

_WHERE = {
    "optimize_tables": "actions",
    "vacuum_tables": "actions",
    "table_health": "health",
    "OptimizeResult": "optimize",
    "optimize_table": "optimize",
    "plan_for": "optimize",
    "OptimizePlan": "plan",
    "PartitionFiles": "plan",
    "MaintenanceReport": "policy",
    "TableMaintenance": "policy",
    "due_reason": "policy",
    "maintenance_due": "policy",
    "run_maintenance": "policy",
    "TIME_TRAVEL_PROMISE_HOURS": "settings",
    "MaintenanceSettings": "settings",
    "RetentionRefused": "settings",
    "VacuumResult": "vacuum",
    "vacuum_table": "vacuum",
}
__all__ = [
    "TIME_TRAVEL_PROMISE_HOURS",
    "MaintenanceReport",
    "MaintenanceSettings",
    "OptimizePlan",
    "OptimizeResult",
    "PartitionFiles",
    "RetentionRefused",
    "TableMaintenance",
    "VacuumResult",
    "due_reason",
    "maintenance_due",
    "optimize_table",
    "optimize_tables",
    "plan_for",
    "run_maintenance",
    "table_health",
    "vacuum_table",
    "vacuum_tables",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_WHERE[name]}"), name)
