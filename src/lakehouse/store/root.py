"""The lakehouse root: zone paths and file operations on a local folder or an object store."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import itertools
import math
import os
import re
import secrets
import shutil
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs

from lakehouse.errors import TerminalError
from lakehouse.log import event

ZONES = ("bronze", "silver", "quarantine", "gold", "_ops")
NAME_MAX = 255  # bytes per path component (Linux, most filesystems); S3 keys: 1,024 in all
# a copy still being written, by us (`.tmp-*`, older releases: `name.tmp-<pid>`) or a producer
PARTIAL = re.compile(r"\.(tmp|part|partial|crdownload)(-[\w.]+)?$", re.IGNORECASE)
_TMP_PREFIX = ".tmp-"
_VERSIONED = re.compile(r"^(?P<stem>.*)~(?P<n>\d+)(?P<ext>\.[^./~]{1,15})?$")


def is_delivery(relative: str) -> bool:
    """Whether a file below landing/ is a delivery: no segment hidden ('.' or '_' first, which
    also covers our own temporary copies) and not a partial copy by its name."""
    parts = relative.split("/")
    return not any(p.startswith((".", "_")) for p in parts) and not PARTIAL.search(parts[-1])


def fit_name(name: str, suffix: str = "", limit: int = NAME_MAX) -> str:
    """`name + suffix`, shortened to `limit` UTF-8 bytes when it would not fit: the start of
    `name` is kept (so a producer still recognises it) and a hash of the whole name makes
    the result unique. Used for every name derived from a delivered one."""
    whole = name + suffix
    if len(whole.encode()) <= limit:
        return whole
    tag = "~" + hashlib.sha256(name.encode(errors="surrogateescape")).hexdigest()[:12]
    room = limit - len((tag + suffix).encode())
    head = name.encode(errors="surrogateescape")[:room].decode(errors="ignore")
    return head + tag + suffix


def arrival_order(f: LandedFile) -> tuple[int, str, int, str]:
    """Sort key of landed files by arrival: modification time, then the producer's name and
    the version (`products.csv`, `products~2.csv`, `products~10.csv`) for equal times."""
    m = _VERSIONED.match(f.relative)
    name, n = (m["stem"] + (m["ext"] or ""), int(m["n"])) if m else (f.relative, 1)
    return f.mtime_ns, name, n, f.relative


def is_inside(path: str, folder: str) -> bool:
    """Whether `path` (a local file, links resolved) lies below `folder`."""
    return os.path.realpath(path).startswith(os.path.realpath(folder).rstrip("/") + "/")


def link_refusal(path: str, folder: str, where: str) -> str | None:
    """Why a local file below `folder` (called `where` in the message) must not be read, if
    it is a symbolic link leading outside `folder` or to no regular file; else None."""
    if not os.path.islink(path):
        return None
    if not is_inside(path, folder):
        return f"symlink to outside {where}: not read"
    if not os.path.isfile(path):
        return "symlink to no regular file: not read"
    return None


def version_name(name: str, n: int) -> str:
    """The name of the n-th delivery of `name` while earlier ones are still in landing/:
    `products.csv`, `products~2.csv`, `products~3.csv`, ... The extension is kept (it tells
    the format) and so is the start of the name (it tells the entity); fits in `NAME_MAX`."""
    if n == 1:
        return name
    stem, ext = os.path.splitext(name)
    if len(ext.encode()) > 16:  # not an extension, a dotted name: version at the end
        stem, ext = name, ""
    tag = f"~{n}"
    room = NAME_MAX - len((tag + ext).encode())
    head = stem.encode(errors="surrogateescape")[:room].decode(errors="ignore")
    return head + tag + ext


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
        """Deliveries below a folder (see `is_delivery`), sorted by relative path."""
        out = [f for f in self.walk_files(*parts) if is_delivery(f.relative)]
        return sorted(out, key=lambda f: f.relative)

    def walk_files(self, *parts: str) -> Iterator[LandedFile]:
        """Every file below a folder, hidden ones too. A local folder is walked without
        following symbolic links to folders (a link loop or a link to `/` is not walked);
        only regular files and links are listed; a name that is not UTF-8 is skipped with an
        event (no table can record it)."""
        base = self.path(*parts)
        if not self.is_local:
            if self.fs.get_file_info(base).type == pafs.FileType.NotFound:
                return
            for fi in self.fs.get_file_info(pafs.FileSelector(base, recursive=True)):
                if fi.type == pafs.FileType.File:
                    rel = fi.path[len(base) :].lstrip("/")
                    yield LandedFile(fi.path, rel, fi.size or 0, fi.mtime_ns or 0)
            return
        for folder, _, names in os.walk(base):
            for name in names:
                path = os.path.join(folder, name)
                rel = os.path.relpath(path, base).replace(os.sep, "/")
                try:
                    rel.encode()
                except UnicodeEncodeError:
                    shown = os.fsencode(rel).decode(errors="backslashreplace")
                    event("file_name_not_utf8", file=shown, action="skipped: rename it")
                    continue
                try:
                    st = os.stat(path)
                except FileNotFoundError:  # a dangling link (or gone since the listing)
                    st = None
                if st is None or not stat.S_ISREG(st.st_mode):  # a fifo would block a reader
                    if not os.path.islink(path):
                        continue
                    st = os.lstat(path)  # listed: the run refuses it (`link_refusal`)
                yield LandedFile(path, rel, st.st_size, st.st_mtime_ns)

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
        tmp = self._local_tmp(path)
        try:
            with open(tmp, "wb") as stream:
                fill(stream)
            os.replace(tmp, path)
        finally:
            _remove_quietly(tmp)

    @staticmethod
    def _local_tmp(path: str) -> str:
        """A short hidden name beside `path` (its folder created): never taken for a delivery
        and never too long, whatever the length of `path`'s own name."""
        folder = os.path.dirname(path)
        os.makedirs(folder, exist_ok=True)
        return os.path.join(folder, f"{_TMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}")

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

    def copy_in(self, local_source: Path, dest: str) -> str:
        """Copy a local file in as `dest`, streamed; returns the path it was written to.

        A file already there is never replaced: when `dest` is taken (an earlier delivery of
        the same name not yet processed, or one being copied right now), the copy takes the
        next free `version_name` (`products.csv` -> `products~2.csv`). Taking a name is one
        atomic step — a hard link of the finished copy (local) or a PUT with
        `If-None-Match: *` (S3) — so two copies racing for one name both land, whole."""
        if self.is_local:
            return self._copy_in_local(local_source, dest)
        return self._copy_in_object(local_source, dest)

    def _copy_in_local(self, local_source: Path, dest: str) -> str:
        tmp = self._local_tmp(dest)
        try:
            shutil.copyfile(local_source, tmp)
            for candidate in _versions(dest):
                try:
                    os.link(tmp, candidate)
                    return candidate
                except FileExistsError:
                    continue
                except OSError as exc:  # no hard links here (some network filesystems)
                    if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV):
                        raise
                    if _claim(candidate):
                        os.replace(tmp, candidate)
                        return candidate
        finally:
            _remove_quietly(tmp)
        raise AssertionError("unreachable: the versions of a name never run out")

    def _copy_in_object(self, local_source: Path, dest: str) -> str:
        client = self._s3_client
        if client is None:  # no conditional PUT without boto3: a check, then a plain PUT
            candidate = next(c for c in _versions(dest) if not self.exists(c))
            with open(local_source, "rb") as src:
                self._write(candidate, lambda out: shutil.copyfileobj(src, out, 1 << 20))
            return candidate
        from botocore.exceptions import ClientError

        for candidate in _versions(dest):
            bucket, _, key = candidate.partition("/")
            try:
                with open(local_source, "rb") as src:
                    client.put_object(Bucket=bucket, Key=key, Body=src, IfNoneMatch="*")
                return candidate
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code not in ("PreconditionFailed", "ConditionalRequestConflict", "412"):
                    raise
        raise AssertionError("unreachable: the versions of a name never run out")


def _versions(dest: str) -> Iterator[str]:
    folder, _, name = dest.rpartition("/")
    for n in itertools.count(1):
        yield f"{folder}/{version_name(name, n)}"


def _claim(path: str) -> bool:
    """Create `path` empty if nobody has (O_EXCL): the name is ours to replace."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    except FileExistsError:
        return False
    return True


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


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
    # counted at a tenth of the ceiling: the jitter can keep every pause far below the mean
    retries = _retries_within(s3_retry_seconds(), lambda n: 0.1 * min(0.05 * 2 ** (n - 1), 20))
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
    about 1.5x with jitter, at most `MAX_S3_BACKOFF_SECONDS` between attempts. The jitter may
    keep every pause near the 100 ms floor (19 retries were spent in 3.8 s of a 4 s cut), so
    the count allows a retry every 100 ms for the whole budget."""
    budget = s3_retry_seconds()
    retries = math.ceil(budget / 0.1)
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
