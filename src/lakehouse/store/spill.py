"""Where DuckDB spills, and clearing what a killed process left there.

Each connection spills to a folder of its own in the system's temporary directory. DuckDB
removes that folder when the connection closes, but a process that is killed mid-query (out of
memory, a timeout, `kill -9`) never closes it: a 10 M-row run leaves gigabytes behind, and
every such run adds more until the disk is full.

So each process holds a lock on `lakehouse-duckdb-<pid>.lock` for as long as it lives, and the
first connection of a process removes the folders of every process whose lock nobody holds.
A lock, not a pid check: a pid can be reused, and a temporary directory shared by two
containers shows pids of another namespace. Folders of a process that holds its lock are never
touched, whatever their age.
"""

from __future__ import annotations

import atexit
import fcntl
import functools
import itertools
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import IO

from lakehouse.log import event

PREFIX = "lakehouse-duckdb-"
#: a connection's spill folder (`<pid>-<n>`) or a process's lock file (`<pid>.lock`)
_OWNED = re.compile(rf"{PREFIX}(\d+)(-\d+|\.lock)")
_folders = itertools.count()


def spill_folder() -> Path:
    """A new folder name for one connection's spill (DuckDB creates it on the first spill)."""
    _hold_process_lock()
    return Path(tempfile.gettempdir()) / f"{PREFIX}{os.getpid()}-{next(_folders)}"


@functools.cache
def _hold_process_lock() -> IO[bytes] | None:
    """Lock this process's lock file for its lifetime (the open file is kept by the cache),
    then clear what processes that are gone left behind."""
    temp = Path(tempfile.gettempdir())
    try:
        lock = (temp / f"{PREFIX}{os.getpid()}.lock").open("wb")
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:  # a read-only or full temporary directory: spilling fails anyway
        event("spill_lock_failed", logging.WARNING, directory=str(temp), error=str(exc))
        return None
    atexit.register(_release, lock)
    _clear_abandoned(temp)
    return lock


def _release(lock: IO[bytes]) -> None:
    """At a normal exit the lock file goes too, unless a folder of this process is still there
    (a connection left open is closed after this): then the next process clears both."""
    path = Path(lock.name)
    if not any(path.parent.glob(f"{PREFIX}{os.getpid()}-*")):
        path.unlink(missing_ok=True)
    lock.close()


def _clear_abandoned(temp: Path) -> None:
    """Remove the spill folders and lock files of processes that no longer hold their lock."""
    gone: dict[str, bool] = {}
    for path in sorted(temp.glob(f"{PREFIX}*")):
        match = _OWNED.fullmatch(path.name)
        if match is None or match.group(1) == str(os.getpid()):
            continue
        pid, is_lock = match.group(1), match.group(2) == ".lock"
        if pid not in gone:
            gone[pid] = _is_abandoned(temp / f"{PREFIX}{pid}.lock")
        if not gone[pid] or is_lock:
            continue
        freed = sum(f.stat().st_size for f in path.glob("*") if f.is_file())
        shutil.rmtree(path, ignore_errors=True)
        event("spill_cleared", logging.WARNING, folder=str(path), bytes=freed)
    for pid, abandoned in gone.items():
        if abandoned:
            (temp / f"{PREFIX}{pid}.lock").unlink(missing_ok=True)


def _is_abandoned(lock_path: Path) -> bool:
    """True when no process holds `lock_path`. A folder without a lock file was left by a
    version before these locks, and is left alone: its owner cannot be told."""
    try:
        with lock_path.open("rb") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
    except OSError:  # held by a live process, not there, or not ours to lock
        return False
