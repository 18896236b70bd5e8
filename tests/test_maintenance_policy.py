"""When maintenance is due, the maintenance run the pipeline calls, and log upkeep."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from deltalake import DeltaTable, write_deltalake

from conftest import table_opens
from lakehouse.config import loader
from lakehouse.contracts import contract_for
from lakehouse.errors import TerminalError
from lakehouse.maintenance import (
    MaintenanceSettings,
    maintenance_due,
    run_maintenance,
    vacuum_table,
)
from lakehouse.maintenance.records import last_maintenance
from lakehouse.maintenance.step import maintain
from lakehouse.store.delta import log_state
from lakehouse.store.query import run_sql
from lakehouse.store.root import Root
from test_maintenance import DATES, ZORDER, build_small_file_table, silver_items

TABLE = "silver.order_items"
SETTINGS = MaintenanceSettings(
    target_file_size=4 * 1024 * 1024, min_small_files=5, commits_between=20, interval_hours=24
)
H = dt.timedelta(hours=1)


def contracts_with_zorder(cols: list[str]) -> dict[str, Any]:
    c = contract_for("order_items")
    return {"order_items": dataclasses.replace(c, extra={**c.extra, "zorder": cols})}


def append(root: Root, n: int = 1) -> None:
    table = DeltaTable(root.table_uri("silver", "order_items"))
    for i in range(n):
        batch = silver_items(5, seed=500 + i, first_id=10**6 + i * 5 + table.version() * 100)
        write_deltalake(table, batch, mode="append")


def first_commit(root: Root) -> dt.datetime:
    history = DeltaTable(root.table_uri("silver", "order_items")).history()
    return dt.datetime.fromtimestamp(history[-1]["timestamp"] / 1000, dt.UTC)


@pytest.fixture
def root(tmp_path: Path) -> Root:
    r = Root(tmp_path / "lake")
    build_small_file_table(r, appends=10, days=2)  # versions 0..10; 2 partitions of 5 files
    return r


def test_due_after_a_day_or_after_n_commits(root: Root) -> None:
    t0 = first_commit(root)
    assert not maintenance_due(root, TABLE, t0 + H, SETTINGS)  # young, 11 commits < 20
    assert maintenance_due(root, TABLE, t0 + 25 * H, SETTINGS)  # never maintained, a day old
    assert not maintenance_due(root, "silver.orders", t0 + 99 * H, SETTINGS)  # no such table

    report = run_maintenance(
        root, [TABLE], t0 + 25 * H, settings=SETTINGS, contracts=contracts_with_zorder(list(ZORDER))
    )
    assert [t.table for t in report.maintained] == [TABLE] and report.ok
    assert not maintenance_due(root, TABLE, t0 + 26 * H, SETTINGS)
    assert not maintenance_due(root, TABLE, t0 + 99 * H, SETTINGS)  # nothing changed since

    append(root)
    assert not maintenance_due(root, TABLE, t0 + 26 * H, SETTINGS)  # 1 commit, 1 h
    assert maintenance_due(root, TABLE, t0 + 50 * H, SETTINGS)  # 1 commit, 25 h
    append(root, 19)
    assert maintenance_due(root, TABLE, t0 + 26 * H, SETTINGS)  # 20 commits


def test_whether_a_table_is_due_is_read_from_one_listing_of_its_log(
    root: Root, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every run asks it of every table: opening one reads each commit since its checkpoint (on
    S3 a request per commit), where its version and first commit's time need one listing."""
    t0 = first_commit(root)
    opened = table_opens(monkeypatch)
    assert not maintenance_due(root, TABLE, t0 + H, SETTINGS)  # 11 commits, an hour old
    assert maintenance_due(root, TABLE, t0 + 25 * H, SETTINGS)  # never maintained, a day old
    assert root.table_uri("silver", "order_items") not in opened


def test_run_maintenance_optimizes_vacuums_checkpoints_and_records(root: Root) -> None:
    now = first_commit(root) + 25 * H
    rows_before = DeltaTable(root.table_uri("silver", "order_items")).to_pyarrow_table()
    report = run_maintenance(
        root,
        None,  # every table
        now,
        settings=SETTINGS,
        run_id="pipeline-run-1",
        contracts=contracts_with_zorder(list(ZORDER)),
    )
    (t,) = report.maintained
    assert t.optimize is not None and t.vacuum is not None
    assert t.optimize.files_before == 10 and t.optimize.files_after == 2
    assert t.optimize.zorder_by == ZORDER
    assert t.vacuum.files_removed == 0  # the compacted files are younger than the retention
    table = DeltaTable(root.table_uri("silver", "order_items"))
    assert t.vacuum.checkpoint_version == table.version() == t.version_after
    assert table.to_pyarrow_table().sort_by("id").equals(rows_before.sort_by("id"))
    assert table.metadata().configuration["delta.checkpointInterval"] == "100"
    assert {h.get("lakehouse.run_id") for h in table.history(2)} == {"pipeline-run-1"}
    logged = run_sql(root, "SELECT * FROM _ops.maintenance").to_pylist()
    assert len(logged) == 1 and logged[0]["status"] == "SUCCEEDED"
    assert logged[0]["files_before"] == 10 and logged[0]["files_after"] == 2
    assert last_maintenance(root)[TABLE].version_after == table.version()


def test_a_failing_table_is_recorded_and_does_not_stop_the_others(root: Root) -> None:
    write_deltalake(root.table_uri("gold", "lines"), silver_items(10, seed=1), mode="append")
    now = first_commit(root) + 25 * H
    report = run_maintenance(
        root,
        [TABLE, "gold.lines"],
        now,
        settings=SETTINGS,
        contracts=contracts_with_zorder(["no_such_column"]),
    )
    assert [t.table for t in report.failed] == [TABLE]
    assert "no_such_column" in (report.failed[0].error or "")
    assert [t.table for t in report.maintained if t.error is None] == ["gold.lines"]
    with pytest.raises(TerminalError, match="no_such_column"):
        report.raise_for_errors()
    statuses = run_sql(root, 'SELECT "table", status FROM _ops.maintenance ORDER BY 1')
    assert statuses.to_pylist() == [
        {"table": "gold.lines", "status": "SUCCEEDED"},
        {"table": TABLE, "status": "FAILED"},
    ]
    assert maintenance_due(root, TABLE, now, SETTINGS)  # a failure does not count as done


def test_pipeline_step(root: Root) -> None:
    metrics: list[tuple[str, str]] = []
    state = SimpleNamespace(
        root=root,
        now=first_commit(root) + 25 * H,
        run_id="run-7",
        engine_name="local",
        contracts=contracts_with_zorder(list(ZORDER)),
        settings=SimpleNamespace(maintenance=SETTINGS),
        metric=lambda metric, subject, value, unit: metrics.append((metric, subject)),
    )
    out = maintain(state)  # type: ignore[arg-type]
    assert out == {"maintained": 1, "not_due": 0, "files_compacted": 10, "files_vacuumed": 0}
    assert ("maintenance_seconds", TABLE) in metrics
    assert not maintenance_due(root, TABLE, state.now, SETTINGS)
    assert maintain(state)["files_compacted"] == 0  # type: ignore[arg-type]


def test_pipeline_step_maintains_on_the_runs_engine(root: Root) -> None:
    state = SimpleNamespace(
        root=root,
        now=first_commit(root) + 25 * H,
        run_id="run-8",
        engine_name="flink",  # the run's engine chooses the executor
        contracts={},
        settings=SimpleNamespace(maintenance=SETTINGS),
        metric=lambda *a: None,
    )
    with pytest.raises(TerminalError, match="unknown engine 'flink' for maintenance"):
        maintain(state)  # type: ignore[arg-type]


def test_log_is_checkpointed_and_expired_commits_removed(tmp_path: Path) -> None:
    root = Root(tmp_path / "lake")
    uri = root.table_uri("silver", "order_items")
    write_deltalake(uri, silver_items(2, seed=0, day=0))
    table = DeltaTable(uri)  # one object: each commit is read once
    for i in range(1, 120):  # delta-rs checkpoints v99 on its own (interval 100)
        write_deltalake(table, silver_items(2, seed=i, first_id=1 + 2 * i, day=0), mode="append")
    log = Path(root.uri) / "silver" / "order_items" / "_delta_log"
    old = time.time() - 40 * 86_400  # pretend versions 0..99 were written 40 days ago
    for f in log.iterdir():
        if f.name[:20].isdigit() and int(f.name[:20]) <= 99:
            os.utime(f, (old, old))

    r = vacuum_table(root, TABLE, run_id="v", settings=SETTINGS)

    table = DeltaTable(uri)
    assert r.checkpoint_version == table.version() == 120  # 0..119 + SET TBLPROPERTIES
    assert (log / f"{120:020d}.checkpoint.parquet").exists()
    assert r.log_files_before == 122  # 120 commits, 1 checkpoint, _last_checkpoint
    assert r.log_files_after == 122 + 1 - 99 + 1  # +1 commit, 0..98 expired, +1 checkpoint
    assert table.to_pyarrow_table().num_rows == 240
    assert DeltaTable(uri, version=100).to_pyarrow_table().num_rows == 202  # kept: 30 days
    # what a listing of the log sees: the newest version, and when the oldest kept commit was
    log_now = log_state(root, root.path("silver", "order_items"))
    assert log_now is not None and log_now.version == 120
    assert abs(log_now.oldest_at.timestamp() - old) < 1  # 99.json, the oldest kept
    props = table.metadata().configuration
    assert props["delta.logRetentionDuration"] == "interval 30 days"
    assert props["delta.deletedFileRetentionDuration"] == "interval 168 hours"


def test_settings_from_environment_and_refusals() -> None:
    env = {
        "LAKEHOUSE__MAINTENANCE__RETENTION_HOURS": "240",
        "LAKEHOUSE__MAINTENANCE__INTERVAL_HOURS": "6.5",
    }
    s = loader.load(env=env).maintenance
    assert (s.retention_hours, s.interval_hours, s.commits_between) == (240, 6.5, 100)
    with pytest.raises(TerminalError, match="retention_hours must be a number"):
        loader.load(env={"LAKEHOUSE__MAINTENANCE__RETENTION_HOURS": "a week"})
    with pytest.raises(TerminalError, match=r"maintenance\.min_small_files = 0 is refused"):
        MaintenanceSettings(min_small_files=0)
    # the time-travel promise bounds the log's retention where the value is read, naming it
    with pytest.raises(
        TerminalError, match="log_retention_days = 3 is refused; must be between 7 and 3,650"
    ):
        MaintenanceSettings(log_retention_days=3)
    with pytest.raises(TerminalError) as err:
        loader.load(env={"LAKEHOUSE__MAINTENANCE__LOG_RETENTION_DAYS": "1"})
    assert str(err.value) == (
        "environment variable LAKEHOUSE__MAINTENANCE__LOG_RETENTION_DAYS: "
        "maintenance.log_retention_days = 1 is refused; must be between 7 and 3,650"
    )
    # a retention below the promise failed every run's maintenance step (after its data was
    # in), one of 10**14 hours panicked in delta-rs and left the run RUNNING: refused at load
    for hours, why in (("24", "24 is refused"), ("99999999999999", "99999999999999 is refused")):
        with pytest.raises(TerminalError) as err:
            loader.load(env={"LAKEHOUSE__MAINTENANCE__RETENTION_HOURS": hours})
        assert str(err.value) == (
            "environment variable LAKEHOUSE__MAINTENANCE__RETENTION_HOURS: "
            f"maintenance.retention_hours = {why}; must be between 168 and 87,600"
        )
    MaintenanceSettings().check_retention(24, force=True)  # forced: allowed
    assert DATES  # the shared test data spans several days
