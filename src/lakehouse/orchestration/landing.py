"""Where a landed file goes when its run ends: whether it is still in landing/ as the run read
it (a file replaced meanwhile is left for the next run), and a rejected file's move to
quarantine/files with the reason written beside it."""

from __future__ import annotations

import json
import os

import pyarrow.fs as pafs

from lakehouse.log import event
from lakehouse.orchestration.results import Move
from lakehouse.store.root import LandedFile, Root


def still_as_read(root: Root, path: str, landed: LandedFile | None) -> bool:
    """Whether `path` is still in landing/ as discovered (`landed`; None: not read, as a
    refused link, whose own entry is checked instead of its target)."""
    if landed is None:
        return os.path.lexists(path) if root.is_local else root.exists(path)
    info = root.fs.get_file_info(path)
    if info.type == pafs.FileType.NotFound:
        return False
    if (info.size, info.mtime_ns) != (landed.size, landed.mtime_ns):
        event("file_changed_in_landing", file=landed.relative, action="left for the next run")
        return False
    return True


def reject_move(
    root: Root, run_id: str, rel: str, path: str, reasons: list[str], detail: str
) -> Move:
    dst = root.path("quarantine", "files", run_id, rel)
    body = json.dumps(
        {"file": rel, "run_id": run_id, "reasons": reasons, "detail": detail}, indent=2
    )
    return path, dst, body
