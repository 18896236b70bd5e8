"""One run at a time per root: a lock file that survives crashes.

`ROOT/_ops/lock` holds JSON {token, pid, host, run_id, acquired_at}. A local root creates it
with O_CREAT|O_EXCL; an s3:// root with a conditional PUT (If-None-Match: *). The holder
refreshes it every `heartbeat_seconds` (local: the file's mtime; S3: a conditional re-PUT).
A lock is *stale* when its process is gone (same host, pid not alive) or when its heartbeat is
older than `stale_seconds`; a stale lock is taken over atomically (local: under a takeover
mutex file, check it is still the one judged stale, remove it and create ours with O_EXCL;
S3: PUT with If-Match on the stale lock's ETag), and the taker learns the
previous holder (`RunLock.took_over`) so it can mark the run that holder left RUNNING as FAILED.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from lakehouse.errors import RetryableError, TerminalError
from lakehouse.log import event
from lakehouse.storage import Root, s3_client

if TYPE_CHECKING:
    from lakehouse.config import LockSettings

LOCK_NAME = "lock"


class LockBusy(RetryableError):
    """Another process holds the root's lock (a run or `watch` is processing files)."""


class LockLost(TerminalError):
    """This process's lock was taken over (its heartbeat stalled longer than `stale_seconds`)."""


@dataclass(frozen=True)
class Holder:
    token: str
    pid: int
    host: str
    run_id: str
    acquired_at: str
    heartbeat: float  # epoch seconds of the last refresh

    @classmethod
    def parse(cls, data: bytes, heartbeat: float) -> Holder:
        try:
            raw: dict[str, Any] = json.loads(data)
            return cls(
                str(raw["token"]),
                int(raw["pid"]),
                str(raw["host"]),
                str(raw.get("run_id", "")),
                str(raw.get("acquired_at", "")),
                heartbeat,
            )
        except (ValueError, KeyError, TypeError):  # half-written: treat as unknown, age decides
            return cls("?", -1, "?", "", "", heartbeat)

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host} since {self.acquired_at}"


class _Backend(Protocol):
    def create(self, body: bytes) -> bool: ...
    def read(self) -> Holder | None: ...
    def replace_stale(self, stale: Holder, body: bytes) -> bool: ...
    def refresh(self, body: bytes) -> bool: ...
    def release(self, token: str) -> None: ...


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
        self.wait_seconds = wait_seconds
        self.token = secrets.token_hex(8)
        self.run_id = run_id
        self.took_over: Holder | None = None
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None
        self._backend: _Backend = (
            _LocalBackend(root.path("_ops", LOCK_NAME))
            if root.is_local
            else _S3Backend(root.uri + f"/_ops/{LOCK_NAME}")
        )

    @classmethod
    def configured(cls, root: Root, s: LockSettings) -> RunLock:
        return cls(
            root,
            stale_seconds=s.stale_seconds,
            heartbeat_seconds=s.heartbeat_seconds,
            wait_seconds=s.wait_seconds,
        )

    def _body(self) -> bytes:
        return json.dumps(
            {
                "token": self.token,
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "run_id": self.run_id,
                "acquired_at": dt.datetime.now(dt.UTC).isoformat(),
            }
        ).encode()

    def is_stale(self, holder: Holder) -> bool:
        if holder.host == socket.gethostname() and holder.pid > 0 and not _alive(holder.pid):
            return True
        return time.time() - holder.heartbeat > self.stale_seconds

    def holder(self) -> Holder | None:
        """Who holds the root's lock now (None when it is free); reads, takes nothing."""
        return self._backend.read()

    def try_acquire(self) -> bool:
        """One attempt: take a free lock, or take over a stale one. True when held."""
        body = self._body()
        if self._backend.create(body):
            return self._held()
        holder = self._backend.read()
        if holder is None:  # released between our create and read: try again next time
            return False
        if holder.token == self.token:
            return self._held()
        if self.is_stale(holder) and self._backend.replace_stale(holder, body):
            self.took_over = holder
            event("lock_taken_over", previous=holder.describe(), run_id=holder.run_id)
            return self._held()
        return False

    def acquire(self, wait_seconds: float | None = None) -> RunLock:
        limit = self.wait_seconds if wait_seconds is None else wait_seconds
        deadline = time.monotonic() + limit
        pause = 0.05
        while not self.try_acquire():
            if time.monotonic() >= deadline:
                holder = self._backend.read()
                who = holder.describe() if holder else "another process"
                raise LockBusy(
                    f"{self.root.uri} is locked by {who}; a run or `lakehouse watch` is "
                    f"processing files — waited {limit:.0f} s (raise [lock] wait_seconds, or "
                    f"remove _ops/{LOCK_NAME} if that process is gone)"
                )
            time.sleep(pause)
            pause = min(pause * 2, 1.0)
        return self

    def _held(self) -> bool:
        self._stop.clear()
        self._beat = threading.Thread(target=self._heartbeat, name="lakehouse-lock", daemon=True)
        self._beat.start()
        return True

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.heartbeat_seconds):
            holder = self._backend.read()
            if holder is None:  # a racing taker may have it aside for a moment: look again
                time.sleep(0.05)
                holder = self._backend.read()
            if (
                holder is None
                or holder.token != self.token
                or not self._backend.refresh(self._body())
            ):
                self.lost.set()
                event("lock_lost", root=self.root.uri)
                return

    def check(self) -> None:
        """Raise LockLost if another process took the lock over (call between steps)."""
        if self.lost.is_set():
            raise LockLost(
                f"{self.root.uri}: this run's lock was taken over by another process (its "
                "heartbeat stalled); stopping before writing more — the next run converges"
            )

    def release(self) -> None:
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


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except (OSError, IndexError):
        return False


TAKEOVER_MUTEX_SECONDS = 10.0  # a takeover takes milliseconds; an older mutex was abandoned


def _enter(mutex: str) -> bool:
    try:
        fd = os.open(mutex, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        with contextlib.suppress(FileNotFoundError):
            if time.time() - os.stat(mutex).st_mtime > TAKEOVER_MUTEX_SECONDS:
                os.unlink(mutex)
        return False
    with os.fdopen(fd, "w") as f:
        f.write(str(os.getpid()))
    return True


class _LocalBackend:
    def __init__(self, path: str) -> None:
        self.path = path

    def create(self, body: bytes) -> bool:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        return True

    def read(self) -> Holder | None:
        try:
            with open(self.path, "rb") as f:
                data = f.read()
                beat = os.fstat(f.fileno()).st_mtime
        except FileNotFoundError:
            return None
        return Holder.parse(data, beat)  # empty while being written: unknown holder, age decides

    def replace_stale(self, stale: Holder, body: bytes) -> bool:
        """Under a short-lived takeover mutex (so two takers never interleave), check the lock
        is still the stale one, move it aside, and create ours with O_EXCL."""
        mutex = f"{self.path}.takeover"
        if not _enter(mutex):
            return False
        try:
            current = self.read()
            if current is None:
                return self.create(body)
            if current.token != stale.token:
                return False
            aside = f"{self.path}.stale-{secrets.token_hex(4)}"
            os.rename(self.path, aside)
            with open(aside, "rb") as f:
                moved = Holder.parse(f.read(), 0.0)
            if moved.token != stale.token:  # released and re-taken meanwhile: put it back
                with contextlib.suppress(FileExistsError):
                    os.link(aside, self.path)
                os.unlink(aside)
                return False
            os.unlink(aside)
            return self.create(body)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(mutex)

    def refresh(self, body: bytes) -> bool:
        try:
            os.utime(self.path)
        except FileNotFoundError:
            return False
        return True

    def release(self, token: str) -> None:
        holder = self.read()
        if holder is not None and holder.token == token:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)


class _S3Backend:
    """S3 conditional writes (If-None-Match / If-Match); needs boto3 (the `aws` extra)."""

    def __init__(self, uri: str) -> None:
        try:
            self.s3 = s3_client()  # retried like every S3 request (LAKEHOUSE_S3_RETRY_SECONDS)
        except ImportError as exc:
            raise TerminalError(
                "locking an s3:// root needs boto3: pip install 'lakehouse[aws]'"
            ) from exc
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        self.bucket, self.key = bucket, key
        self.etag = ""
        self._seen = ("", "")  # (token, ETag) of the lock as last read

    def _put(self, body: bytes, **cond: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            r = self.s3.put_object(Bucket=self.bucket, Key=self.key, Body=body, **cond)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey", "412"):
                return False
            raise
        self.etag = str(r["ETag"])
        return True

    def create(self, body: bytes) -> bool:
        return self._put(body, IfNoneMatch="*")

    def read(self) -> Holder | None:
        from botocore.exceptions import ClientError

        try:
            r = self.s3.get_object(Bucket=self.bucket, Key=self.key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        holder = Holder.parse(r["Body"].read(), r["LastModified"].timestamp())
        self._seen = (holder.token, str(r["ETag"]))
        return holder

    def replace_stale(self, stale: Holder, body: bytes) -> bool:
        token, etag = self._seen
        if token != stale.token:
            return False
        return self._put(body, IfMatch=etag)

    def refresh(self, body: bytes) -> bool:
        return self._put(body, IfMatch=self.etag)

    def release(self, token: str) -> None:
        from botocore.exceptions import ClientError

        with contextlib.suppress(ClientError):
            self.s3.delete_object(Bucket=self.bucket, Key=self.key, IfMatch=self.etag)
