"""The lakehouse root: zone paths and file operations on a local folder or an object store."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pyarrow.fs as pafs

ZONES = ("bronze", "silver", "quarantine", "gold", "_ops")


@dataclass(frozen=True)
class LandedFile:
    path: str  # full path within the filesystem
    relative: str  # path below landing/, as the producer named it
    size: int
    mtime_ns: int


class Root:
    """A lakehouse root (`./lakehouse`, `/abs/path` or `s3://bucket/prefix`)."""

    def __init__(self, uri: str | os.PathLike[str]) -> None:
        text = os.fspath(uri)
        if "://" not in text:
            text = str(Path(text).expanduser().resolve())
        self.uri = text.rstrip("/")

    @property
    def is_local(self) -> bool:
        return "://" not in self.uri or self.uri.startswith("file://")

    @cached_property
    def _fs_and_base(self) -> tuple[pafs.FileSystem, str]:
        if self.is_local:
            return pafs.LocalFileSystem(), self.uri.removeprefix("file://")
        fs, base = pafs.FileSystem.from_uri(self.uri)
        return fs, base.rstrip("/")

    @property
    def fs(self) -> pafs.FileSystem:
        return self._fs_and_base[0]

    def path(self, *parts: str) -> str:
        """Filesystem path (no scheme) for use with `fs`."""
        return "/".join([self._fs_and_base[1], *parts])

    def table_uri(self, zone: str, name: str) -> str:
        return f"{self.uri}/{zone}/{name}"

    def storage_options(self) -> dict[str, str] | None:
        """delta-rs object-store options taken from the environment (endpoint, region, http)."""
        if self.is_local:
            return None
        opts: dict[str, str] = {}
        for env, key in (
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
        return opts

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
        self.fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
        tmp = f"{path}.tmp-{os.getpid()}"
        with self.fs.open_output_stream(tmp) as stream:
            stream.write(data)
        self.fs.move(tmp, path)

    def exists(self, path: str) -> bool:
        return bool(self.fs.get_file_info(path).type != pafs.FileType.NotFound)

    def move(self, src: str, dst: str) -> None:
        self.fs.create_dir(dst.rsplit("/", 1)[0], recursive=True)
        if self.is_local:
            self.fs.move(src, dst)
        else:  # object stores have no rename: copy, then delete
            self.fs.copy_file(src, dst)
            self.fs.delete_file(src)

    def copy_in(self, local_source: Path, dest: str) -> None:
        self.write_bytes(dest, local_source.read_bytes())
