"""Operational tables under _ops: the files manifest and the run log."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from lakehouse.delta import CommitInfo, ensure_table, read_arrow, try_open
from lakehouse.storage import Root

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


@dataclass(frozen=True)
class KnownFile:
    sha256: str
    status: str
    reasons: list[str]
    detail: str


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
    t = read_arrow(dt_, ["sha256", "status", "reasons", "detail"])
    out: dict[str, KnownFile] = {}
    for r in t.to_pylist():
        if r["sha256"] not in out or r["status"] != "duplicate":
            out[r["sha256"]] = KnownFile(r["sha256"], r["status"], r["reasons"] or [], r["detail"])
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
