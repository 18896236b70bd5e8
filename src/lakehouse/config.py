"""Operations settings: typed, layered — defaults < `lakehouse.toml` < `LAKEHOUSE__SECTION__KEY`.

The file is `ROOT/lakehouse.toml`, or the one named by `--config` / `LAKEHOUSE_CONFIG`:

```toml
[pipeline]
max_parallel = 2              # entity steps run side by side (1 = one after another)

[sla]
max_run_seconds = 900         # a longer run raises a `run_duration` alert
[sla.tables.orders]           # silver.orders; defaults come from the contract
freshness_minutes = 60        # newest loaded file may be at most this old
max_reject_rate = 0.05        # share of a run's new rows quarantined

[lock]
stale_seconds = 60            # a lock not refreshed for this long is taken over
wait_seconds = 900            # how long a run waits for another run to finish

[watch]
poll_seconds = 0.25           # size checks; a file is complete after `stable_polls` equal sizes
batch_window_seconds = 0.5    # files that become complete within this window share a run

[notify]
repeat_minutes = 0            # re-send an alert still open after this long (0 = never)

[intake]                      # limits on one delivered file; a file over any is rejected whole
max_decompressed_bytes = 2147483648  # xlsx: sum of the zip members' uncompressed sizes
max_cells = 50000000          # xlsx: cells in one sheet's used range (the reader allocates each)
max_columns = 1000            # header columns (or JSON keys) of one file or sheet
max_field_bytes = 1048576     # UTF-8 bytes of one value (cell, field, JSON value)
max_seconds_per_file = 600    # wall-clock time to read one file
max_reader_memory_bytes = 8589934592  # address space of the process that reads one file

[notifiers.ops]               # any name; type = console | file | webhook | sns
type = "webhook"
url = "https://hooks.example.com/T000/B000"
```
Environment variables override any key: `LAKEHOUSE__SLA__MAX_RUN_SECONDS=600`,
`LAKEHOUSE__NOTIFIERS__OPS__URL=...`. Values that may hold credentials (webhook `url` and
`headers`) are `Secret`s: printed as `***`, revealed only where they are used.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from lakehouse.errors import TerminalError
from lakehouse.maintenance.settings import MaintenanceSettings

if TYPE_CHECKING:
    from lakehouse.contracts import Contract
    from lakehouse.storage import Root

CONFIG_FILE = "lakehouse.toml"
ENV_PREFIX = "LAKEHOUSE__"


class ConfigError(TerminalError):
    """A setting is unknown or has the wrong type; the message names it and where it came from."""


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
    max_parallel: int = 2
    # rows of one entity held in memory at once: a run with more is written to bronze as it is
    # read and validated and merged into silver in chunks of about this many rows
    chunk_rows: int = 1_000_000


@dataclass(frozen=True)
class TableObjective:
    freshness_minutes: float | None = None  # None: the contract's `freshness_minutes`
    max_reject_rate: float | None = None  # None: the contract's `max_reject_rate`


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
class LockSettings:
    stale_seconds: float = 60.0
    heartbeat_seconds: float = 5.0
    wait_seconds: float = 900.0


@dataclass(frozen=True)
class WatchSettings:
    poll_seconds: float = 0.25
    stable_polls: int = 2
    batch_window_seconds: float = 0.5
    idle_check_seconds: float = 60.0
    events: bool = True  # filesystem events (watchdog) for local roots; polling otherwise


@dataclass(frozen=True)
class IntakeSettings:
    """Limits on one delivered file, checked before and while it is read.

    Untrusted files are read in a child process (`lakehouse.sandbox`) whose memory and time are
    capped, so a file that defeats its reader (native abort, out-of-memory, endless loop) is
    rejected with `unreadable_file` naming the limit instead of taking the run down. The
    defaults suit 2 cores / 24 GiB: a 1 M-row sheet or a 10 M-row CSV reads well inside them.
    """

    max_decompressed_bytes: int = 2 << 30
    max_cells: int = 50_000_000
    max_columns: int = 1_000
    max_field_bytes: int = 1 << 20
    max_seconds_per_file: float = 600.0
    max_reader_memory_bytes: int = 8 << 30


@dataclass(frozen=True)
class NotifySettings:
    repeat_minutes: float = 0.0
    resolved: bool = True  # also tell when an alert is resolved


NotifierType = Literal["console", "file", "webhook", "sns"]


@dataclass(frozen=True)
class NotifierSettings:
    name: str
    type: NotifierType
    path: str = "_ops/notifications.jsonl"  # file: relative to a local root, or absolute
    url: Secret | None = None  # webhook
    headers: Mapping[str, Secret] = field(default_factory=dict)  # webhook
    timeout_seconds: float = 5.0  # webhook
    retries: int = 3  # webhook, sns: attempts after the first
    backoff_seconds: float = 0.5  # webhook, sns: first pause, doubled each retry
    topic_arn: str = ""  # sns
    region: str | None = None  # sns
    endpoint_url: str | None = None  # sns (tests, or a VPC endpoint)


@dataclass(frozen=True)
class Settings:
    pipeline: PipelineSettings = PipelineSettings()
    sla: SlaSettings = SlaSettings()
    lock: LockSettings = LockSettings()
    watch: WatchSettings = WatchSettings()
    notify: NotifySettings = NotifySettings()
    intake: IntakeSettings = IntakeSettings()
    maintenance: MaintenanceSettings = field(default_factory=MaintenanceSettings)
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


_SECTIONS: dict[str, type] = {
    "maintenance": MaintenanceSettings,
    "pipeline": PipelineSettings,
    "lock": LockSettings,
    "watch": WatchSettings,
    "notify": NotifySettings,
    "intake": IntakeSettings,
}
_NOTIFIER_TYPES = ("console", "file", "webhook", "sns")
_SECRET_KEYS = {"url"}


def load(
    root: Root | None = None,
    path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Settings from defaults, then the config file, then `LAKEHOUSE__*` environment variables.

    `path` (or `LAKEHOUSE_CONFIG`) names the file; otherwise `ROOT/lakehouse.toml` if present.
    """
    env = os.environ if env is None else env
    layers: list[tuple[str, dict[str, Any]]] = []
    chosen = path or env.get("LAKEHOUSE_CONFIG")
    if chosen:
        p = Path(chosen)
        if not p.is_file():
            raise ConfigError(f"--config {p}: no such file")
        layers.append((str(p), _parse(p.read_bytes(), str(p))))
    elif root is not None and root.exists(root.path(CONFIG_FILE)):
        where = f"{root.uri}/{CONFIG_FILE}"
        layers.append((where, _parse(root.read_bytes(root.path(CONFIG_FILE)), where)))
    env_layer = _from_env(env)
    if env_layer:
        layers.append(("environment", env_layer))
    merged: dict[str, Any] = {}
    for _, layer in layers:
        _deep_merge(merged, layer)
    return _build(merged, tuple(name for name, _ in layers))


def _parse(data: bytes, where: str) -> dict[str, Any]:
    try:
        return tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: not valid TOML: {exc}") from exc


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX):
            continue
        keys = [k.lower() for k in name[len(ENV_PREFIX) :].split("__") if k]
        if not keys:
            continue
        node = out
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        node[keys[-1]] = _scalar(raw)
    return out


def _scalar(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _deep_merge(into: dict[str, Any], new: Mapping[str, Any]) -> None:
    for k, v in new.items():
        if isinstance(v, Mapping) and isinstance(into.get(k), dict):
            _deep_merge(into[k], v)
        else:
            into[k] = dict(v) if isinstance(v, Mapping) else v


def _build(raw: dict[str, Any], sources: tuple[str, ...]) -> Settings:
    where = " + ".join(sources) or "defaults"
    unknown = set(raw) - {*_SECTIONS, "sla", "notifiers"}
    if unknown:
        raise ConfigError(
            f"{where}: unknown section(s) {sorted(unknown)}; known: "
            f"{sorted({*_SECTIONS, 'sla', 'notifiers'})}"
        )
    parts: dict[str, Any] = {
        name: _typed(cls, _section(raw, name, where), name, where)
        for name, cls in _SECTIONS.items()
    }
    sla_raw = dict(_section(raw, "sla", where))
    tables_raw = _section(sla_raw, "tables", f"{where} [sla]")
    sla_raw.pop("tables", None)
    tables = {
        str(t): _typed(TableObjective, _section(tables_raw, t, where), f"sla.tables.{t}", where)
        for t in tables_raw
    }
    sla = _typed(SlaSettings, sla_raw, "sla", where, tables=tables)
    notifiers = tuple(
        _notifier(str(n), _section(_section(raw, "notifiers", where), n, where), where)
        for n in _section(raw, "notifiers", where)
    )
    return Settings(
        sla=sla,
        notifiers=notifiers or Settings().notifiers,
        sources=sources,
        **parts,
    )


def _section(raw: Mapping[str, Any], name: str, where: str) -> Mapping[str, Any]:
    value = raw.get(name, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: [{name}] must be a table of settings, got {value!r}")
    return value


def _typed(cls: type, values: Mapping[str, Any], section: str, where: str, **extra: Any) -> Any:
    defaults = cls()
    names = {f.name for f in fields(defaults)}
    out: dict[str, Any] = dict(extra)
    for key, value in values.items():
        if key not in names or key in extra:
            known = sorted(names - set(extra))
            raise ConfigError(f"{where}: unknown setting {section}.{key}; known: {known}")
        out[key] = _coerce(value, getattr(defaults, key), f"{section}.{key}", where)
    return cls(**out)


def _coerce(value: Any, default: Any, key: str, where: str) -> Any:
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: {key} must be true or false, got {value!r}")
    if isinstance(default, int | float) or default is None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: {key} must be a number, got {value!r}")
        if value < 0:
            raise ConfigError(f"{where}: {key} must be >= 0, got {value!r}")
        return int(value) if isinstance(default, int) else float(value)
    return value


def _notifier(name: str, values: Mapping[str, Any], where: str) -> NotifierSettings:
    kind = values.get("type")
    if kind not in _NOTIFIER_TYPES:
        raise ConfigError(
            f"{where}: notifiers.{name}.type must be one of {', '.join(_NOTIFIER_TYPES)}, "
            f"got {kind!r}"
        )
    defaults = NotifierSettings(name, kind)
    out: dict[str, Any] = {"name": name, "type": kind}
    for key, value in values.items():
        if key == "type":
            continue
        if key not in NotifierSettings.__dataclass_fields__ or key == "name":
            raise ConfigError(f"{where}: unknown setting notifiers.{name}.{key}")
        if key in _SECRET_KEYS:
            out[key] = Secret(str(value))
        elif key == "headers":
            if not isinstance(value, Mapping):
                raise ConfigError(f"{where}: notifiers.{name}.headers must be a table")
            out[key] = {str(h): Secret(str(v)) for h, v in value.items()}
        elif key in ("path", "topic_arn", "region", "endpoint_url"):
            out[key] = str(value)
        else:
            out[key] = _coerce(value, getattr(defaults, key), f"notifiers.{name}.{key}", where)
    settings = NotifierSettings(**out)
    if kind == "webhook" and settings.url is None:
        raise ConfigError(f'{where}: notifiers.{name} (webhook) needs url = "https://..."')
    if kind == "sns" and not settings.topic_arn:
        raise ConfigError(f'{where}: notifiers.{name} (sns) needs topic_arn = "arn:aws:sns:..."')
    return settings
