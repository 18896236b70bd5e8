"""A process killed mid-query leaves its DuckDB spill behind; the next one clears it, and never
a live process's."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

# Sorts rows that do not fit in 64MB, keeps the sorted result open (its spill stays on disk),
# says so and waits to be killed.
SPILLER = """
import sys, time
from lakehouse.store.query import new_connection
con = new_connection()
con.execute("SET threads = 1")
result = con.execute(
    "SELECT i, random() AS r, repeat('x', 100) || i AS pad FROM range(3000000) t(i) ORDER BY r"
)
result.fetchmany(1)
print("spilled", flush=True)
time.sleep(120)
"""
CLEANER = "from lakehouse.store.query import new_connection; new_connection().close()"


def _python(code: str, temp: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "TMPDIR": str(temp), "LAKEHOUSE_DUCKDB_MEMORY_LIMIT": "64MB"}
    return subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True
    )


def _spill_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.iterdir())


def test_a_killed_process_s_spill_is_cleared_by_the_next_and_a_live_one_s_is_not(
    tmp_path: Path,
) -> None:
    killed, live = _python(SPILLER, tmp_path), _python(SPILLER, tmp_path)
    try:
        for spiller in (killed, live):
            assert spiller.stdout is not None
            assert spiller.stdout.readline().strip() == "spilled"
        killed_folder = tmp_path / f"lakehouse-duckdb-{killed.pid}-0"
        live_folder = tmp_path / f"lakehouse-duckdb-{live.pid}-0"
        assert _spill_bytes(killed_folder) > 64 * 2**20
        assert _spill_bytes(live_folder) > 64 * 2**20

        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=30)
        assert _spill_bytes(killed_folder) > 64 * 2**20  # nothing removed it on the way out

        assert _python(CLEANER, tmp_path).wait(timeout=60) == 0
        assert not killed_folder.exists()
        assert not (tmp_path / f"lakehouse-duckdb-{killed.pid}.lock").exists()
        assert _spill_bytes(live_folder) > 64 * 2**20  # its process still reads it
        assert (tmp_path / f"lakehouse-duckdb-{live.pid}.lock").exists()
    finally:
        for spiller in (killed, live):
            spiller.kill()
            spiller.wait(timeout=30)


def test_a_folder_left_by_a_version_without_locks_is_left_alone(tmp_path: Path) -> None:
    """Its owner cannot be told apart from a live process of another pid namespace."""
    unowned = tmp_path / "lakehouse-duckdb-999999-0"
    unowned.mkdir()
    (unowned / "duckdb_temp_999999_0_storage_DEFAULT-0.tmp").write_bytes(b"x" * 1024)
    assert _python(CLEANER, tmp_path).wait(timeout=60) == 0
    assert _spill_bytes(unowned) == 1024
    assert sorted(p.name for p in tmp_path.iterdir()) == [unowned.name]  # and no lock of ours


def test_a_process_that_exits_with_a_spilled_result_open_leaves_nothing_for_long(
    tmp_path: Path,
) -> None:
    """DuckDB closes a connection left open only after the exit handlers: whatever is there
    when the next process starts is cleared by it."""
    exits = _python(SPILLER.replace("time.sleep(120)", ""), tmp_path)
    assert exits.stdout is not None and exits.stdout.readline().strip() == "spilled"
    assert exits.wait(timeout=60) == 0
    assert _python(CLEANER, tmp_path).wait(timeout=60) == 0
    assert list(tmp_path.iterdir()) == []
