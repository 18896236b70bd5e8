"""`lakehouse watch`: complete files only, batching, near-real-time runs, and nothing lost or
duplicated when the watcher is killed and restarted."""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from lakehouse import Lakehouse
from lakehouse.config.settings import Settings, WatchSettings
from lakehouse.orchestration.state import RunSummary
from lakehouse.orchestration.watch import Watcher, watch
from lakehouse.store.root import Root
from test_orchestration import small_delivery

FAST = Settings(
    watch=WatchSettings(poll_seconds=0.05, batch_window_seconds=0.2, idle_check_seconds=0),
    notifiers=(),
)


def drop(src: Path, landing: Path, name: str | None = None) -> None:
    """As a careful producer does: write under a hidden name, then rename."""
    landing.mkdir(parents=True, exist_ok=True)
    tmp = landing / f".{name or src.name}.part"
    shutil.copy(src, tmp)
    os.rename(tmp, landing / (name or src.name))


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def silver_count(root: Path, entity: str) -> int:
    from deltalake import DeltaTable

    try:
        dt = DeltaTable(str(root / "silver" / entity))
    except Exception:
        return 0
    return int(dt.to_pyarrow_dataset().count_rows())


def test_only_complete_and_visible_files_are_ready(tmp_path: Path) -> None:
    root = Root(tmp_path / "lake")
    landing = Path(root.path("landing"))
    (landing / "batch").mkdir(parents=True)
    w = Watcher(root, FAST)
    (landing / "orders_1.csv").write_text("order_id\n1\n")
    (landing / ".hidden.csv").write_text("x")
    (landing / "_sidecar.csv").write_text("x")
    (landing / "orders_2.csv.tmp").write_text("x")
    (landing / "orders_4.csv.tmp-4242").write_text("x")
    (landing / "orders_5.xlsx.PART").write_text("x")
    (landing / "batch" / "orders_3.csv").write_text("x")
    (landing / "batch" / "_incomplete").write_text("")
    assert w.scan() == ([], 1)  # seen once: not yet known to be complete; batch/ is held
    with (landing / "orders_1.csv").open("a") as f:
        f.write("2\n")  # still growing
    assert w.scan() == ([], 1)
    assert w.scan() == (["orders_1.csv"], 0)
    (landing / "batch" / "_incomplete").unlink()  # the producer finished the folder
    assert w.scan() == (["batch/orders_3.csv", "orders_1.csv"], 0)


def settling_watcher(tmp_path: Path) -> tuple[Watcher, Path]:
    """A watcher with `settle_seconds` 5, and where its landing/ file `orders_1.csv` goes."""
    root = Root(tmp_path / "lake")
    landing = Path(root.path("landing"))
    landing.mkdir(parents=True)
    settings = dataclasses.replace(FAST, watch=dataclasses.replace(FAST.watch, settle_seconds=5.0))
    return Watcher(root, settings), landing / "orders_1.csv"


def test_with_settle_seconds_a_file_pausing_between_writes_is_not_taken(tmp_path: Path) -> None:
    """A producer writing in place, pausing 0.7 s between rows, had its file taken after two
    equal looks (the rest of its rows then went to the archive). `settle_seconds` asks the
    file to be unmodified for that long too (operations.md)."""
    w, path = settling_watcher(tmp_path)
    path.write_text("order_id\n1\n")  # and the producer pauses
    written = path.stat().st_mtime_ns / 1e9
    assert w.scan(now=written + 0.5) == ([], 1)
    assert w.scan(now=written + 1.0) == ([], 1)  # equal looks, but modified 1 s ago
    assert w.scan(now=written + 5.1) == (["orders_1.csv"], 0)  # 5 s on, float-safe


def test_a_file_from_a_clock_ahead_settles_from_when_it_was_first_seen(tmp_path: Path) -> None:
    """A modification time ten minutes ahead of the watcher's clock (the producer's clock, or
    NFS's) kept the file settling, silently, until the watcher's clock passed it."""
    w, path = settling_watcher(tmp_path)
    path.write_text("order_id\n1\n")
    now = time.time()
    os.utime(path, (now + 600, now + 600))
    assert w.scan(now=now) == ([], 1)
    assert w.scan(now=now + 1.0) == ([], 1)
    assert w.scan(now=now + 5.1) == (["orders_1.csv"], 0)


def test_a_failing_run_is_said_as_a_warning_and_a_lock_that_fails_is_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A watcher whose every run failed (a broken contract file, a full disk) printed nothing
    at the default level; a lock that could not be written (a full disk) ended the watcher."""
    import logging

    from lakehouse.store.lock import RunLock

    root = Root(tmp_path / "lake")
    Path(root.path("landing")).mkdir(parents=True)
    w = Watcher(root, FAST)

    def full(self: RunLock) -> bool:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(RunLock, "try_acquire", full)
    logging.getLogger("lakehouse").addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.WARNING, logger="lakehouse"):
            assert w._run([], refresh_only=True) is None  # no exception: retried later
    finally:
        logging.getLogger("lakehouse").removeHandler(caplog.handler)
    levels = {r.levelno for r in caplog.records if r.getMessage() == "watch_run_failed"}
    assert levels == {logging.WARNING} and w._retry_at > time.monotonic()


def test_files_dropped_while_watching_reach_silver(tmp_path: Path) -> None:
    lh = Lakehouse(tmp_path / "lake")
    files = {f.name: f for f in small_delivery(tmp_path / "in")}
    stop = threading.Event()
    runs: list[RunSummary] = []
    t = threading.Thread(
        target=watch, args=(lh.root, FAST), kwargs={"stop": stop, "on_run": runs.append}
    )
    t.start()
    try:
        landing = tmp_path / "lake" / "landing"
        drop(files["products.csv"], landing)
        drop(files["orders_late.csv"], landing)
        drop(files["order_items_early.csv"], landing)
        wait_for(lambda: silver_count(tmp_path / "lake", "order_items") == 95, 60, "items")
    finally:
        stop.set()
        t.join(timeout=30)
    assert {r.status for r in runs} == {"SUCCEEDED"}
    assert sum(len(r.files_loaded) for r in runs) == 3
    assert sum(r.rows_quarantined for r in runs) == 0  # items never waited for their orders
    assert lh.sql("SELECT DISTINCT trigger FROM _ops.runs").to_pylist() == [{"trigger": "watch"}]


def watch_cli(root: Path, fault: str | None = None) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "LAKEHOUSE_FAULT"}
    env.update(
        LAKEHOUSE__WATCH__POLL_SECONDS="0.1",
        LAKEHOUSE__WATCH__BATCH_WINDOW_SECONDS="0.3",
        LAKEHOUSE__LOCK__STALE_SECONDS="5",
    )
    if fault:
        env["LAKEHOUSE_FAULT"] = fault
    return subprocess.Popen(
        [sys.executable, "-m", "lakehouse", "watch", "--root", str(root)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_watch_subprocess_killed_and_restarted_loses_and_duplicates_nothing(
    tmp_path: Path,
) -> None:
    root = tmp_path / "lake"
    landing = root / "landing"
    files = {f.name: f for f in small_delivery(tmp_path / "in")}
    gen = tmp_path / "more"
    gen.mkdir()
    for n in range(3):  # three more deliveries of orders, each its own ids
        header, *lines = files["orders_late.csv"].read_text().splitlines()
        rows = [header]
        for line in lines:
            cells = line.split(",")
            cells[1] = str(int(cells[1]) + 1000 * (n + 1))  # order_id
            rows.append(",".join(cells))
        (gen / f"orders_more_{n}.csv").write_text("\n".join(rows) + "\n")
    # 1) the first watcher is killed in the middle of its first run
    first = watch_cli(root, fault="after_silver:orders")
    try:
        drop(files["products.csv"], landing)
        drop(files["orders_late.csv"], landing)
        first.wait(timeout=60)
    finally:
        first.kill()
    assert first.returncode == -signal.SIGKILL
    # 2) a new watcher takes the lock over, finishes the work, and keeps watching
    second = watch_cli(root)
    try:
        wait_for(lambda: silver_count(root, "orders") == 20, 60, "first orders")
        drop(files["order_items_early.csv"], landing)
        for f in sorted(gen.iterdir()):
            drop(f, landing)
        wait_for(lambda: silver_count(root, "orders") == 80, 60, "more orders")
        wait_for(lambda: silver_count(root, "order_items") == 95, 60, "items")
        wait_for(lambda: not any(landing.rglob("*")), 30, "landing to empty")
    finally:
        second.send_signal(signal.SIGTERM)
        out, err = second.communicate(timeout=30)
    assert second.returncode == 0, err
    assert "run " in out
    lh = Lakehouse(root)
    files_rows = lh.sql("SELECT file, status FROM _ops.files").to_pylist()
    loaded = sorted(r["file"] for r in files_rows if r["status"] == "loaded")
    assert loaded == sorted([*files, *(f.name for f in gen.iterdir())])  # each exactly once
    assert lh.sql("SELECT count(*) AS n FROM silver.products").to_pylist() == [{"n": 1000}]
    assert lh.sql("SELECT count(DISTINCT order_id) AS n FROM silver.orders").to_pylist() == [
        {"n": 80}
    ]
    statuses = lh.sql("SELECT status, error FROM _ops.runs ORDER BY started_at").to_pylist()
    assert statuses[0]["status"] == "FAILED" and statuses[0]["error"].startswith("abandoned")
    assert {r["status"] for r in statuses[1:]} == {"SUCCEEDED"}


@pytest.mark.slow
def test_two_watchers_on_one_root_process_each_file_once(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    landing = root / "landing"
    files = small_delivery(tmp_path / "in")
    watchers = [watch_cli(root), watch_cli(root)]
    try:
        time.sleep(1.5)  # both up and looking
        for f in files:
            drop(f, landing)
        wait_for(lambda: silver_count(root, "order_items") == 95, 60, "items")
        wait_for(lambda: not any(landing.rglob("*")), 30, "landing to empty")
    finally:
        for w in watchers:
            w.send_signal(signal.SIGTERM)
        for w in watchers:
            w.communicate(timeout=30)
    lh = Lakehouse(root)
    rows = lh.sql("SELECT file, status FROM _ops.files").to_pylist()
    assert sorted(r["file"] for r in rows) == sorted(f.name for f in files)
    assert {r["status"] for r in rows} == {"loaded"}
