"""The lakehouse root: zone paths and file operations on a local folder or an object store."""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs

from lakehouse.errors import TerminalError

ZONES = ("bronze", "silver", "quarantine", "gold", "_ops")


@dataclass(frozen=True)
class LandedFile:
    path: str  # full path within the filesystem
    relative: str  # path below landing/, as the producer named it
    size: int
    mtime_ns: int


class Root:
    """A lakehouse root (`./lakehouse`, `/abs/path` or `s3://bucket/prefix`).

    `landing` and `archive` may live elsewhere on the same kind of storage (on AWS: their own
    buckets): pass them, or set `LAKEHOUSE_LANDING` / `LAKEHOUSE_ARCHIVE`; default
    `ROOT/landing` and `ROOT/archive`.
    """

    def __init__(
        self,
        uri: str | os.PathLike[str],
        *,
        landing: str | os.PathLike[str] | None = None,
        archive: str | os.PathLike[str] | None = None,
    ) -> None:
        self.uri = _normalise(uri)
        self.areas: dict[str, str] = {}
        for area, given, env in (
            ("landing", landing, "LAKEHOUSE_LANDING"),
            ("archive", archive, "LAKEHOUSE_ARCHIVE"),
        ):
            value = given if given is not None else os.environ.get(env) or None
            if value is None:
                continue
            area_uri = _normalise(value)
            if _scheme(area_uri) != _scheme(self.uri):
                kind = f"{_scheme(self.uri)}://" if _scheme(self.uri) else "a local folder"
                raise TerminalError(
                    f"{area} {area_uri} and root {self.uri} must be on the same storage (the "
                    f"root is {kind}); set {env} or the {area} location accordingly"
                )
            self.areas[area] = area_uri

    @property
    def is_local(self) -> bool:
        return _scheme(self.uri) == ""

    @cached_property
    def fs(self) -> pafs.FileSystem:
        if self.is_local:
            return pafs.LocalFileSystem()
        if _scheme(self.uri) in ("s3", "s3a"):
            return s3_filesystem()
        fs, _ = pafs.FileSystem.from_uri(self.uri)
        return fs

    def _base(self, uri: str) -> str:
        if self.is_local:
            return uri.removeprefix("file://")
        return uri.split("://", 1)[1].rstrip("/")

    def path(self, *parts: str) -> str:
        """Filesystem path (no scheme) for use with `fs`; `landing`/`archive` may be elsewhere."""
        if parts and parts[0] in self.areas:
            return "/".join([self._base(self.areas[parts[0]]), *parts[1:]])
        return "/".join([self._base(self.uri), *parts])

    def table_uri(self, zone: str, name: str) -> str:
        return f"{self.uri}/{zone}/{name}"

    def storage_options(self) -> dict[str, str] | None:
        """delta-rs object-store options from the environment (endpoint, region, http).

        Commits on S3 are made safe by S3 conditional writes (`If-None-Match: *` on the next
        `_delta_log/NNN.json`, object_store's `conditional_put`): of two writers racing for one
        version exactly one wins, the other re-reads the log and retries or fails. Unsafe
        renames are refused. Credentials are read by delta-rs from the usual AWS variables.
        """
        if self.is_local:
            return None
        unsafe = os.environ.get("AWS_S3_ALLOW_UNSAFE_RENAME", "").strip().lower()
        if unsafe in ("1", "true", "yes", "on"):
            raise TerminalError(
                "AWS_S3_ALLOW_UNSAFE_RENAME is set: concurrent commits could overwrite each "
                "other; unset it — lakehouse commits to S3 with conditional writes (docs/aws.md)"
            )
        opts: dict[str, str] = {}
        for env, key in (
            ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"),
            ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL"),
            ("AWS_REGION", "AWS_REGION"),
            ("AWS_DEFAULT_REGION", "AWS_REGION"),
            ("AWS_ALLOW_HTTP", "AWS_ALLOW_HTTP"),
            ("AWS_CONDITIONAL_PUT", "conditional_put"),
        ):
            if os.environ.get(env) and key not in opts:
                opts[key] = os.environ[env]
        if opts.get("AWS_ENDPOINT_URL", "").startswith("http://"):
            opts.setdefault("AWS_ALLOW_HTTP", "true")
        opts.setdefault("conditional_put", "etag")
        return opts | delta_retry_options()

    # --- files -------------------------------------------------------------
    def list_files(self, *parts: str) -> list[LandedFile]:
        """Files below a folder, sorted by relative path; names starting with '.' or '_' skipped."""
        base = self.path(*parts)
        info = self.fs.get_file_info(base)
        if info.type == pafs.FileType.NotFound:
            return []
        out = []
        for fi in self.fs.get_file_info(pafs.FileSelector(base, recursive=True)):
            if fi.type != pafs.FileType.File:
                continue
            rel = fi.path[len(base) :].lstrip("/")
            if any(seg.startswith((".", "_")) for seg in rel.split("/")):
                continue
            out.append(LandedFile(fi.path, rel, fi.size or 0, fi.mtime_ns or 0))
        return sorted(out, key=lambda f: f.relative)

    def read_bytes(self, path: str) -> bytes:
        with self.fs.open_input_stream(path) as stream:
            data: bytes = stream.read()
            return data

    def write_bytes(self, path: str, data: bytes) -> None:
        self._write(path, lambda out: out.write(data))

    def _write(self, path: str, fill: Callable[[Any], object]) -> None:
        """Write `path` whole or not at all: `fill(stream)` writes the content."""
        if not self.is_local:  # an object PUT is atomic; folders need no markers
            with self.fs.open_output_stream(path) as stream:
                fill(stream)
            return
        self.fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
        tmp = f"{path}.tmp-{os.getpid()}"
        with self.fs.open_output_stream(tmp) as stream:
            fill(stream)
        self.fs.move(tmp, path)

    def exists(self, path: str) -> bool:
        return bool(self.fs.get_file_info(path).type != pafs.FileType.NotFound)

    def move(self, src: str, dst: str) -> None:
        if self.is_local:
            self.fs.create_dir(dst.rsplit("/", 1)[0], recursive=True)
            self.fs.move(src, dst)
        else:  # object stores have no rename: copy, then delete (a retry repeats both)
            self.fs.copy_file(src, dst)
            self.delete(src)

    def delete(self, path: str) -> None:
        """Delete one file. On S3 with boto3 at hand, a plain DeleteObject: pyarrow would put
        an empty folder marker in place of the last file of a folder (a write the landing
        area must not need, and an `Object Created` event for the trigger)."""
        client = self._s3_client if _scheme(self.uri) in ("s3", "s3a") else None
        if client is None:
            self.fs.delete_file(path)
            return
        bucket, _, key = path.partition("/")
        client.delete_object(Bucket=bucket, Key=key)

    @cached_property
    def _s3_client(self) -> Any:
        try:
            return s3_client()
        except ImportError:
            return None

    def copy_in(self, local_source: Path, dest: str) -> None:
        """Copy a local file in, streamed (a large delivery is never held in memory)."""
        with open(local_source, "rb") as src:
            self._write(dest, lambda out: shutil.copyfileobj(src, out, 1 << 20))


def _normalise(uri: str | os.PathLike[str]) -> str:
    text = os.fspath(uri)
    if "://" not in text:
        text = str(Path(text).expanduser().resolve())
    return text.rstrip("/")


def _scheme(uri: str) -> str:
    """'' for local paths (and file://), else the URI scheme ('s3', 'gs', ...)."""
    if "://" not in uri or uri.startswith("file://"):
        return ""
    return uri.split("://", 1)[0].lower()


def s3_filesystem() -> pafs.S3FileSystem:
    """pyarrow's S3 filesystem configured like delta-rs: endpoint and region from the
    environment (`AWS_ENDPOINT_URL[_S3]`, `AWS_REGION`/`AWS_DEFAULT_REGION`); credentials by
    the AWS SDK's usual chain; requests retried for `LAKEHOUSE_S3_RETRY_SECONDS`."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    kwargs: dict[str, str] = {}
    if region:
        kwargs["region"] = region
    if endpoint:
        scheme, _, host = endpoint.partition("://")
        kwargs["endpoint_override"] = host.rstrip("/") if host else scheme
        kwargs["scheme"] = scheme if host else "https"
    # the AWS SDK's default strategy pauses 50 ms, 100 ms, 200 ms, ... (25 ms * 2^n)
    retries = _retries_within(s3_retry_seconds(), lambda n: 0.025 * 2**n)
    strategy = pafs.AwsDefaultS3RetryStrategy(max_attempts=retries)
    return pafs.S3FileSystem(retry_strategy=strategy, **kwargs)


def s3_client() -> Any:
    """A boto3 S3 client (endpoint, region, credentials: the usual environment) whose requests
    are retried for `LAKEHOUSE_S3_RETRY_SECONDS` in botocore's `standard` mode (connection
    errors, 5xx and throttling). Raises ImportError without boto3 (the `aws` extra)."""
    import boto3
    from botocore.config import Config

    # standard mode pauses rand(0, 1) * min(50 ms * 2^(n-1), 20 s) before retry n
    retries = _retries_within(s3_retry_seconds(), lambda n: 0.5 * min(0.05 * 2 ** (n - 1), 20))
    config = Config(retries={"mode": "standard", "max_attempts": 1 + retries})
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    return boto3.client("s3", endpoint_url=endpoint or None, config=config)


S3_RETRY_ENV = "LAKEHOUSE_S3_RETRY_SECONDS"
DEFAULT_S3_RETRY_SECONDS = 30.0
MAX_S3_BACKOFF_SECONDS = 5.0  # delta-rs: keep probing at least this often while retrying


def s3_retry_seconds() -> float:
    """How long one object-store request is retried (connection refused or reset, timeouts,
    5xx, 503 SlowDown) before the error reaches the pipeline: `LAKEHOUSE_S3_RETRY_SECONDS`,
    default 30 s (a network cut of a few seconds is ridden out; the libraries' own defaults
    gave up after 2.3 s). 0 turns retries off."""
    raw = os.environ.get(S3_RETRY_ENV, "").strip()
    if not raw:
        return DEFAULT_S3_RETRY_SECONDS
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 <= value <= 3600):
        raise TerminalError(
            f"{S3_RETRY_ENV}={raw!r}: expected a number of seconds from 0 to 3600 (how long an "
            "S3 request is retried); unset it for the default of "
            f"{DEFAULT_S3_RETRY_SECONDS:g} s"
        )
    return value


def delta_retry_options() -> dict[str, str]:
    """delta-rs (object_store) retry options for `s3_retry_seconds()`: the time budget bounds
    the retries (`retry_timeout`); the count only backs it up. Backoff: 100 ms, growing by
    about 1.5x with jitter, at most `MAX_S3_BACKOFF_SECONDS` between attempts."""
    budget = s3_retry_seconds()
    retries = _retries_within(budget, lambda n: min(MAX_S3_BACKOFF_SECONDS, 0.1 * 1.5**n) / 2)
    return {
        "max_retries": str(retries),
        "retry_timeout": f"{budget:g}s",
        "backoff_config.init_backoff": "100ms",
        "backoff_config.max_backoff": f"{MAX_S3_BACKOFF_SECONDS:g}s",
        "backoff_config.base": "2",
    }


def _retries_within(budget: float, pause: Callable[[int], float], cap: int = 100) -> int:
    """How many retries a client needs for its pauses (`pause(n)` before retry n, n >= 1) to
    add up to `budget` seconds: the retry count that rides out a cut that long."""
    total, retries = 0.0, 0
    while total < budget and retries < cap:
        retries += 1
        total += pause(retries)
    return retries
