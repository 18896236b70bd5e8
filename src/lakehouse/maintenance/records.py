"""`_ops.maintenance`: one row per table each time it was optimized or vacuumed.

The policy reads it to know when a table was last maintained and at which version, without
scanning the table's history.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import write_deltalake

from lakehouse.store.delta import CommitInfo, ensure_table, read_arrow, try_open
from lakehouse.store.root import Root

ZONE, NAME = "_ops", "maintenance"
TABLE = f"{ZONE}.{NAME}"
TS = pa.timestamp("us", tz="UTC")
SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("table", pa.string()),  # zone.table
        ("action", pa.string()),  # maintain | optimize | vacuum
        ("reason", pa.string()),  # why it was due (policy) or 'manual'
        ("status", pa.string()),  # SUCCEEDED | FAILED
        ("error", pa.string()),
        ("at", TS),  # the run's `now`
        ("version_after", pa.int64()),  # table version once the maintenance committed
        ("partitions_optimized", pa.int64()),
        ("files_before", pa.int64()),
        ("files_after", pa.int64()),
        ("files_vacuumed", pa.int64()),
        ("bytes_vacuumed", pa.int64()),
        ("checkpoint_version", pa.int64()),
        ("seconds", pa.float64()),
    ]
)
DESCRIPTION = "Table maintenance log: optimize and vacuum per table, with results and errors."


@dataclass(frozen=True)
class LastMaintenance:
    at: dt.datetime
    version_after: int


def record(root: Root, rows: list[dict[str, object]], run_id: str) -> None:
    """Append maintenance rows (one commit)."""
    if not rows:
        return
    table = ensure_table(root, ZONE, NAME, SCHEMA, description=DESCRIPTION)
    data = pa.Table.from_pylist([{k: r.get(k) for k in SCHEMA.names} for r in rows], SCHEMA)
    write_deltalake(
        table,
        data,
        mode="append",
        commit_properties=CommitInfo(run_id, "maintenance_log").properties(),
    )


def last_maintenance(root: Root) -> dict[str, LastMaintenance]:
    """Newest successful maintenance per table."""
    table = try_open(root, ZONE, NAME)
    if table is None:
        return {}
    rows = read_arrow(table, ["table", "status", "at", "version_after"])
    rows = rows.filter(pc.equal(rows["status"], "SUCCEEDED"))
    out: dict[str, LastMaintenance] = {}
    for r in rows.to_pylist():
        prev = out.get(r["table"])
        if r["version_after"] is None:
            continue
        if prev is None or r["at"] >= prev.at:
            out[r["table"]] = LastMaintenance(r["at"], int(r["version_after"]))
    return out


def last_vacuum(root: Root, name: str) -> dict[str, object] | None:
    """The newest successful vacuum of table `name` this log holds (by `lakehouse vacuum` or a
    run's maintenance): `at` and `run_id`. A vacuum that found nothing to delete writes no
    VACUUM commit to the table, so its history alone said "never"."""
    table = try_open(root, ZONE, NAME)
    if table is None:
        return None
    rows = read_arrow(table, ["run_id", "table", "action", "status", "at", "checkpoint_version"])
    done = [
        r
        for r in rows.to_pylist()
        if r["table"] == name
        and r["status"] == "SUCCEEDED"
        and (r["action"] == "vacuum" or r["checkpoint_version"] is not None)
    ]
    newest = max(done, key=lambda r: r["at"], default=None)
    return None if newest is None else {"at": newest["at"], "run_id": newest["run_id"]}
