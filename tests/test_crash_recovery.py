"""A run killed (SIGKILL) at any point, then re-run, gives the tables of an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import business_rows
from lakehouse import Lakehouse

SCENARIO = Path(__file__).parent / "scenarios" / "dirty_lab" / "input" / "run1"
TABLES = (
    "bronze.orders",
    "bronze.order_items",
    "silver.products",
    "silver.orders",
    "silver.order_items",
    "quarantine.orders",
    "quarantine.order_items",
)
POINTS = [
    "after_bronze:orders",
    "after_silver:orders",
    "between_silver_and_quarantine:order_items",
    "after_silver:order_items",
    "after_manifest",
    "mid_archive",
]


def cli(root: Path, *args: str, fault: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "LAKEHOUSE_FAULT"}
    if fault:
        env["LAKEHOUSE_FAULT"] = fault
    return subprocess.run(
        [sys.executable, "-m", "lakehouse", "run", "--root", str(root), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Lakehouse:
    root = tmp_path_factory.mktemp("clean") / "lake"
    assert cli(root, "--source", str(SCENARIO)).returncode == 0
    return Lakehouse(root)


def files_under(root: Path, zone: str) -> list[str]:
    base = root / zone
    return sorted(p.name for p in base.rglob("*") if p.is_file()) if base.exists() else []


@pytest.mark.slow
@pytest.mark.parametrize("point", POINTS)
def test_killed_run_converges(point: str, clean: Lakehouse, tmp_path: Path) -> None:
    root = tmp_path / "lake"
    killed = cli(root, "--source", str(SCENARIO), fault=point)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    again = cli(root)
    assert again.returncode == 0, again.stderr
    lh = Lakehouse(root)
    for table in TABLES:
        assert business_rows(lh, table).equals(business_rows(clean, table)), table
    assert files_under(root, "landing") == []
    clean_root = Path(clean.root.uri)
    assert files_under(root, "archive") == files_under(clean_root, "archive")
    assert files_under(root, "quarantine/files") == files_under(clean_root, "quarantine/files")
    # the manifest leads to every file it loaded, and names no file a duplicate of itself
    # (killed after the manifest, the re-run filed them under its own duplicates/ before)
    manifest = lh.sql("SELECT status, moved_to FROM _ops.files").to_pylist()
    assert all(Path(r["moved_to"]).is_file() for r in manifest if r["status"] == "loaded")
    assert [r for r in manifest if r["status"] == "duplicate"] == []
    statuses = lh.sql("SELECT status, count(*) AS n FROM _ops.runs GROUP BY status ORDER BY 1")
    # the killed run is marked FAILED (abandoned) when the next run takes over its stale lock
    assert statuses.to_pylist() == [{"status": "FAILED", "n": 1}, {"status": "SUCCEEDED", "n": 1}]
