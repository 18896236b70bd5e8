"""The lock file `_ops/lock`: what it records (`Holder`) and the two places it is kept — a
local file (O_EXCL, a takeover mutex) and an S3 object (conditional writes). `RunLock`
(`lakehouse.store.lock`) decides when to take, refresh and release it."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import time
from dataclasses import dataclass
from typing import Any, Protocol

from lakehouse.errors import TerminalError
from lakehouse.store.s3 import s3_client


@dataclass(frozen=True)
class Holder:
    token: str
    pid: int
    host: str
    run_id: str
    acquired_at: str
    heartbeat: float  # epoch seconds of the last refresh
    epoch: int = 0  # fencing epoch of the acquisition (0: written by an older version)

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
                int(raw.get("epoch", 0)),
            )
        except (ValueError, KeyError, TypeError):  # half-written: treat as unknown, age decides
            return cls("?", -1, "?", "", "", heartbeat)

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host} since {self.acquired_at}"

    def age(self) -> float:
        """Seconds since the holder's last heartbeat (this host's clock)."""
        return max(0.0, time.time() - self.heartbeat)


class Backend(Protocol):
    def create(self, body: bytes) -> bool: ...
    def read(self) -> Holder | None: ...
    def replace_stale(self, stale: Holder, body: bytes) -> bool: ...
    def refresh(self, body: bytes) -> bool: ...
    def release(self, token: str) -> None: ...


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


class LocalBackend:
    def __init__(self, path: str) -> None:
        self.path = path

    def create(self, body: bytes) -> bool:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(body)
                f.flush()
                os.fsync(f.fileno())
        except OSError:  # a full disk: an empty lock left behind held the root for stale_seconds
            with contextlib.suppress(OSError):
                os.remove(self.path)
            raise
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


class S3Backend:
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
