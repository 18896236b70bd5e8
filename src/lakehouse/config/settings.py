"""The settings, typed: one frozen dataclass per section (`Settings` holds them all), the range
each number setting accepts (`Bounds`, declared with `number`), and `Secret` for values never
shown. `lakehouse.config.loader` fills them from the layers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, get_args

from lakehouse.config.bounds import AT_LEAST_ONE, POSITIVE, SHARE, Bounds, number
from lakehouse.maintenance.settings import MaintenanceSettings

if TYPE_CHECKING:
    from lakehouse.contracts import Contract


class Secret:
    """A value never shown in logs, reprs or `lakehouse status`; `reveal()` where it is used."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class PipelineSettings:
    max_parallel: int = number(2, AT_LEAST_ONE)
    # rows of one entity held in memory at once: a run with more is written to bronze as it is
    # read and validated and merged into silver in chunks of about this many rows
    chunk_rows: int = number(1_000_000, AT_LEAST_ONE)


@dataclass(frozen=True)
class TableObjective:
    freshness_minutes: float | None = None  # None: the contract's `freshness_minutes`
    max_reject_rate: float | None = number(None, SHARE)  # None: the contract's own


@dataclass(frozen=True)
class SlaSettings:
    max_run_seconds: float = 900.0
    tables: Mapping[str, TableObjective] = field(default_factory=dict)

    def freshness_minutes(self, entity: str, contract: Contract | None) -> float:
        own = self.tables.get(entity, TableObjective()).freshness_minutes
        return own if own is not None else float(contract.freshness_minutes if contract else 1440)

    def max_reject_rate(self, entity: str, contract: Contract | None) -> float:
        own = self.tables.get(entity, TableObjective()).max_reject_rate
        return own if own is not None else float(contract.max_reject_rate if contract else 0.05)


@dataclass(frozen=True)
class ModelBudget:
    staleness_minutes: float | None = None  # None: `[gold] staleness_minutes`


@dataclass(frozen=True)
class GoldSettings:
    staleness_minutes: float = 15.0
    models: Mapping[str, ModelBudget] = field(default_factory=dict)

    def budget(self, model: str) -> dt.timedelta:
        """How long a `freshness = "budget"` model may lag silver (0: refreshed every run)."""
        own = self.models.get(model, ModelBudget()).staleness_minutes
        return dt.timedelta(minutes=self.staleness_minutes if own is None else own)


@dataclass(frozen=True)
class LockSettings:
    stale_seconds: float = number(60.0, POSITIVE)
    heartbeat_seconds: float = number(5.0, POSITIVE)
    wait_seconds: float = 900.0  # 0: try once, do not wait


@dataclass(frozen=True)
class WatchSettings:
    poll_seconds: float = number(0.25, POSITIVE)
    stable_polls: int = number(2, AT_LEAST_ONE)
    # and not modified for this long (0: the looks alone), for producers that write in place
    settle_seconds: float = 0.0
    batch_window_seconds: float = 0.5  # 0: a run per complete file
    idle_check_seconds: float = 60.0  # 0: no freshness checks between runs
    events: bool = True  # filesystem events (watchdog) for local roots; polling otherwise


@dataclass(frozen=True)
class IntakeSettings:
    """Limits on one delivered file, checked before and while it is read.

    Untrusted files are read in a child process (`lakehouse.ingest.sandbox`) whose memory and
    time are capped, so a file that defeats its reader (native abort, out-of-memory, endless
    loop) is rejected with `unreadable_file` naming the limit instead of taking the run down.
    The defaults suit 2 cores / 24 GiB: a 1 M-row sheet or a 10 M-row CSV reads well inside them.
    """

    max_decompressed_bytes: int = number(2 << 30, AT_LEAST_ONE)
    max_cells: int = number(50_000_000, AT_LEAST_ONE)
    max_columns: int = number(1_000, AT_LEAST_ONE)
    max_field_bytes: int = number(1 << 20, AT_LEAST_ONE)
    max_seconds_per_file: float = number(600.0, POSITIVE)
    # the reader's address space and file sizes: below 64 MiB it cannot start or answer
    max_reader_memory_bytes: int = number(8 << 30, Bounds(64 << 20))


@dataclass(frozen=True)
class NotifySettings:
    repeat_minutes: float = 0.0
    resolved: bool = True  # also tell when an alert is resolved


LineageTransport = Literal["file", "http", "console", "off"]
LINEAGE_TRANSPORTS: tuple[str, ...] = get_args(LineageTransport)


@dataclass(frozen=True)
class LineageSettings:
    """Where the run's OpenLineage events go (`lakehouse.lineage.openlineage`). Emission never
    fails a run: a transport that fails is logged once and skipped for the rest of the run."""

    transport: LineageTransport = "file"
    path: str = "_ops/lineage/events.jsonl"  # file: relative to the root, or an absolute path
    url: str = ""  # http: the collector's base URL (Marquez: http://localhost:5000)
    endpoint: str = "api/v1/lineage"  # http
    api_key: Secret | None = None  # http: sent as `Authorization: Bearer <key>`
    timeout_seconds: float = number(2.0, POSITIVE)  # http: per event, no retries
    namespace: str = ""  # datasets' and jobs' namespace; default: the root's URI
    column_lineage: bool = True  # attach the columnLineage facet (derived from the definitions)


NotifierType = Literal["console", "file", "webhook", "sns"]


@dataclass(frozen=True)
class NotifierSettings:
    name: str
    type: NotifierType
    path: str = "_ops/notifications.jsonl"  # file: relative to a local root, or absolute
    url: Secret | None = None  # webhook
    headers: Mapping[str, Secret] = field(default_factory=dict)  # webhook
    timeout_seconds: float = number(5.0, POSITIVE)  # webhook
    retries: int = 3  # webhook, sns: attempts after the first
    backoff_seconds: float = 0.5  # webhook, sns: first pause, doubled each retry
    topic_arn: str = ""  # sns
    region: str | None = None  # sns
    endpoint_url: str | None = None  # sns (tests, or a VPC endpoint)


@dataclass(frozen=True)
class Settings:
    pipeline: PipelineSettings = PipelineSettings()
    sla: SlaSettings = SlaSettings()
    gold: GoldSettings = GoldSettings()
    lock: LockSettings = LockSettings()
    watch: WatchSettings = WatchSettings()
    notify: NotifySettings = NotifySettings()
    intake: IntakeSettings = IntakeSettings()
    maintenance: MaintenanceSettings = field(default_factory=MaintenanceSettings)
    lineage: LineageSettings = LineageSettings()
    notifiers: tuple[NotifierSettings, ...] = (NotifierSettings("console", "console"),)
    sources: tuple[str, ...] = ()  # where values came from, for messages

    def redacted(self) -> dict[str, Any]:
        """Everything as plain data, secrets shown as '***' (for `--show-config`, logs)."""
        from dataclasses import asdict

        def clean(v: Any) -> Any:
            if isinstance(v, Secret):
                return str(v)
            if isinstance(v, dict):
                return {k: clean(x) for k, x in v.items()}
            if isinstance(v, list | tuple):
                return [clean(x) for x in v]
            return v

        return {k: clean(v) for k, v in asdict(self).items()}
