"""Maintenance settings: the `[maintenance]` section of `lakehouse.config` (defaults <
`lakehouse.toml` < `LAKEHOUSE__MAINTENANCE__<KEY>` environment variables).

The one promise they must keep is written in docs/maintenance.md: every version of every table
stays readable by time travel for at least `TIME_TRAVEL_PROMISE_HOURS`. A vacuum retention or a
log retention below it is refused unless forced.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lakehouse.errors import TerminalError

if TYPE_CHECKING:
    from lakehouse.store.root import Root

TIME_TRAVEL_PROMISE_HOURS = 168  # 7 days; docs/maintenance.md "Time travel promise"
ENV_PREFIX = "LAKEHOUSE__MAINTENANCE__"
MiB = 1024 * 1024


class RetentionRefused(TerminalError):
    """A retention shorter than the time-travel promise was asked for without --force."""


@dataclass(frozen=True)
class MaintenanceSettings:
    """How tables are kept fast and small; every field can be set from the environment."""

    retention_hours: int = TIME_TRAVEL_PROMISE_HOURS  # vacuum: keep removed files this long
    log_retention_days: int = 30  # delta.logRetentionDuration: keep commit files this long
    checkpoint_interval: int = 100  # delta.checkpointInterval: a checkpoint every N commits
    target_file_size: int = 128 * MiB  # optimize: bin-pack files up to about this size
    min_small_files: int = 5  # a partition is optimized when it has this many smaller files
    row_group_rows: int = 128 * 1024  # rows per row group when compacting only
    zorder_row_group_rows: int = 16 * 1024  # ... when Z-ordering: small, so groups can be skipped
    commits_between: int = 100  # maintenance is due after this many commits ...
    interval_hours: float = 24.0  # ... or this long after the last one, if anything changed

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value <= 0:
                raise TerminalError(
                    f"maintenance setting {f.name} must be positive, got {value}; "
                    f"fix {ENV_PREFIX}{f.name.upper()}"
                )

    @classmethod
    def load(cls, root: Root | None = None) -> MaintenanceSettings:
        """The `[maintenance]` section of the lakehouse settings (`lakehouse.config`: defaults <
        `lakehouse.toml` < environment)."""
        from lakehouse.config import loader

        return loader.load(root).maintenance

    def with_overrides(self, **changes: Any) -> MaintenanceSettings:
        """A copy with the given fields changed (None leaves a field as it is)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def check_retention(self, hours: int, *, force: bool = False) -> None:
        """Refuse a vacuum retention shorter than the time-travel promise unless forced."""
        if hours < TIME_TRAVEL_PROMISE_HOURS and not force:
            raise RetentionRefused(
                f"retention {hours:g} h is below the time-travel promise of "
                f"{TIME_TRAVEL_PROMISE_HOURS} h (docs/maintenance.md): versions readers were "
                "promised would lose their files; use a longer --retention-hours, or --force "
                "if you accept that"
            )

    def log_properties(self) -> dict[str, str]:
        """Delta table properties that keep the log short and fast to read (both engines)."""
        if self.log_retention_days * 24 < TIME_TRAVEL_PROMISE_HOURS:
            raise RetentionRefused(
                f"{ENV_PREFIX}LOG_RETENTION_DAYS={self.log_retention_days} is below the "
                f"time-travel promise of {TIME_TRAVEL_PROMISE_HOURS} h; time travel needs the "
                "commit files too — raise it to at least "
                f"{-(-TIME_TRAVEL_PROMISE_HOURS // 24)} days"
            )
        return {
            "delta.checkpointInterval": str(self.checkpoint_interval),
            "delta.logRetentionDuration": f"interval {self.log_retention_days} days",
            "delta.deletedFileRetentionDuration": f"interval {self.retention_hours} hours",
        }
