"""Where a landed file goes when its run ends: whether it is still in landing/ as the run read
it (a file replaced meanwhile is left for the next run), and its destination in archive/ or
quarantine/files (a rejected file's reason written beside it), never one already taken."""

from __future__ import annotations

import itertools
import json
import os

from lakehouse.log import event
from lakehouse.orchestration.results import Move
from lakehouse.store.deliveries import KEY_MAX, fit_name, version_name
from lakehouse.store.ops import KnownFile
from lakehouse.store.root import LandedFile, Root


def still_as_read(root: Root, path: str, landed: LandedFile | None) -> bool:
    """Whether `path` is still in landing/ as discovered (`landed`; None: not read, as a
    refused link, whose own entry is checked instead of its target)."""
    if landed is None:
        return os.path.lexists(path) if root.is_local else root.exists(path)
    now = root.landed(path, landed.relative)  # size, mtime and, locally, inode and ctime
    if now is None:
        return False
    if now != landed:
        event("file_changed_in_landing", file=landed.relative, action="left for the next run")
        return False
    return True


def unfinished_move(root: Root, known: KnownFile | None, relative: str) -> str | None:
    """Where the run that loaded these bytes from this landing name was to move them, when
    they are not there: that run was stopped after its manifest, before the move. The next run
    used to file them under its own `duplicates/`, and the manifest's `moved_to` led nowhere."""
    if known is None or known.status != "loaded" or known.file != relative or not known.moved_to:
        return None
    return None if root.exists(known.moved_to) else known.moved_to


SUFFIX_ROOM = len("~999.reason.json")  # a version and a reason file's suffix


class Destinations:
    """Where a run's files go: `archive/<day>/<run>/<name>` (`duplicates/<name>` for a file
    already loaded) and `quarantine/files/<run>/<name>` with `<name>.reason.json` beside it.

    A destination is never a path another file of the run already took, nor one an earlier
    attempt under the same run id left there (a retried execution), so no move replaces a
    kept file: before, a delivered `duplicates/products.csv`, a file named like another's
    `.reason.json`, or a second attempt's `products.csv` overwrote the bytes already there. A
    taken name gets the next `version_name` (`products.csv` -> `products~2.csv`); the files
    the run's folders hold already are listed once."""

    def __init__(self, root: Root, run_id: str, day: str) -> None:
        self.root, self.run_id, self.day = root, run_id, day
        folders = [("archive", day, run_id), ("quarantine", "files", run_id)]
        self.taken = {f.path for folder in folders for f in root.walk_files(*folder)}

    def archived(self, rel: str, duplicate: bool = False) -> str:
        folder = ("duplicates",) if duplicate else ()
        base = self.root.path("archive", self.day, self.run_id, *folder)
        return self._take(f"{base}/{self._fit(base, rel)}")

    def rejected(self, rel: str, path: str, reasons: list[str], detail: str) -> Move:
        """The move of a rejected file, with its reason file's body."""
        base = self.root.path("quarantine", "files", self.run_id)
        dst = self._take(f"{base}/{self._fit(base, rel)}", reason=True)
        body = {"file": rel, "run_id": self.run_id, "reasons": reasons, "detail": detail}
        return path, dst, json.dumps(body, indent=2)

    def _fit(self, base: str, rel: str) -> str:
        """`rel` as its destination below `base` names it: on S3, flattened and shortened
        (`deliveries.fit_name`) when the key would pass S3's 1,024 bytes with a version and a
        reason file's suffix. A landing key of 940-1,024 bytes loaded, then failed every run's
        archive (KeyTooLongError), the other files' moves with it."""
        if self.root.is_local:
            return rel
        room = KEY_MAX - len(base.partition("/")[2].encode()) - 1 - SUFFIX_ROOM
        if len(rel.encode()) <= room:
            return rel
        stem, ext = os.path.splitext(rel.replace("/", "~"))
        return fit_name(stem, ext, room)

    def _take(self, path: str, reason: bool = False) -> str:
        folder, _, name = path.rpartition("/")

        def paths(n: int) -> list[str]:  # the n-th version's destination (and reason file)
            dst = f"{folder}/{version_name(name, n)}"
            return [dst, reason_path(dst)] if reason else [dst]

        free = next(p for p in map(paths, itertools.count(1)) if not self.taken.intersection(p))
        self.taken.update(free)
        return free[0]


def reason_path(dst: str) -> str:
    """Where the reason of a file moved to `dst` is written."""
    folder, _, name = dst.rpartition("/")
    return f"{folder}/{fit_name(name, '.reason.json')}"


def move_file(root: Root, move: Move) -> None:
    """Write a rejected file's reason beside its destination, then move it there."""
    src, dst, reason = move
    if reason is not None:
        root.write_bytes(reason_path(dst), reason.encode())
    root.move(src, dst)
