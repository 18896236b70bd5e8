"""What tables the lakehouse holds, and what each one is (rows, version, history, contract)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import pyarrow.fs as pafs
from deltalake.exceptions import DeltaError

from lakehouse.engines.dialect import quote
from lakehouse.errors import TableNotFound, TerminalError
from lakehouse.store.delta import commit_time, is_committed, lakehouse_metadata, open_table
from lakehouse.store.root import Root
from lakehouse.store.zones import ZONES


@dataclass(frozen=True)
class TableInfo:
    name: str  # zone.table
    rows: int
    version: int
    files: int
    size_bytes: int
    last_update: dt.datetime | None
    description: str


def split_name(name: str) -> tuple[str, str]:
    if "." not in name:
        raise TableNotFound(f"{name!r}: name tables as zone.table, e.g. silver.orders")
    zone, table = name.split(".", 1)
    if zone not in ZONES:
        raise TableNotFound(f"{name!r}: unknown zone {zone!r}; zones are {', '.join(ZONES)}")
    return zone, table


def sql_name(name: str) -> str:
    """`zone.table` as SQL names it (each part quoted): a folder's name is data, never SQL
    (a table folder named `orders; COPY ... TO 'x'` wrote a file when the dashboard read it)."""
    zone, table = split_name(name)
    return f"{quote(zone)}.{quote(table)}"


def list_tables(root: Root) -> list[str]:
    names = []
    for zone in ZONES:
        base = root.path(zone)
        if root.fs.get_file_info(base).type == pafs.FileType.NotFound:
            continue
        for fi in root.fs.get_file_info(pafs.FileSelector(base, recursive=False)):
            if fi.type != pafs.FileType.Directory:
                continue
            if is_committed(root, fi.path):  # not a folder a failed create left behind
                names.append(f"{zone}.{fi.base_name}")
    return sorted(names, key=lambda n: (ZONES.index(n.split(".")[0]), n))


def table_info(root: Root, name: str) -> TableInfo:
    zone, table = split_name(name)
    dt_ = open_table(root, zone, table)
    actions = dt_.get_add_actions(flatten=True)
    cols = actions.column_names if hasattr(actions, "column_names") else []
    rows = (
        sum(v or 0 for v in actions.column("num_records").to_pylist())
        if "num_records" in cols
        else 0
    )
    size = sum(actions.column("size_bytes").to_pylist()) if "size_bytes" in cols else 0
    hist = dt_.history(1)
    last = commit_time(hist[0]) if hist else None
    return TableInfo(
        name,
        int(rows),
        int(dt_.version()),
        actions.num_rows,
        int(size),
        last,
        dt_.metadata().description or "",
    )


def history(root: Root, name: str, limit: int | None = None) -> list[dict[str, Any]]:
    zone, table = split_name(name)
    out = []
    for commit in open_table(root, zone, table).history(limit):
        h = {**commit, **lakehouse_metadata(commit)}
        metrics = h.get("operationMetrics") or {}
        out.append(
            {
                "version": h.get("version"),
                "timestamp": commit_time(h),
                "operation": h.get("operation"),
                "run_id": h.get("lakehouse.run_id", ""),
                "step": h.get("lakehouse.operation", ""),
                "source_files": json.loads(h.get("lakehouse.source_files") or "[]"),
                "rows_added": _metric(
                    metrics,
                    "num_added_rows",
                    "num_target_rows_inserted",
                    "numOutputRows",
                    "numTargetRowsInserted",
                ),
                "rows_updated": _metric(metrics, "num_target_rows_updated", "numTargetRowsUpdated"),
                # a repair's overwrite names no removed rows in its metrics: it records them
                "rows_deleted": _metric(
                    {**metrics, "rows_removed": h.get("lakehouse.rows_removed")},
                    "num_target_rows_deleted",
                    "numTargetRowsDeleted",
                    "rows_removed",
                ),
            }
        )
    return out


def _metric(metrics: dict[str, Any], *names: str) -> int | None:
    """The first metric present: delta-rs and delta-spark name (and type) counts differently."""
    value = next((metrics[n] for n in names if metrics.get(n) is not None), None)
    return None if value is None else int(value)


#: zones whose tables `restore` refuses (gold has a message of its own), and why
NOT_RESTORED = {
    "bronze": "bronze holds every delivered file's rows once, by the file's hash, and the "
    "manifest says they were loaded: a restore would drop rows no later run puts back (a "
    "file sent again is already seen). Restore the silver table instead",
    "_ops": "the run log, manifest and metrics record what happened; a restore would rewrite "
    "that record. Read it as it was with `lakehouse sql --as-of`",
}


def restore(root: Root, name: str, version: int) -> int:
    from lakehouse.store.delta import CommitInfo

    zone, table = split_name(name)
    if zone == "gold":  # the runs after it added to the old rows, and never healed them
        raise TerminalError(
            f"{name} is derived from silver and refreshed from what silver changed: a restored "
            "gold table would stay behind silver. Read it as it was with `lakehouse sql "
            f"--as-of`, restore the silver table instead (the next run refreshes gold), or "
            f"delete gold/{table} to have the next run rebuild it"
        )
    if zone in NOT_RESTORED:
        raise TerminalError(f"{name} cannot be restored: {NOT_RESTORED[zone]}")
    dt_ = open_table(root, zone, table)
    if version < 0 or version > dt_.version():
        raise TableNotFound(f"{name} has versions 0..{dt_.version()}; cannot restore {version}")
    if version == dt_.version():  # delta-rs refused it, and the message blamed log retention
        raise TerminalError(f"{name} is at version {version} already: nothing to restore")
    try:
        dt_.restore(
            version,
            commit_properties=CommitInfo("manual", f"restore_to_{version}").properties(),
        )
    except DeltaError as exc:  # e.g. "No files in log segment": its log entries expired
        raise TableNotFound(
            f"{name} can no longer be restored to version {version}: {exc} (its commit files "
            "were removed after the log retention, `maintenance.log_retention_days`)"
        ) from exc
    return int(dt_.version())
