"""The lakehouse root: zone paths and file operations on a local folder or an object store."""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
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
from lakehouse.store.deliveries import KEY_MAX, NAME_MAX, is_delivery, version_name
from lakehouse.store.s3 import delta_retry_options, s3_client, s3_filesystem

_TMP_PREFIX = ".tmp-"


@dataclass(frozen=True)
class LandedFile:
    path: str  # full path within the filesystem
    relative: str  # path below landing/, as the producer named it
    size: int
    mtime_ns: int
    #: a local file's (inode, ctime): a file replaced by a rename with the same size and mtime
    #: (`cp -p`, `rsync -t`), or rewritten and its mtime set back, is another file
    identity: tuple[int, int] | None = None


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
        _check_root(os.fspath(uri))
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

    def local_path(self, *parts: str) -> str | None:
        """`path(*parts)` when the root is a local folder (None on an object store)."""
        return self.path(*parts) if self.is_local else None

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
        only regular files and links (to files or folders) are listed; a name that is not
        UTF-8, or an S3 key with an empty segment (`a//b.csv`), is skipped with an event (no
        table can record the one, pyarrow can neither read nor move the other)."""
        base = self.path(*parts)
        if not self.is_local:
            if self.fs.get_file_info(base).type == pafs.FileType.NotFound:
                return
            for fi in self.fs.get_file_info(pafs.FileSelector(base, recursive=True)):
                if fi.type != pafs.FileType.File:
                    continue
                if "" in fi.path.split("/"):  # S3 takes `a//b`; pyarrow reads or moves it not
                    event("file_name_unusable", file=fi.path, action="skipped: an empty segment")
                    continue  # before, every run failed on it, the good files with it
                yield _object(fi, fi.path[len(base) :].lstrip("/"))
            return
        for folder, dirs, names in os.walk(base):
            # a link to a folder is listed as the link it is (the run refuses and moves it),
            # not walked: left alone, it stayed in landing/ forever
            for name in [d for d in dirs if os.path.islink(os.path.join(folder, d))] + names:
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
                except OSError as exc:  # a link loop (ELOOP); a path too long to open
                    if not os.path.islink(path):  # before, every run failed on it
                        action = f"skipped: {exc.strerror or exc}"
                        event("file_name_unusable", file=rel, action=action)
                        continue
                    st = None  # a link: listed, and refused by the run (`link_refusal`)
                if st is None or not stat.S_ISREG(st.st_mode):  # a fifo would block a reader
                    if not os.path.islink(path):
                        continue
                    st = os.lstat(path)  # listed: the run refuses it (`link_refusal`)
                yield _local(path, rel, st)

    def landed(self, path: str, relative: str) -> LandedFile | None:
        """The file at `path` as `walk_files` lists it now (None: not there): what the archive
        compares with the file as the run listed it."""
        if not self.is_local:
            info = self.fs.get_file_info(path)
            return None if info.type == pafs.FileType.NotFound else _object(info, relative)
        try:
            return _local(path, relative, os.stat(path))
        except FileNotFoundError:
            return None

    def read_bytes(self, path: str) -> bytes:
        """The file's bytes as stored. Never decompressed: pyarrow would pick a codec from the
        name (`.gz`, `.bz2`, ...), so a text file named `x.csv.gz` failed the run, and a small
        gzip bomb was inflated outside the reader sandbox and its limits."""
        with self.fs.open_input_stream(path, compression=None) as stream:
            data: bytes = stream.read()
            return data

    def write_bytes(self, path: str, data: bytes) -> None:
        self._write(path, lambda out: out.write(data))

    def _write(self, path: str, fill: Callable[[Any], object]) -> None:
        """Write `path` whole or not at all: `fill(stream)` writes the content."""
        if not self.is_local:  # an object PUT is atomic; folders need no markers
            with self.fs.open_output_stream(path, compression=None) as stream:  # as given
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
        """Move a file to a path the caller chose free (`landing.Destinations`); on a local
        disk a file found there anyway is never replaced."""
        if self.is_local:
            if os.path.lexists(dst):
                raise FileExistsError(f"{dst}: a file is there already; it is not replaced")
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
            candidate = next(c for c in _versions(dest, object_key=True) if not self.exists(c))
            with open(local_source, "rb") as src:
                self._write(candidate, lambda out: shutil.copyfileobj(src, out, 1 << 20))
            return candidate
        from botocore.exceptions import ClientError

        for candidate in _versions(dest, object_key=True):
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


def _versions(dest: str, *, object_key: bool = False) -> Iterator[str]:
    """`dest`'s versions (`version_name`), each fitting S3's key limit if `object_key` (`dest`
    is `bucket/key`): a second copy of a 1,023-byte key was refused (KeyTooLongError)."""
    folder, _, name = dest.rpartition("/")
    limit = NAME_MAX
    if object_key:
        limit = min(limit, KEY_MAX - len(folder.partition("/")[2].encode()) - 1)
    for n in itertools.count(1):
        yield f"{folder}/{version_name(name, n, limit)}"


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


def _local(path: str, relative: str, st: os.stat_result) -> LandedFile:
    return LandedFile(path, relative, st.st_size, st.st_mtime_ns, (st.st_ino, st.st_ctime_ns))


def _object(info: pafs.FileInfo, relative: str) -> LandedFile:
    return LandedFile(info.path, relative, info.size or 0, info.mtime_ns or 0)


def _check_root(uri: str) -> None:
    """A root is a local folder (or a path where one will be) or `s3://bucket[/prefix]`:
    `gs://` hung with no output, `http://` and a bare `s3://` failed in pyarrow's words, and a
    file was read as an empty lakehouse."""
    scheme = _scheme(uri)
    if scheme in ("s3", "s3a"):
        if not uri.split("://", 1)[1].strip("/"):
            raise TerminalError(f"root {uri}: name the bucket, s3://bucket[/prefix]")
    elif scheme:
        raise TerminalError(f"root {uri}: a lakehouse root is a local folder or s3://bucket/prefix")
    elif os.path.exists(path := uri.removeprefix("file://")) and not os.path.isdir(path):
        raise TerminalError(f"root {uri} is a file; a lakehouse root is a folder")


def _scheme(uri: str) -> str:
    """'' for local paths (and file://), else the URI scheme ('s3', 'gs', ...)."""
    if "://" not in uri or uri.startswith("file://"):
        return ""
    return uri.split("://", 1)[0].lower()
