"""One run at a time per root: a lock file that survives crashes.

`ROOT/_ops/lock` holds JSON {token, pid, host, run_id, acquired_at}. A local root creates it
with O_CREAT|O_EXCL; an s3:// root with a conditional PUT (If-None-Match: *). The holder
refreshes it every `heartbeat_seconds` (local: the file's mtime; S3: a conditional re-PUT).
A lock is *stale* when its process is gone (same host, pid not alive) or when its heartbeat is
older than `stale_seconds`; a stale lock is taken over atomically (local: under a takeover
mutex file, check it is still the one judged stale, remove it and create ours with O_EXCL;
S3: PUT with If-Match on the stale lock's ETag), and the taker learns the
previous holder (`RunLock.took_over`) so it can mark the run that holder left RUNNING as FAILED.

A holder that was paused past `stale_seconds` must not commit after it resumes: every
acquisition carries a fencing `epoch` (above the epoch it took over), the holder keeps a
*lease* (its last confirmed heartbeat, on a clock that counts suspended time), and a heartbeat
that fails in any way marks the lock lost. `lakehouse.store.fencing` enforces both at commit time.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import secrets
import socket
import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING

from lakehouse.errors import RetryableError, storage_failure
from lakehouse.log import event
from lakehouse.store import fencing
from lakehouse.store.fencing import LockLost
from lakehouse.store.lock_file import Backend, Holder, LocalBackend, S3Backend
from lakehouse.store.root import Root

if TYPE_CHECKING:
    from lakehouse.config.settings import LockSettings

LOCK_NAME = "lock"


class LockBusy(RetryableError):
    """Another process holds the root's lock (a run or `watch` is processing files)."""


class RunLock:
    """Context manager: `with RunLock(root, settings) as lock:`; waits up to `wait_seconds`."""

    def __init__(
        self,
        root: Root,
        *,
        stale_seconds: float = 60.0,
        heartbeat_seconds: float = 5.0,
        wait_seconds: float = 900.0,
        run_id: str = "",
    ) -> None:
        self.root = root
        self.stale_seconds = stale_seconds
        self.heartbeat_seconds = max(0.05, min(heartbeat_seconds, stale_seconds / 3))
        # a taker needs `stale_seconds` without a heartbeat: stop committing well before that
        self.lease_seconds = stale_seconds - max(self.heartbeat_seconds, stale_seconds / 3)
        self.wait_seconds = wait_seconds
        self.token = secrets.token_hex(8)
        self.run_id = run_id
        self.epoch = 0
        self.took_over: Holder | None = None
        self.lost = threading.Event()
        self.lost_reason = ""
        self._acquired_at = ""
        self._confirmed = 0.0  # _lease_clock() of the last heartbeat the storage accepted
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None
        self._backend: Backend = (
            LocalBackend(root.path("_ops", LOCK_NAME))
            if root.is_local
            else S3Backend(root.uri + f"/_ops/{LOCK_NAME}")
        )

    @classmethod
    def configured(cls, root: Root, s: LockSettings) -> RunLock:
        return cls(
            root,
            stale_seconds=s.stale_seconds,
            heartbeat_seconds=s.heartbeat_seconds,
            wait_seconds=s.wait_seconds,
        )

    def _body(self, epoch: int | None = None) -> bytes:
        return json.dumps(
            {
                "token": self.token,
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "run_id": self.run_id,
                "acquired_at": self._acquired_at,
                "epoch": self.epoch if epoch is None else epoch,
            }
        ).encode()

    def is_stale(self, holder: Holder) -> bool:
        if holder.host == socket.gethostname() and holder.pid > 0 and not _alive(holder.pid):
            return True
        return holder.age() > self.stale_seconds

    def stalled_here(self, holder: Holder) -> str | None:
        """How a stale holder's process on this host still lives ("stopped": SIGSTOP or
        Ctrl-Z; "not refreshing": hung or starved), or None when it is gone, on another host,
        or not stale. Such a run is not abandoned: a next run takes the lock over and fences it,
        and resumed it commits nothing more."""
        here = holder.host == socket.gethostname() and holder.pid > 0
        if not here or holder.age() <= self.stale_seconds or not _alive(holder.pid):
            return None
        return "stopped" if _state(holder.pid) in (b"T", b"t") else "not refreshing"

    def holder(self) -> Holder | None:
        """Who holds the root's lock now (None when it is free); reads, takes nothing."""
        return self._backend.read()

    def try_acquire(self) -> bool:
        """One attempt: take a free lock, or take over a stale one. True when held."""
        self._acquired_at = dt.datetime.now(dt.UTC).isoformat()
        epoch = time.time_ns()
        if self._backend.create(self._body(epoch)):
            return self._held(epoch)
        holder = self._backend.read()
        if holder is None:  # released between our create and read: try again next time
            return False
        if holder.token == self.token:
            return self._held(holder.epoch)
        epoch = max(epoch, holder.epoch + 1)  # fencing: always above the holder it replaces
        if self.is_stale(holder) and self._backend.replace_stale(holder, self._body(epoch)):
            self.took_over = holder
            event("lock_taken_over", previous=holder.describe(), run_id=holder.run_id)
            return self._held(epoch)
        return False

    def acquire(self, wait_seconds: float | None = None) -> RunLock:
        limit = self.wait_seconds if wait_seconds is None else wait_seconds
        deadline = time.monotonic() + limit
        pause = 0.05
        told = False
        while not self.try_acquire():
            if time.monotonic() >= deadline:
                holder = self._backend.read()
                who = holder.describe() if holder else "another process"
                raise LockBusy(
                    f"{self.root.uri} is locked by {who}; a run or `lakehouse watch` is "
                    f"processing files — waited {limit:.0f} s (raise [lock] wait_seconds, or "
                    f"remove _ops/{LOCK_NAME} if that process is gone)"
                )
            if not told:
                told = self._tell_waiting(limit)
            time.sleep(pause)
            pause = min(pause * 2, 1.0)
        return self

    def _tell_waiting(self, limit: float) -> bool:
        """Say once who holds the lock, since when, and how long this process will wait."""
        holder = self._backend.read()
        if holder is None:
            return False
        event(
            "lock_wait",
            logging.WARNING,
            message=(
                f"waiting for the lock on {self.root.uri}: held by {holder.describe()} "
                f"(heartbeat {holder.age():.0f} s ago; taken over once older than "
                f"{self.stale_seconds:.0f} s); waiting up to {limit:.0f} s"
            ),
            holder_pid=holder.pid,
            holder_host=holder.host,
            holder_run_id=holder.run_id,
            since=holder.acquired_at,
            wait_s=limit,
        )
        return True

    def _held(self, epoch: int) -> bool:
        self.epoch = epoch
        self.lost.clear()
        self.lost_reason = ""
        self._confirmed = _lease_clock()
        self._stop.clear()
        self._beat = threading.Thread(target=self._heartbeat, name="lakehouse-lock", daemon=True)
        self._beat.start()
        fencing.hold(self.root, self)
        return True

    def _heartbeat(self) -> None:
        """Refresh the lock every `heartbeat_seconds`. Any failure — taken over, or an error
        such as a network cut — marks the lock lost: the run stops at its next commit."""
        while not self._stop.wait(self.heartbeat_seconds):
            try:
                kept = self._refresh()
            except Exception as exc:
                cause = storage_failure(exc, self.root.uri)
                self._lose(
                    str(cause) if cause else f"its heartbeat failed ({type(exc).__name__}: {exc})"
                )
                return
            if not kept:
                self._lose("the lock was taken over by another process (its heartbeat stalled)")
                return
            self._confirmed = _lease_clock()

    def _refresh(self) -> bool:
        holder = self._backend.read()
        if holder is None:  # a racing taker may have it aside for a moment: look again
            time.sleep(0.05)
            holder = self._backend.read()
        return (
            holder is not None
            and holder.token == self.token
            and self._backend.refresh(self._body())
        )

    def _lose(self, reason: str) -> None:
        if not self.lost.is_set():
            self.lost_reason = reason
            self.lost.set()
            event("lock_lost", logging.WARNING, root=self.root.uri, reason=reason)

    def check(self) -> None:
        """Raise LockLost unless this process still holds the lock with a valid lease (called
        between steps and, through `lakehouse.store.fencing`, right before every commit)."""
        if self._beat is not None and not self.lost.is_set():
            silent = _lease_clock() - self._confirmed
            if silent > self.lease_seconds:
                self._lose(
                    f"the lock was not renewed for {silent:.1f} s (the process was paused or "
                    f"its storage unreachable; lease {self.lease_seconds:.1f} s, stale after "
                    f"{self.stale_seconds:.0f} s)"
                )
        if self.lost.is_set():
            raise LockLost(
                f"{self.lost_reason} — {self.root.uri}: this run lost the root's lock, so it "
                "commits nothing more; the next run converges"
            )

    def still_holds(self) -> bool:
        holder = self._backend.read()
        return holder is not None and holder.token == self.token and not self.lost.is_set()

    def release(self) -> None:
        fencing.drop(self.root, self)
        self._stop.set()
        if self._beat is not None:
            self._beat.join(timeout=5)
            self._beat = None
        if not self.lost.is_set():
            self._backend.release(self.token)

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _lease_clock() -> float:
    """Seconds on a clock that keeps counting while the machine is suspended (Linux
    CLOCK_BOOTTIME; CLOCK_MONOTONIC stops during suspend), never set back."""
    if hasattr(time, "CLOCK_BOOTTIME"):
        return time.clock_gettime(time.CLOCK_BOOTTIME)
    return time.monotonic()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    return _state(pid) == b"Z"


def _state(pid: int) -> bytes:
    """The process's state letter from /proc (b"" where there is no /proc)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return b""
