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

from lakehouse.config.bounds import AT_LEAST_ONE, POSITIVE, Bounds, number
from lakehouse.errors import TerminalError

if TYPE_CHECKING:
    from lakehouse.store.root import Root

TIME_TRAVEL_PROMISE_HOURS = 168  # 7 days; docs/maintenance.md "Time travel promise"
TEN_YEARS_HOURS = 87_600  # the longest retention taken
ENV_PREFIX = "LAKEHOUSE__MAINTENANCE__"
MiB = 1024 * 1024


class RetentionRefused(TerminalError):
    """A retention shorter than the time-travel promise was asked for without --force."""


@dataclass(frozen=True)
class MaintenanceSettings:
    """How tables are kept fast and small; every field can be set from the environment."""

    # vacuum: keep removed files this long; below the promise only for one `vacuum --force`
    # (a setting below it failed every run's maintenance, after its data was in), and at most
    # ten years (a larger span overflowed delta-rs: a panic, the run left RUNNING)
    retention_hours: int = number(
        TIME_TRAVEL_PROMISE_HOURS, Bounds(TIME_TRAVEL_PROMISE_HOURS, TEN_YEARS_HOURS)
    )
    # delta.logRetentionDuration: keep commit files this long; time travel needs them too
    log_retention_days: int = number(
        30, Bounds(-(-TIME_TRAVEL_PROMISE_HOURS // 24), TEN_YEARS_HOURS // 24)
    )
    checkpoint_interval: int = number(100, AT_LEAST_ONE)  # delta.checkpointInterval
    target_file_size: int = number(128 * MiB, AT_LEAST_ONE)  # optimize: bin-pack up to this
    min_small_files: int = number(5, AT_LEAST_ONE)  # a partition with this many smaller files
    row_group_rows: int = number(128 * 1024, AT_LEAST_ONE)  # rows per row group (compacting)
    zorder_row_group_rows: int = number(16 * 1024, AT_LEAST_ONE)  # ... when Z-ordering
    commits_between: int = number(100, AT_LEAST_ONE)  # maintenance is due after N commits ...
    interval_hours: float = number(24.0, POSITIVE)  # ... or this long after the last one

    def __post_init__(self) -> None:
        """Each field within its bounds however the settings were made (`load` checks them
        too, naming the file or variable a value came from)."""
        for f in dataclasses.fields(self):
            value, bounds = getattr(self, f.name), f.metadata["bounds"]
            if not bounds.allows(value):
                raise TerminalError(f"maintenance.{f.name} = {value} is refused; must be {bounds}")

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
        return {
            "delta.checkpointInterval": str(self.checkpoint_interval),
            "delta.logRetentionDuration": f"interval {self.log_retention_days} days",
            "delta.deletedFileRetentionDuration": f"interval {self.retention_hours} hours",
        }
