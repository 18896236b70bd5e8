"""Paused-holder trials: a run is stopped (SIGSTOP) at a random moment while it holds the lock,
another run takes the stale lock over and finishes, the first is resumed (SIGCONT).

Counts, over N trials: runs actually paused mid-run, commits the resumed run made after the
takeover (must be 0), silver tables with duplicate keys (must be 0), and how the resumed run
ended. `tests/test_fencing.py` is the deterministic sample of this in the suite.

    python benchmarks/fencing_trials.py --trials 15
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pyarrow.compute as pc

from lakehouse.orchestration import pipeline
from lakehouse.store.delta import open_table
from lakehouse.store.root import Root
from lakehouse.store.tables import list_tables

SOURCE = Path(__file__).parents[1] / "tests" / "scenarios" / "late_parent" / "input"
SILVER = ("products", "orders", "order_items")


def trial(base: Path, rng: random.Random) -> dict[str, object]:
    root = base / "lake"
    root.mkdir(parents=True)
    (root / "lakehouse.toml").write_text("[lock]\nstale_seconds = 2\nheartbeat_seconds = 0.2\n")
    lock = root / "_ops" / "lock"
    proc = subprocess.Popen(
        [sys.executable, "-m", "lakehouse", "run", "--root", str(root), "--no-summary",
         "--source", str(SOURCE / "run1"), "--source", str(SOURCE / "run2")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    while proc.poll() is None and not _held_by(lock, proc.pid):
        time.sleep(0.01)
    time.sleep(rng.uniform(0.0, 3.0))
    if proc.poll() is not None:
        return {"paused": False}
    os.kill(proc.pid, signal.SIGSTOP)
    takeover = dt.datetime.now(dt.UTC)
    taker = pipeline.run(Root(root))
    os.kill(proc.pid, signal.SIGCONT)
    _, err = proc.communicate(timeout=300)
    lake = Root(root)
    late: list[str] = []
    for name in list_tables(lake):
        zone, table = name.split(".", 1)
        for c in open_table(lake, zone, table).history():
            run = c.get("lakehouse.run_id")
            at = dt.datetime.fromtimestamp(int(c["timestamp"]) / 1000, dt.UTC)
            if run and run not in (taker.run_id, "lock") and at >= takeover:
                late.append(f"{name}@{c['version']}:{c.get('lakehouse.operation')}")
    duplicated = 0
    for entity in SILVER:
        key = {"products": "product_id", "orders": "order_id", "order_items": "id"}[entity]
        t = open_table(lake, "silver", entity).to_pyarrow_table(columns=[key])
        duplicated += int(t.num_rows != len(pc.unique(t[key])))
    return {
        "paused": True,
        "exit": proc.returncode,
        "lock_lost": "commits nothing more" in err,
        "error": (err.strip().splitlines() or [""])[-1][:200],
        "late_commits": late,
        "tables_with_duplicates": duplicated,
    }


def _held_by(lock: Path, pid: int) -> bool:
    try:
        return int(json.loads(lock.read_text())["pid"]) == pid
    except (OSError, ValueError, KeyError):
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=15)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    results = []
    for n in range(args.trials):
        with tempfile.TemporaryDirectory(prefix="fence-") as tmp:
            r = trial(Path(tmp), rng)
        print(n + 1, r, flush=True)
        results.append(r)
    paused = [r for r in results if r["paused"]]
    summary = {
        "trials": len(results),
        "paused_mid_run": len(paused),
        "late_commits": sum(_count(r["late_commits"]) for r in paused),
        "late_commit_list": [c for r in paused for c in _list(r["late_commits"])],
        "tables_with_duplicates": sum(_count(r["tables_with_duplicates"]) for r in paused),
        "resumed_run_exits": dict(Counter(str(r["exit"]) for r in paused)),
        "resumed_run_said_lock_lost": sum(bool(r["lock_lost"]) for r in paused),
    }
    print(json.dumps(summary))


def _count(value: object) -> int:
    return len(value) if isinstance(value, list) else int(str(value))


def _list(value: object) -> list[str]:
    assert isinstance(value, list)
    return [str(v) for v in value]


if __name__ == "__main__":
    main()
