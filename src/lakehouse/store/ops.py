"""Operational tables under _ops: the files manifest, the run log, metrics and alerts."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from lakehouse.engines.dialect import literal
from lakehouse.store.delta import CommitInfo, ensure_table, read_arrow, try_open
from lakehouse.store.root import Root

TS = pa.timestamp("us", tz="UTC")
FILES_SCHEMA = pa.schema(
    [
        ("sha256", pa.string()),
        ("file", pa.string()),
        ("entity", pa.string()),
        ("format", pa.string()),
        ("size_bytes", pa.int64()),
        ("rows", pa.int64()),
        ("status", pa.string()),  # loaded | rejected | duplicate
        ("reasons", pa.list_(pa.string())),
        ("detail", pa.string()),
        ("run_id", pa.string()),
        ("processed_at", TS),
        ("moved_to", pa.string()),
    ]
)
RUNS_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("trigger", pa.string()),
        ("engine", pa.string()),
        ("status", pa.string()),  # RUNNING | SUCCEEDED | FAILED
        ("started_at", TS),
        ("ended_at", TS),
        ("duration_s", pa.float64()),
        ("error", pa.string()),
        ("files", pa.list_(pa.string())),
        ("rows_in", pa.int64()),
        ("rows_valid", pa.int64()),
        ("rows_quarantined", pa.int64()),
        ("details", pa.string()),  # JSON: per-entity counts, reasons, versions written
    ]
)
METRICS_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("measured_at", TS),  # the run's clock (its start) or the check's time
        ("metric", pa.string()),  # step_seconds, rows_in, reject_rate, freshness_lag_s, ...
        ("subject", pa.string()),  # step name, entity, table or 'pipeline'
        ("value", pa.float64()),
        ("unit", pa.string()),  # s | rows | ratio | bytes | files
    ]
)
ALERTS_SCHEMA = pa.schema(
    [
        ("alert_id", pa.string()),  # <rule>:<subject>:<opened run or time>
        ("rule", pa.string()),  # freshness | reject_rate | run_duration | run_failed
        ("subject", pa.string()),
        ("severity", pa.string()),  # warning | critical
        ("status", pa.string()),  # open | resolved
        ("message", pa.string()),
        ("value", pa.float64()),
        ("threshold", pa.float64()),
        ("opened_at", TS),
        ("last_seen_at", TS),
        ("resolved_at", TS),
        ("occurrences", pa.int64()),
        ("notified_at", TS),
        ("run_id", pa.string()),  # run (or check) that last evaluated it
    ]
)


@dataclass(frozen=True)
class KnownFile:
    sha256: str
    status: str
    reasons: list[str]
    detail: str
    file: str = ""  # the landing name of the record kept (a loaded one first)
    moved_to: str = ""  # where that run moved (or was to move) the file


@dataclass
class FileRecord:
    sha256: str
    file: str
    entity: str | None
    format: str | None
    size_bytes: int
    rows: int
    status: str
    reasons: list[str] = field(default_factory=list)
    detail: str = ""
    moved_to: str = ""


def known_files(root: Root) -> dict[str, KnownFile]:
    dt_ = try_open(root, "_ops", "files")
    if dt_ is None:
        return {}
    t = read_arrow(dt_, ["sha256", "status", "reasons", "detail", "file", "moved_to"])
    out: dict[str, KnownFile] = {}
    rank = {"loaded": 2, "rejected": 1}  # bytes loaded once are loaded, whatever came after
    for r in t.to_pylist():
        had = out.get(r["sha256"])
        if had is None or rank.get(r["status"], 0) > rank.get(had.status, 0):
            reasons = r["reasons"] or []
            out[r["sha256"]] = KnownFile(
                r["sha256"], r["status"], reasons, r["detail"], r["file"], r["moved_to"] or ""
            )
    return out


def record_files(root: Root, records: list[FileRecord], run_id: str, now: dt.datetime) -> None:
    from deltalake import write_deltalake

    if not records:
        return
    rows = [{**r.__dict__, "run_id": run_id, "processed_at": now} for r in records]
    table = pa.Table.from_pylist(rows, schema=FILES_SCHEMA)
    dt_ = ensure_table(root, "_ops", "files", FILES_SCHEMA, description="Files manifest.")
    write_deltalake(
        dt_, table, mode="append", commit_properties=CommitInfo(run_id, "manifest").properties()
    )


def record_run(root: Root, row: dict[str, Any]) -> None:
    """Insert or update the run's row (one row per run id)."""
    row = {**row, "details": json.dumps(row.get("details") or {}, default=str)}
    table = pa.Table.from_pylist([row], schema=RUNS_SCHEMA)
    dt_ = ensure_table(root, "_ops", "runs", RUNS_SCHEMA, description="Pipeline runs.")
    (
        dt_.merge(
            table,
            predicate="t.run_id = s.run_id",
            source_alias="s",
            target_alias="t",
            commit_properties=CommitInfo(row["run_id"], "run_log").properties(),
        )
        .when_matched_update_all()
        .when_not_matched_insert_all()
        .execute()
    )


def mark_abandoned(root: Root, reason: str, now: dt.datetime) -> list[str]:
    """Mark every RUNNING run FAILED (call while holding the root's lock: none can be live)."""
    dt_ = try_open(root, "_ops", "runs")
    if dt_ is None:
        return []
    t = read_arrow(dt_, ["run_id", "status"])
    ids = [r["run_id"] for r in t.to_pylist() if r["status"] == "RUNNING"]
    if not ids:
        return []
    dt_.update(
        predicate="status = 'RUNNING'",
        updates={
            "status": "'FAILED'",
            "error": literal(reason),
            "ended_at": f"CAST('{now.isoformat()}' AS TIMESTAMP)",
        },
        commit_properties=CommitInfo("lock", "abandoned_runs").properties(),
    )
    return ids


def recent_runs(root: Root, limit: int = 10) -> list[dict[str, Any]]:
    dt_ = try_open(root, "_ops", "runs")
    if dt_ is None:
        return []
    rows: list[dict[str, Any]] = read_arrow(dt_).to_pylist()
    rows.sort(key=lambda r: r["started_at"], reverse=True)
    return rows[:limit]


def last_loaded(root: Root) -> dict[str, dt.datetime]:
    """Per entity: when a run last loaded a file of it (the run's clock)."""
    dt_ = try_open(root, "_ops", "files")
    if dt_ is None:
        return {}
    out: dict[str, dt.datetime] = {}
    for r in read_arrow(dt_, ["entity", "status", "processed_at"]).to_pylist():
        e = r["entity"]
        if r["status"] == "loaded" and e and (e not in out or r["processed_at"] > out[e]):
            out[e] = r["processed_at"]
    return out


def first_run_at(root: Root) -> dt.datetime | None:
    dt_ = try_open(root, "_ops", "runs")
    if dt_ is None:
        return None
    starts = [v for v in read_arrow(dt_, ["started_at"])["started_at"].to_pylist() if v]
    return min(starts) if starts else None


def record_metrics(root: Root, rows: list[dict[str, Any]], run_id: str) -> None:
    from deltalake import write_deltalake

    if not rows:
        return
    table = pa.Table.from_pylist(rows, schema=METRICS_SCHEMA)
    dt_ = ensure_table(root, "_ops", "metrics", METRICS_SCHEMA, description="Run metrics.")
    write_deltalake(
        dt_, table, mode="append", commit_properties=CommitInfo(run_id, "metrics").properties()
    )


def read_metrics(root: Root) -> pa.Table:
    dt_ = try_open(root, "_ops", "metrics")
    return METRICS_SCHEMA.empty_table() if dt_ is None else read_arrow(dt_)


def read_alerts(root: Root, *, open_only: bool = False) -> list[dict[str, Any]]:
    dt_ = try_open(root, "_ops", "alerts")
    if dt_ is None:
        return []
    rows = read_arrow(dt_).to_pylist()
    return [r for r in rows if r["status"] == "open"] if open_only else rows


def upsert_alerts(root: Root, rows: list[dict[str, Any]], run_id: str) -> None:
    """Insert new alerts and update changed ones (one row per alert id), in one commit. The
    table is created on first use even without alerts, so it can always be queried."""
    dt_ = ensure_table(root, "_ops", "alerts", ALERTS_SCHEMA, description="SLA and run alerts.")
    if not rows:
        return
    table = pa.Table.from_pylist(rows, schema=ALERTS_SCHEMA)
    (
        dt_.merge(
            table,
            predicate="t.alert_id = s.alert_id",
            source_alias="s",
            target_alias="t",
            commit_properties=CommitInfo(run_id, "alerts").properties(),
        )
        .when_matched_update_all()
        .when_not_matched_insert_all()
        .execute()
    )
