"""Failing S3 fails clearly and converges: runs on an s3:// root through a fault-injecting
proxy (tests/fault_proxy.py) in front of the moto server.

- Short faults are ridden out: a 4 s refusal, a 3 s reset outage, live connections cut,
  503 SlowDown and 500 answers — the run succeeds and its tables equal a clean run's.
- A cut longer than the retry budget fails the run: exit code 1 with one line naming S3 and
  the cause (never a signal), the run shown FAILED or ABANDONED by `status` (its FAILED record
  cannot be written while S3 is away), and the next run, network back, converges.

And, without S3: the retry budget setting, the storage-error messages, tables whose first
commit never landed, and `status` on a run left RUNNING.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from conftest import business_rows
from fault_proxy import FaultProxy
from lakehouse import Lakehouse
from lakehouse.config.settings import Settings
from lakehouse.errors import TerminalError, storage_failure
from lakehouse.generate import generate
from lakehouse.monitoring.status import report
from lakehouse.store import ops
from lakehouse.store.lock import RunLock
from lakehouse.store.root import Root

if TYPE_CHECKING:
    from aws_fixtures import Aws

pytest_plugins = ["aws_fixtures"]
COMPARED = ("silver", "quarantine")  # gold is derived from them (and slow to read on moto)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    out = tmp_path_factory.mktemp("shop")
    generate(out, orders=20, products=10, days=2, fmt="csv")
    return sorted(out.iterdir())


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory, shop: list[Path]) -> Lakehouse:
    """The tables a run without faults gives (a local root: the S3 tests prove they match)."""
    lh = Lakehouse(tmp_path_factory.mktemp("clean") / "lake")
    assert lh.run(shop).status == "SUCCEEDED"
    return lh


@pytest.fixture
def proxy(aws: Aws) -> Iterator[FaultProxy]:
    host, _, port = aws.endpoint.removeprefix("http://").partition(":")
    with FaultProxy(host, int(port)) as p:
        yield p


def lakehouse(proxy: FaultProxy, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The CLI in a child process (its exit code is the point), talking to S3 via the proxy."""
    environ = {k: v for k, v in os.environ.items() if k not in ("LAKEHOUSE_DEBUG",)}
    return subprocess.run(
        [sys.executable, "-m", "lakehouse", *args],
        env=environ | {"AWS_ENDPOINT_URL": proxy.endpoint} | env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def assert_converged(root: str, clean: Lakehouse) -> None:
    lake = Lakehouse(root)
    names = [t.name for t in clean.tables() if t.name.split(".")[0] in COMPARED and t.rows]
    assert {"silver.orders", "silver.products", "silver.order_items"} <= set(names)
    assert [t.name for t in lake.tables() if t.name.split(".")[0] in COMPARED and t.rows] == names
    for name in names:
        assert business_rows(lake, name).equals(business_rows(clean, name)), name


@pytest.mark.aws
def test_short_faults_are_retried_and_the_run_matches_a_clean_one(
    aws: Aws, proxy: FaultProxy, shop: list[Path], clean: Lakehouse
) -> None:
    root = f"s3://{aws.bucket('faults')}/lake"
    proxy.on_request(60, lambda: proxy.fail_next(5, 503))  # throttled: SlowDown
    proxy.on_request(150, lambda: proxy.outage(4.0, "refuse"))  # network cut, 4 s
    proxy.on_request(300, lambda: proxy.fail_next(3, 500))
    proxy.on_request(450, lambda: proxy.outage(3.0, "reset"))  # peer resets, 3 s
    proxy.on_request(600, proxy.cut)  # live connections reset mid-transfer
    done = lakehouse(proxy, "run", "--root", root, *[f"--source={p}" for p in shop])
    assert done.returncode == 0, done.stderr
    assert (proxy.errors_sent, proxy.outages, proxy.cuts) == (8, 2, 3)  # outages cut too
    assert proxy.refused > 0
    assert_converged(root, clean)
    runs = Lakehouse(root).sql("SELECT status FROM _ops.runs").column("status").to_pylist()
    assert runs == ["SUCCEEDED"]


@pytest.mark.aws
def test_a_cut_longer_than_the_retry_budget_fails_clearly_and_the_next_run_converges(
    aws: Aws, proxy: FaultProxy, shop: list[Path], clean: Lakehouse
) -> None:
    root = f"s3://{aws.bucket('cut')}/lake"
    proxy.on_request(300, lambda: proxy.outage(3600.0, "refuse"))  # until restored
    failed = lakehouse(
        proxy,
        "run",
        "--root",
        root,
        *[f"--source={p}" for p in shop],
        LAKEHOUSE_S3_RETRY_SECONDS="1",
    )
    assert failed.returncode == 1, (failed.returncode, failed.stderr)  # never -11 (SIGSEGV)
    reason = failed.stderr.strip().splitlines()[-1]
    assert reason.startswith(
        f"lakehouse: error: S3 request failed: connection refused at {proxy.endpoint} after "
        "retrying for the LAKEHOUSE_S3_RETRY_SECONDS budget: check the network"
    ), failed.stderr
    proxy.restore()

    status = lakehouse(proxy, "status", "--root", root, "--format", "json")
    assert status.returncode == 2, status.stderr  # a breach: never "OK" after that run
    report = json.loads(status.stdout)
    assert [r["status"] for r in report["runs"]] in (["FAILED"], ["ABANDONED"])
    assert report["ok"] is False

    again = lakehouse(proxy, "run", "--root", root)  # the files wait in landing/
    assert again.returncode == 0, again.stderr
    assert_converged(root, clean)
    runs = Lakehouse(root).sql("SELECT status FROM _ops.runs ORDER BY started_at").to_pylist()
    assert [r["status"] for r in runs] == ["FAILED", "SUCCEEDED"]


def test_a_cut_resets_a_request_waiting_for_its_answer() -> None:
    """The proxy's cut is a cut: a client whose request is still unanswered (the proxy's
    threads blocked reading both sides) gets a reset at once, never a silent connection that
    only its own timeout would end (a request held for 30 s, not the fault the tests name)."""
    import socket
    import time

    silent = socket.create_server(("127.0.0.1", 0))  # an upstream that never answers
    held: list[socket.socket] = []
    with silent, FaultProxy("127.0.0.1", silent.getsockname()[1]) as proxy:
        client = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
        with client:
            client.sendall(b"GET /bucket/key HTTP/1.1\r\nHost: s3\r\n\r\n")
            conn, _ = silent.accept()  # the request reached the upstream, which keeps quiet
            held.append(conn)
            time.sleep(0.2)  # the proxy's threads are now blocked reading
            start = time.monotonic()
            proxy.cut()
            with pytest.raises(ConnectionResetError):
                client.recv(1)
            assert time.monotonic() - start < 1
    for conn in held:
        conn.close()


def test_retry_budget_is_a_bounded_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    s3 = Root("s3://bucket/lake")
    monkeypatch.delenv("LAKEHOUSE_S3_RETRY_SECONDS", raising=False)
    opts = s3.storage_options() or {}
    assert (opts["retry_timeout"], opts["backoff_config.max_backoff"]) == ("30s", "5s")
    assert int(opts["max_retries"]) >= 10  # the budget bounds the retries, not the count
    monkeypatch.setenv("LAKEHOUSE_S3_RETRY_SECONDS", "4.5")
    assert (s3.storage_options() or {})["retry_timeout"] == "4.5s"
    for bad in ("soon", "nan", "-1", "1e9"):
        monkeypatch.setenv("LAKEHOUSE_S3_RETRY_SECONDS", bad)
        with pytest.raises(TerminalError, match=f"LAKEHOUSE_S3_RETRY_SECONDS='{bad}': expected"):
            s3.storage_options()


DELTA_ENOSPC = (
    "Failed to parse parquet: External: Generic LocalFileSystem error: Unable to copy data to "
    "file: No space left on device (os error 28)"
)
DELTA_REFUSED = (
    "Kernel error -> Generic S3 error: Error performing GET http://127.0.0.1:9/b/lake/_delta_log/"
    "0.json in 2.3s, after 10 retries - HTTP error: tcp connect error: Connection refused "
    "(os error 111)"
)


def test_storage_failures_are_named_by_their_cause(tmp_path: Path) -> None:
    full = storage_failure(OSError(DELTA_ENOSPC), str(tmp_path))
    assert full is not None and not full.retryable
    assert str(full).startswith(f"no space left on device writing under {tmp_path} (")
    assert "bytes free): free space there" in str(full) and "parquet" not in str(full)
    s3 = storage_failure(OSError(DELTA_REFUSED), "s3://b/lake")
    assert s3 is not None and s3.retryable
    assert str(s3).startswith("S3 request failed: connection refused at http://127.0.0.1:9 ")
    slow = storage_failure(OSError("AWS Error SLOW_DOWN during PutObject: SlowDown"), "s3://b")
    assert str(slow).startswith("S3 request failed: throttled (503 SlowDown) for s3://b after")
    server = storage_failure(OSError("non-2xx status code: 500 Internal Server Error"), "s3://b")
    assert str(server).startswith("S3 request failed: server error (5xx) for s3://b after")
    assert storage_failure(RuntimeError("INTERNAL Error: a DuckDB assertion"), "s3://b") is None
    try:  # the cause is found down the chain of errors
        try:
            raise ConnectionResetError("Connection reset by peer (os error 104)")
        except ConnectionResetError as exc:
            raise RuntimeError("commit failed") from exc
    except RuntimeError as exc:
        chained = storage_failure(exc, "s3://b/lake")
    assert str(chained).startswith("S3 request failed: connection reset for s3://b/lake after")
    assert storage_failure(ValueError("bad value"), "s3://b/lake") is None
    assert storage_failure(OSError("Connection refused"), str(tmp_path)) is None  # not S3


def test_a_table_whose_first_commit_never_landed_is_tolerated(
    tmp_path: Path, shop: list[Path], clean: Lakehouse
) -> None:
    root = tmp_path / "lake"
    for table in ("_ops/runs", "silver/orders", "gold/department_sales"):  # as a full disk leaves
        (root / table / "_delta_log").mkdir(parents=True)
    (root / "silver/orders/_delta_log/_commit_0a1b.json.tmp").write_bytes(b"")
    lh = Lakehouse(root)
    assert lh.tables() == []
    assert lh.sql("SELECT 1 AS one").to_pylist() == [{"one": 1}]
    assert report(lh.root, Settings(), lh.contracts).runs == []
    assert lh.run(shop).status == "SUCCEEDED"  # the next run creates them afresh
    assert [t.name for t in lh.tables()] == [t.name for t in clean.tables()]
    assert_converged(str(root), clean)


def _running(root: Root, run_id: str, started: dt.datetime) -> None:
    row = {"run_id": run_id, "trigger": "manual", "engine": "local", "status": "RUNNING"}
    ops.record_run(root, row | {"started_at": started})


def test_status_never_ok_while_a_run_is_stuck(tmp_path: Path) -> None:
    """A run whose FAILED record could not be written stays RUNNING in `_ops.runs`: `status`
    shows it ABANDONED unless a live lock holder runs it; a live one too long is stuck."""
    root = Root(tmp_path / "lake")
    now = dt.datetime.now(dt.UTC)
    settings = Settings()
    _running(root, "old", now - dt.timedelta(minutes=5))
    rep = report(root, settings, {}, now=now)
    assert not rep.ok
    assert [(r["run_id"], r["status"]) for r in rep.runs] == [("old", "ABANDONED")]
    assert rep.breaches == [
        "run old is recorded RUNNING but no live process runs it (nobody holds the lock): it "
        "was killed or could not record its failure (e.g. a full disk) — treat it as FAILED; "
        "the next run marks it so and converges"
    ]
    with RunLock(root) as lock:  # a live holder runs the newest RUNNING run only
        _running(root, "new", now)
        rep = report(root, settings, {}, now=now)
        assert [(r["run_id"], r["status"]) for r in rep.runs] == [
            ("new", "RUNNING"),
            ("old", "ABANDONED"),
        ]
        assert len(rep.breaches) == 1 and rep.breaches[0].startswith("run old is recorded")
        later = now + dt.timedelta(seconds=settings.sla.max_run_seconds + 60)
        stuck = report(root, settings, {}, now=later).breaches
        assert stuck[0] == (
            f"run new has been RUNNING for {settings.sla.max_run_seconds + 60:.0f} s (objective "
            f"{settings.sla.max_run_seconds:g} s) under {lock.holder().describe()}: check that "
            "process"
        )


EXIT_WITH_S3_IN_FLIGHT = """
import os, socket, sys, threading, time
import pyarrow.fs as pafs
from lakehouse.cli import main

server = socket.create_server(("127.0.0.1", 0))  # accepts, never answers: requests hang
held = []
hold = lambda: [held.append(server.accept()) for _ in range(8)]
threading.Thread(target=hold, daemon=True).start()
fs = pafs.S3FileSystem(
    endpoint_override=f"127.0.0.1:{server.getsockname()[1]}", scheme="http", request_timeout=60
)
for _ in range(4):
    threading.Thread(target=fs.get_file_info, args=("bucket/key",), daemon=True).start()
while len(held) < 4:
    time.sleep(0.01)
sys.argv = ["lakehouse", "sql", "--root", sys.argv[1], "SELECT * FROM silver.nope"]
main()
"""


def test_the_cli_exits_1_once_the_error_is_printed_with_s3_work_in_flight(tmp_path: Path) -> None:
    """After a storage failure, S3 requests may still be in flight in native threads (pyarrow,
    delta-rs retrying); the interpreter's teardown under them hung the exit (or crashed it,
    exit -11, after the error was printed). The CLI exits 1 with its one line, at once."""
    env = os.environ | {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
    env |= {"AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}
    (tmp_path / "lake").mkdir()
    done = subprocess.run(
        [sys.executable, "-c", EXIT_WITH_S3_IN_FLIGHT, str(tmp_path / "lake")],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1, (done.returncode, done.stderr)
    assert done.stderr.splitlines()[-1].startswith(
        "lakehouse: error: table silver.nope does not exist"
    ), done.stderr
