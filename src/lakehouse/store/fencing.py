"""Fencing: a writer that lost the root's lock commits nothing — the rule for both engines.

The lock (`lakehouse.store.lock`) serialises runs, but its holder can be paused (a suspended laptop,
a VM or GC pause, a network partition) past `stale_seconds`, be taken over, and resume in the
middle of a step. Checking the lock between steps leaves that step free to commit. Three checks
close it, all here, used by every commit path through `lakehouse.store.delta`:

1. **Lease** — the holder's last confirmed heartbeat must be younger than its lease (two
   thirds of `stale_seconds` at most, on a clock that counts suspended time). Checked when a
   table is opened and again when a commit's metadata is built, i.e. right before the commit.
2. **Epoch stamp** — every acquisition carries a fencing epoch, higher than the one it took
   over. A run that takes a lock *over* first writes its epoch into every existing table's
   configuration (`lakehouse.writer_epoch`, one metadata-only commit per table; normal runs
   pay nothing). Delta's optimistic concurrency then refuses any commit built on a snapshot
   older than the stamp — delta-rs: "Metadata changed since last commit" for append, merge,
   update, delete and overwrite alike; delta-spark: `MetadataChangedException` — so a writer
   paused *between* its check and its commit is refused by the storage itself.
3. **Epoch check** — a table opened after a stamp carries an epoch newer than a stalled
   writer's: it refuses at open. A run that still holds the lock (clock skew between hosts
   can make a fresh epoch look older) is not refused: the lock file, not the clock, decides.

Tables created by a fenced run carry its epoch from version 0.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Protocol

from lakehouse.errors import TerminalError
from lakehouse.log import event

if TYPE_CHECKING:
    from deltalake import DeltaTable

    from lakehouse.store.root import Root

EPOCH_KEY = "lakehouse.writer_epoch"


class LockLost(TerminalError):
    """This process no longer holds the root's lock (taken over, or its heartbeat failed):
    it commits nothing more; the run is recorded FAILED by the next holder."""


class Fence(Protocol):
    """What a lock holder offers the commit paths (`lakehouse.store.lock.RunLock`)."""

    @property
    def epoch(self) -> int: ...

    def check(self) -> None:
        """Raise LockLost unless the lock is held and its lease is valid."""
        ...

    def still_holds(self) -> bool:
        """Ask the storage whether the lock file still names this holder."""
        ...


_held: dict[str, Fence] = {}
_guard = threading.Lock()


def hold(root: Root, fence: Fence) -> None:
    with _guard:
        _held[root.uri] = fence


def drop(root: Root, fence: Fence) -> None:
    with _guard:
        if _held.get(root.uri) is fence:
            del _held[root.uri]


def active(root: Root) -> Fence | None:
    with _guard:
        return _held.get(root.uri)


def check_leases() -> None:
    """Right before a commit: every lock this process holds must still be valid (a process
    holds one root's lock at a time; a commit's metadata does not say which root)."""
    with _guard:
        fences = list(_held.values())
    for fence in fences:
        fence.check()


def table_epoch(table: DeltaTable) -> int:
    raw = table.metadata().configuration.get(EPOCH_KEY) or "0"
    try:
        return int(raw)
    except ValueError:
        return 0


def guard(root: Root, table: DeltaTable, name: str) -> None:
    """On a table snapshot this process may commit on: the lease holds and no newer writer
    has stamped the table."""
    fence = active(root)
    if fence is None:
        return
    fence.check()
    stamped = table_epoch(table)
    if stamped <= fence.epoch:
        return
    if fence.still_holds():
        event("fence_epoch_ahead", table=name, table_epoch=stamped, own_epoch=fence.epoch)
        return
    raise LockLost(
        f"{name} was fenced by a newer lock holder (epoch {stamped} > this run's {fence.epoch}) "
        f"and {root.uri}/_ops/lock no longer names this run: it commits nothing more; the "
        "next run converges"
    )


def epoch_configuration(root: Root) -> dict[str, str]:
    """Table configuration a new table gets: the creating run's epoch, when it holds a lock."""
    fence = active(root)
    return {EPOCH_KEY: str(fence.epoch)} if fence is not None else {}


def stamp_tables(root: Root, run_id: str) -> list[str]:
    """After a takeover, before any other commit: stamp this holder's epoch into every table
    (metadata-only commits). Returns the tables stamped."""
    from lakehouse.store.delta import CommitInfo, open_table, retry_conflicts
    from lakehouse.store.tables import list_tables

    fence = active(root)
    if fence is None:
        return []
    epoch = fence.epoch
    info = CommitInfo(run_id, "fence", extra={"writer_epoch": str(epoch)})
    stamped = []
    for name in list_tables(root):
        zone, table = name.split(".", 1)

        def stamp(zone: str = zone, table: str = table) -> bool:
            dt_ = open_table(root, zone, table)
            if table_epoch(dt_) >= epoch:
                return False
            dt_.alter.set_table_properties(
                {EPOCH_KEY: str(epoch)},
                raise_if_not_exists=False,
                commit_properties=info.properties(),
            )
            return True

        if retry_conflicts(stamp):
            stamped.append(name)
    event("tables_fenced", root=root.uri, epoch=epoch, tables=len(stamped))
    return stamped
