"""How a table is doing: files, sizes, versions, last optimize / vacuum, Z-order columns."""

from __future__ import annotations

import json
from typing import Any

from lakehouse.maintenance.plan import file_layout
from lakehouse.maintenance.settings import MaintenanceSettings
from lakehouse.maintenance.vacuum import count_log_files
from lakehouse.store.delta import commit_time, lakehouse_metadata, open_table
from lakehouse.store.root import Root
from lakehouse.store.tables import split_name

OPTIMIZE = "OPTIMIZE"
VACUUM = ("VACUUM END", "VACUUM")  # delta-rs and Spark write VACUUM START/END


def table_health(
    root: Root, name: str, settings: MaintenanceSettings | None = None
) -> dict[str, Any]:
    """File count, average file size, versions, last optimize and vacuum, Z-order columns.

    Reads the Delta log only (no data file). `last_optimize` / `last_vacuum` are None when the
    retained history holds none; `zorder_by` comes from the last OPTIMIZE (Spark's
    `operationParameters.zOrderBy`, or the `lakehouse.zorder_by` commit metadata delta-rs
    commits carry).
    """
    settings = settings or MaintenanceSettings.load(root)
    zone, table = split_name(name)
    table_ = open_table(root, zone, table)
    layout = file_layout(table_, settings.target_file_size)
    files = sum(p.files for p in layout)
    size = sum(p.bytes for p in layout)
    history = table_.history()
    last_opt = next((h for h in history if h.get("operation") == OPTIMIZE), None)
    last_vac = next((h for h in history if h.get("operation") in VACUUM), None)
    return {
        "table": name,
        "files": files,
        "size_bytes": size,
        "avg_file_bytes": size // files if files else 0,
        "small_files": sum(p.small_files for p in layout),
        "partitions": len(layout),
        "partitions_needing_optimize": sum(
            1 for p in layout if p.small_files >= settings.min_small_files
        ),
        "version": int(table_.version()),
        "versions_retained": len(history),
        "log_files": count_log_files(root, root.path(zone, table)),
        "last_optimize": _event(last_opt),
        "last_vacuum": _newest_vacuum(root, name, last_vac),
        "zorder_by": zorder_of(last_opt) if last_opt else [],
    }


def zorder_of(commit: dict[str, Any]) -> list[str]:
    """Z-order columns of an OPTIMIZE commit written by either engine."""
    raw = lakehouse_metadata(commit).get("lakehouse.zorder_by") or (
        commit.get("operationParameters") or {}
    ).get("zOrderBy")
    if not raw:
        return []
    cols = json.loads(raw) if isinstance(raw, str) else raw
    return [str(c) for c in cols]


def _newest_vacuum(root: Root, name: str, commit: dict[str, Any] | None) -> dict[str, Any] | None:
    """The table's last vacuum: its newest VACUUM commit, or a newer vacuum `_ops.maintenance`
    recorded that deleted nothing (and so committed nothing to the table)."""
    from lakehouse.maintenance.records import last_vacuum

    found = _event(commit)
    logged = last_vacuum(root, name)
    if logged is None or (found is not None and found["timestamp"] >= logged["at"]):
        return found
    return {
        "version": None,
        "timestamp": logged["at"],
        "operation": "VACUUM (nothing to delete)",
        "run_id": logged["run_id"],
        "metrics": {},
    }


def _event(commit: dict[str, Any] | None) -> dict[str, Any] | None:
    if commit is None:
        return None
    return {
        "version": commit.get("version"),
        "timestamp": commit_time(commit),
        "operation": commit.get("operation"),
        "run_id": lakehouse_metadata(commit).get("lakehouse.run_id", ""),
        "metrics": commit.get("operationMetrics") or {},
    }
