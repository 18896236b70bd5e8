"""Delivery-name rules: which files below landing/ are deliveries, the names derived from
them (shortened to fit, versioned when taken), their arrival order, and links that must
not be followed."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lakehouse.store.root import LandedFile

NAME_MAX = 255  # bytes per path component (Linux, most filesystems)
KEY_MAX = 1024  # S3's limit on a key's UTF-8 bytes
# a copy still being written, by us (`.tmp-*`, older releases: `name.tmp-<pid>`) or a producer
PARTIAL = re.compile(r"\.(tmp|part|partial|crdownload)(-[\w.]+)?$", re.IGNORECASE)
_VERSIONED = re.compile(r"^(?P<stem>.*)~(?P<n>\d+)(?P<ext>\.[^./~]{1,15})?$")


def is_delivery(relative: str) -> bool:
    """Whether a file below landing/ is a delivery: no segment hidden ('.' or '_' first, which
    also covers our own temporary copies) and not a partial copy by its name."""
    parts = relative.split("/")
    return not any(p.startswith((".", "_")) for p in parts) and not PARTIAL.search(parts[-1])


#: a file of this name in a folder of landing/ holds that folder (and the folders below it) back
#: while a multi-file drop is written: neither `run` nor `watch` reads anything there
HOLD_MARKER = "_incomplete"


def held_folders(relatives: Iterable[str]) -> set[str]:
    """The folders below landing/ (relative, "" for landing/ itself) holding a `HOLD_MARKER`."""
    return {
        folder
        for folder, _, name in (r.rpartition("/") for r in relatives)
        if name.lower() == HOLD_MARKER
    }


def is_held(relative: str, held: set[str]) -> bool:
    """Whether a file below landing/ lies in (or below) a held folder (`held_folders`)."""
    folder = relative.rpartition("/")[0]
    return any(h == "" or folder == h or folder.startswith(h + "/") for h in held)


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
    it is a symbolic link leading outside `folder`, to a folder or to no regular file; else
    None."""
    if not os.path.islink(path):
        return None
    outside = not is_inside(path, folder)
    if os.path.isdir(path):
        return f"symlinked folder{f' leading outside {where}' if outside else ''}: not read"
    if outside:
        return f"symlink to outside {where}: not read"
    if not os.path.isfile(path):
        return "symlink to no regular file: not read"
    return None


def version_name(name: str, n: int, limit: int = NAME_MAX) -> str:
    """The name of the n-th delivery of `name` while earlier ones are still in landing/:
    `products.csv`, `products~2.csv`, `products~3.csv`, ... The extension is kept (it tells
    the format) and so is the start of the name (it tells the entity); fits in `limit` bytes
    (`NAME_MAX`; on S3, less when the key's folder leaves less of `KEY_MAX`)."""
    if n == 1 and len(name.encode()) <= limit:
        return name
    stem, ext = os.path.splitext(name)
    if len(ext.encode()) > 16:  # not an extension, a dotted name: version at the end
        stem, ext = name, ""
    if n == 1:
        return fit_name(stem, ext, limit)
    tag = f"~{n}"
    room = limit - len((tag + ext).encode())
    head = stem.encode(errors="surrogateescape")[:room].decode(errors="ignore")
    return head + tag + ext
