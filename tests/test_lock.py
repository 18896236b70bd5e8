"""Runs are serialised per root: one lock holder, stale locks taken over, killed runs marked
FAILED, and two concurrent `lakehouse run` processes never process a file twice."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from lakehouse import Lakehouse
from lakehouse.store.fencing import LockLost
from lakehouse.store.lock import LockBusy, RunLock
from lakehouse.store.root import Root
from test_orchestration import small_delivery

DIRTY = Path(__file__).parent / "scenarios" / "dirty_lab" / "input" / "run1"


def lock_file(root: Root) -> Path:
    return Path(root.path("_ops", "lock"))


def write_foreign_lock(root: Root, *, pid: int, host: str, age: float = 0.0) -> None:
    p = lock_file(root)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps({"token": "old", "pid": pid, "host": host, "run_id": "r0"}))
    if age:
        t = time.time() - age
        os.utime(p, (t, t))


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_one_holder_at_a_time(tmp_path: Path) -> None:
    root = Root(tmp_path / "lake")
    a, b = RunLock(root), RunLock(root)
    assert a.try_acquire()
    assert not b.try_acquire()
    with pytest.raises(LockBusy, match=f"pid {os.getpid()}"):
        b.acquire(wait_seconds=0.2)
    a.release()
    assert not lock_file(root).exists()
    assert b.try_acquire()
    b.release()


def test_a_dead_processes_lock_is_taken_over(tmp_path: Path) -> None:
    root = Root(tmp_path / "lake")
    pid = dead_pid()
    write_foreign_lock(root, pid=pid, host=socket.gethostname())
    lock = RunLock(root, stale_seconds=3600)
    assert lock.try_acquire()
    assert lock.took_over is not None and lock.took_over.pid == pid
    assert json.loads(lock_file(root).read_text())["token"] == lock.token
    lock.release()


def test_another_hosts_lock_is_stale_only_when_its_heartbeat_stops(tmp_path: Path) -> None:
    root = Root(tmp_path / "lake")
    write_foreign_lock(root, pid=1, host="elsewhere", age=5)
    assert not RunLock(root, stale_seconds=60).try_acquire()
    write_foreign_lock(root, pid=1, host="elsewhere", age=120)
    lock = RunLock(root, stale_seconds=60)
    assert lock.try_acquire() and lock.took_over is not None
    lock.release()


def test_heartbeat_keeps_a_live_lock_and_a_stolen_lock_is_noticed(tmp_path: Path) -> None:
    root = Root(tmp_path / "lake")
    holder = RunLock(root, stale_seconds=0.6, heartbeat_seconds=0.1)
    assert holder.try_acquire()
    time.sleep(1.0)  # longer than stale_seconds: only the heartbeat keeps it fresh
    assert not RunLock(root, stale_seconds=0.6).try_acquire()
    holder.check()
    lock_file(root).write_text(json.dumps({"token": "thief", "pid": 1, "host": "x"}))
    deadline = time.monotonic() + 5
    while not holder.lost.is_set() and time.monotonic() < deadline:
        time.sleep(0.05)
    with pytest.raises(LockLost):
        holder.check()
    holder.release()
    assert json.loads(lock_file(root).read_text())["token"] == "thief"  # not ours to delete


def test_racing_takers_of_a_stale_lock_end_with_one_holder(tmp_path: Path) -> None:
    root = Root(tmp_path / "lake")
    pid = dead_pid()
    for _ in range(30):
        write_foreign_lock(root, pid=pid, host=socket.gethostname())
        locks = [RunLock(root, heartbeat_seconds=60) for _ in range(8)]
        start = threading.Barrier(len(locks))
        won: list[RunLock] = []

        def take(lock: RunLock, start: threading.Barrier = start, won: list[RunLock] = won) -> None:
            start.wait()
            if lock.try_acquire():
                won.append(lock)

        threads = [threading.Thread(target=take, args=(lk,)) for lk in locks]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(won) == 1
        assert json.loads(lock_file(root).read_text())["token"] == won[0].token
        won[0].release()


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "lakehouse", *args],
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_a_killed_run_is_marked_failed_by_the_next_run(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    killed = cli("run", "--root", str(root), "--source", str(DIRTY), env={
        "LAKEHOUSE_FAULT": "after_silver:order_items"
    })  # fmt: skip
    killed.communicate(timeout=120)
    assert killed.returncode == -signal.SIGKILL
    lock = json.loads((root / "_ops" / "lock").read_text())
    assert lock["pid"] == killed.pid
    lh = Lakehouse(root)
    assert lh.run().status == "SUCCEEDED"
    rows = lh.sql("SELECT status, error FROM _ops.runs ORDER BY started_at").to_pylist()
    assert [r["status"] for r in rows] == ["FAILED", "SUCCEEDED"]
    assert rows[0]["error"].startswith(f"abandoned: pid {killed.pid} on {socket.gethostname()}")
    assert not (root / "_ops" / "lock").exists()


@pytest.mark.slow
def test_two_concurrent_runs_never_process_a_file_twice(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    landing = root / "landing"
    landing.mkdir(parents=True)
    for f in small_delivery(tmp_path / "in"):
        shutil.copy(f, landing / f.name)
    for f in DIRTY.iterdir():
        if f.name != "products.csv":  # the same catalogue as small_delivery's
            shutil.copy(f, landing / f"dirty_{f.name}")
    procs = [cli("run", "--root", str(root), "--no-summary") for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=180)
        assert p.returncode == 0, err
    lh = Lakehouse(root)
    files = lh.sql("SELECT file, status, run_id FROM _ops.files").to_pylist()
    names = sorted(f["file"] for f in files)
    moved = [*(root / "archive").rglob("*"), *(root / "quarantine" / "files").rglob("*")]
    assert names == sorted(p.name for p in moved if p.is_file() and p.suffix != ".json")
    assert len(names) == len(set(names)) == 8
    assert {f["status"] for f in files} == {"loaded", "rejected"}
    runs = lh.sql("SELECT run_id, status, files FROM _ops.runs").to_pylist()
    assert [r["status"] for r in runs] == ["SUCCEEDED", "SUCCEEDED"]
    assert sorted(len(r["files"]) for r in runs) == [0, 5]  # the second found landing empty
    assert list(landing.rglob("*")) == []


@pytest.mark.aws
def test_s3_lock_uses_conditional_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    import boto3
    from moto import mock_aws

    with mock_aws():
        boto3.client("s3").create_bucket(Bucket="lake")
        root = Root("s3://lake/prod")
        a, b = RunLock(root, heartbeat_seconds=0.1), RunLock(root)
        assert a.try_acquire()
        assert not b.try_acquire()
        time.sleep(0.3)  # a few heartbeats: conditional re-writes keep it ours
        a.check()
        a.release()
        assert b.try_acquire()
        b.release()
        s3 = boto3.client("s3")
        body = {"token": "gone", "pid": dead_pid(), "host": socket.gethostname()}
        s3.put_object(Bucket="lake", Key="prod/_ops/lock", Body=json.dumps(body).encode())
        c = RunLock(root)
        assert c.try_acquire() and c.took_over is not None and c.took_over.token == "gone"
        c.release()
        assert "Contents" not in s3.list_objects_v2(Bucket="lake", Prefix="prod/_ops/")


def test_a_heartbeat_that_fails_marks_the_lock_lost(tmp_path: Path) -> None:
    """A network cut in the heartbeat thread must stop the run, not kill the thread silently."""
    root = Root(tmp_path / "lake")
    lock = RunLock(root, stale_seconds=3, heartbeat_seconds=0.05)
    assert lock.try_acquire()

    def cut(body: bytes) -> bool:
        raise ConnectionResetError("connection reset by peer")

    lock._backend.refresh = cut  # type: ignore[method-assign]
    assert lock.lost.wait(5)
    with pytest.raises(LockLost, match=r"heartbeat failed \(ConnectionResetError: connection"):
        lock.check()
    lock.release()


def test_a_lease_not_renewed_in_time_refuses_every_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A paused process cannot know it was taken over: past its lease it commits nothing."""
    from lakehouse.store import lock as lock_module
    from lakehouse.store import ops
    from lakehouse.store.delta import open_table

    root = Root(tmp_path / "lake")
    ops.record_run(root, {"run_id": "r1", "status": "RUNNING"})
    lock = RunLock(root, stale_seconds=30, heartbeat_seconds=60)  # no beat during the test
    assert lock.try_acquire()
    assert lock.lease_seconds == 20
    ops.record_run(root, {"run_id": "r1", "status": "RUNNING"})
    before = open_table(root, "_ops", "runs").version()
    now = lock_module._lease_clock()
    monkeypatch.setattr(lock_module, "_lease_clock", lambda: now + 21)
    with pytest.raises(LockLost, match=r"not renewed for 2\d\.\d s .*lease 20\.0 s"):
        ops.record_run(root, {"run_id": "r1", "status": "SUCCEEDED"})
    lock.release()
    assert open_table(root, "_ops", "runs").version() == before


def test_a_taker_gets_a_higher_epoch_and_a_table_it_stamped_refuses_the_old_holder(
    tmp_path: Path,
) -> None:
    from lakehouse.store import fencing
    from lakehouse.store.delta import open_table

    root = Root(tmp_path / "lake")
    products = [f for f in small_delivery(tmp_path / "in") if f.name == "products.csv"]
    assert Lakehouse(root.uri).run(products).status == "SUCCEEDED"
    old = RunLock(root)
    assert old.try_acquire()
    first = json.loads(lock_file(root).read_text())["epoch"]
    assert first == old.epoch > 0
    # the old holder is gone for another host's clock; someone takes over and stamps
    old._stop.set()
    t = time.time() - 120
    os.utime(lock_file(root), (t, t))
    taker = RunLock(root, stale_seconds=60)
    assert taker.try_acquire() and taker.took_over is not None
    assert taker.epoch > first
    stamped = fencing.stamp_tables(root, "taker-run")
    assert "silver.products" in stamped
    assert fencing.table_epoch(open_table(root, "silver", "products")) == taker.epoch
    taker.release()
    # the old holder (its lease looks fine to it) opens a stamped table: refused
    fencing.hold(root, old)
    try:
        with pytest.raises(LockLost, match=r"silver\.products was fenced by a newer lock holder"):
            open_table(root, "silver", "products")
    finally:
        fencing.drop(root, old)


def test_a_waiting_run_says_once_who_holds_the_lock_and_how_long_it_waits(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import logging

    root = Root(tmp_path / "lake")
    holder = RunLock(root, run_id="r-holding")
    assert holder.try_acquire()
    # a CLI test earlier in this process configured the lakehouse logger (no propagation)
    monkeypatch.setattr(logging.getLogger("lakehouse"), "propagate", True)
    with caplog.at_level(logging.WARNING, logger="lakehouse"), pytest.raises(LockBusy):
        RunLock(root).acquire(wait_seconds=1.0)
    holder.release()
    waits = [r for r in caplog.records if r.getMessage() == "lock_wait"]
    assert len(waits) == 1
    fields = waits[0].fields  # type: ignore[attr-defined]
    assert fields["holder_pid"] == os.getpid() and fields["holder_run_id"] == "r-holding"
    assert fields["since"] == json.loads(holder._body())["acquired_at"]
    assert fields["message"].startswith(f"waiting for the lock on {root.uri}: held by pid ")
    assert fields["message"].endswith("waiting up to 1 s")


def test_a_lock_that_cannot_be_written_is_not_left_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a full disk the lock file was created (O_EXCL) and its body failed to write: the
    empty file held the root for `stale_seconds` after the disk had room again."""
    from lakehouse.store import lock_file

    backend = lock_file.LocalBackend(str(tmp_path / "_ops" / "lock"))

    def full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(lock_file.os, "fsync", full)
    with pytest.raises(OSError, match="No space left"):
        backend.create(b"holder")
    assert not (tmp_path / "_ops" / "lock").exists()
    monkeypatch.undo()
    assert backend.create(b"holder") and backend.read() is not None
