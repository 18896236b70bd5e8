"""Vacuum and log upkeep: delete files older than the retention, checkpoint, expire old commits.

Vacuum first runs dry to count the files and bytes it would delete, then deletes them. The log
is kept fast to read: table properties (`delta.checkpointInterval`, `delta.logRetentionDuration`,
`delta.deletedFileRetentionDuration`) make both engines checkpoint and expire on their own, and
each vacuum also writes a checkpoint at the current version and removes expired commit files.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pyarrow.fs as pafs
from deltalake import DeltaTable
from deltalake.exceptions import CommitFailedError

from lakehouse.errors import RetryableError
from lakehouse.maintenance.settings import MaintenanceSettings
from lakehouse.store.delta import CommitInfo, open_table
from lakehouse.store.root import Root
from lakehouse.store.tables import split_name

LOG_DIR = "_delta_log"


@dataclass
class VacuumResult:
    table: str
    retention_hours: int
    dry_run: bool
    files_removed: int = 0  # would be removed, on a dry run
    bytes_removed: int = 0
    properties_set: dict[str, str] | None = None
    checkpoint_version: int | None = None
    log_files_before: int = 0
    log_files_after: int = 0
    versions: tuple[int, ...] = ()  # Delta versions committed (VACUUM START/END, properties)
    seconds: float = 0.0


def vacuum_table(
    root: Root,
    name: str,
    *,
    run_id: str,
    settings: MaintenanceSettings,
    retention_hours: int | None = None,
    force: bool = False,
    dry_run: bool = False,
    full: bool = False,
    tidy_log: bool = True,
) -> VacuumResult:
    """Delete the files `zone.table` stopped using more than `retention_hours` ago.

    Below the time-travel promise the call is refused unless `force`. `full` also deletes
    files no version references at all (left by failed writes, or removed so long ago that the
    log no longer lists them), which lists every file of the table. With `tidy_log` the log
    properties are set (when they differ), a checkpoint is written and expired commits removed.
    """
    began = time.perf_counter()
    hours = settings.retention_hours if retention_hours is None else retention_hours
    settings.check_retention(hours, force=force)
    zone, table = split_name(name)
    dt = open_table(root, zone, table)
    first = int(dt.version())
    result = VacuumResult(name, hours, dry_run)
    base = root.path(zone, table)
    sizes = file_sizes(root, base)
    commit = CommitInfo(run_id, "vacuum", extra={"retention_hours": hours})
    try:
        doomed = _vacuum(dt, hours, force, full, dry_run=True, commit=commit)
        result.files_removed = len(doomed)
        result.bytes_removed = sum(sizes.get(p, 0) for p in doomed)
        if not dry_run and doomed:
            removed = _vacuum(dt, hours, force, full, dry_run=False, commit=commit)
            result.files_removed = len(removed)
            result.bytes_removed = sum(sizes.get(p, 0) for p in removed)
        if tidy_log and not dry_run:
            result.log_files_before = count_log_files(root, base)
            result.properties_set = configure_log(dt, settings, commit)
            checkpoint_log(dt, result)
            result.log_files_after = count_log_files(root, base)
    except CommitFailedError as exc:
        raise RetryableError(
            f"{name}: vacuum conflicted with a concurrent commit ({exc}); run it again"
        ) from exc
    result.versions = tuple(range(first + 1, int(dt.version()) + 1))
    result.seconds = time.perf_counter() - began
    return result


def _vacuum(
    dt: DeltaTable, hours: int, force: bool, full: bool, *, dry_run: bool, commit: CommitInfo
) -> list[str]:
    return list(
        dt.vacuum(
            retention_hours=hours,
            dry_run=dry_run,
            enforce_retention_duration=not force,
            full=full,
            commit_properties=commit.properties(),
        )
    )


def checkpoint_log(dt: DeltaTable, result: VacuumResult) -> None:
    """Write a checkpoint at the current version and remove expired commit files (delta-rs,
    after either engine's vacuum: both read the same checkpoints)."""
    dt.create_checkpoint()
    dt.cleanup_metadata()
    result.checkpoint_version = int(dt.version())


def configure_log(
    dt: DeltaTable, settings: MaintenanceSettings, commit: CommitInfo | None = None
) -> dict[str, str]:
    """Set the log properties that differ from the settings (one commit); return those set."""
    changed = log_properties_to_set(dt, settings)
    if changed:
        dt.alter.set_table_properties(
            changed, commit_properties=commit.properties() if commit else None
        )
    return changed


def log_properties_to_set(dt: DeltaTable, settings: MaintenanceSettings) -> dict[str, str]:
    """The settings' log properties the table does not have yet (with their values)."""
    current = dict(dt.metadata().configuration)
    return {k: v for k, v in settings.log_properties().items() if current.get(k) != v}


def count_log_files(root: Root, table_base: str) -> int:
    """Commit and checkpoint files in the table's `_delta_log` (what a cold reader may list)."""
    selector = pafs.FileSelector(f"{table_base}/{LOG_DIR}", allow_not_found=True)
    return sum(1 for fi in root.fs.get_file_info(selector) if fi.type == pafs.FileType.File)


def file_sizes(root: Root, table_base: str) -> dict[str, int]:
    """Size of every file below the table folder, by path relative to it (one listing)."""
    selector = pafs.FileSelector(table_base, recursive=True, allow_not_found=True)
    cut = len(table_base) + 1
    return {
        fi.path[cut:]: int(fi.size or 0)
        for fi in root.fs.get_file_info(selector)
        if fi.type == pafs.FileType.File and not fi.path[cut:].startswith(LOG_DIR)
    }
