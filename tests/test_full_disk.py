"""A full disk fails a run clearly and loses nothing: the error names the cause and the path,
no table a failed create left half-made trips a reader, the run is never shown RUNNING or OK,
and once space is freed the next run converges to the tables of a clean run.

The disk is a small tmpfs mounted for the test (root can mount; a machine where mounting is
refused fails this test rather than skipping it), unmounted in a `finally`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import business_rows
from lakehouse import Lakehouse
from lakehouse.generate import generate

pytestmark = pytest.mark.slow
DISK_BYTES = 300 * 1024  # fills up while the run writes its tables, after landing got the files


def lakehouse(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LAKEHOUSE_FAULT", "LAKEHOUSE_DEBUG")}
    return subprocess.run(
        [sys.executable, "-m", "lakehouse", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES}", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, f"cannot mount a tmpfs (this test needs root): {done.stderr}"
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def test_full_disk_fails_clearly_and_the_next_run_converges(
    small_disk: Path, tmp_path: Path
) -> None:
    shop = tmp_path / "shop"
    generate(shop, orders=20, products=10, days=2, fmt="csv")
    sources = [f"--source={p}" for p in sorted(shop.iterdir())]
    root = small_disk / "lake"

    failed = lakehouse("run", "--root", str(root), *sources)
    assert failed.returncode == 1, failed.stderr
    reason = failed.stderr.strip().splitlines()[-1]
    assert reason.startswith(f"lakehouse: error: no space left on device writing under {root} (")
    assert "bytes free): free space there" in reason
    assert "parquet" not in reason.lower() and "panic" not in reason.lower()

    # every reader tolerates what the failed run left (tables whose first commit never landed)
    tables = lakehouse("tables", "--root", str(root))
    assert tables.returncode == 0, tables.stderr
    status = lakehouse("status", "--root", str(root), "--format", "json")
    assert status.returncode == 2, status.stderr  # never "OK" after a failed run
    report = json.loads(status.stdout)
    assert report["ok"] is False
    assert [r["status"] for r in report["runs"]] in (["FAILED"], ["ABANDONED"])
    assert report["runs"][0]["error"]

    # space freed: the next run (the files still wait in landing/) converges
    subprocess.run(["mount", "-o", "remount,size=16m", str(small_disk)], check=True)
    again = lakehouse("run", "--root", str(root))
    assert again.returncode == 0, again.stderr
    clean = Lakehouse(tmp_path / "clean")
    assert clean.run(sorted(shop.iterdir())).status == "SUCCEEDED"
    lake = Lakehouse(root)
    names = [t.name for t in clean.tables() if t.name.split(".")[0] in ("silver", "gold")]
    assert {"silver.orders", "silver.products", "silver.order_items"} <= set(names)
    assert [t.name for t in lake.tables() if t.name.split(".")[0] in ("silver", "gold")] == names
    for name in names:
        assert business_rows(lake, name).equals(business_rows(clean, name)), name
    runs = lake.sql("SELECT status, count(*) AS n FROM _ops.runs GROUP BY status").to_pylist()
    assert {r["status"]: r["n"] for r in runs} == {"FAILED": 1, "SUCCEEDED": 1}
