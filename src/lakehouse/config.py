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

[gold]                        # how stale a "budget" gold model may get (docs/gold.md, Freshness)
staleness_minutes = 15        # global analyses refresh once silver has moved on this long
[gold.models.product_pairs]   # one model's own budget (0 = every run)
staleness_minutes = 60

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

[lineage]                     # OpenLineage run events (docs/catalog.md)
transport = "file"            # file | http | console | off
path = "_ops/lineage/events.jsonl"  # file: below the root (s3: one object per run beside it)
url = "http://localhost:5000" # http: the collector (Marquez, DataHub ...); POST to url/endpoint
timeout_seconds = 2           # http: one attempt; a collector that fails is skipped for the run

[notifiers.ops]               # any name; type = console | file | webhook | sns
type = "webhook"
url = "https://hooks.example.com/T000/B000"
```
Environment variables override any key: `LAKEHOUSE__SLA__MAX_RUN_SECONDS=600`,
`LAKEHOUSE__NOTIFIERS__OPS__URL=...`. Values that may hold credentials (webhook `url` and
`headers`) are `Secret`s: printed as `***`, revealed only where they are used.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import Field, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from lakehouse.errors import TerminalError
from lakehouse.maintenance.settings import MaintenanceSettings

if TYPE_CHECKING:
    from lakehouse.contracts import Contract
    from lakehouse.store.root import Root

CONFIG_FILE = "lakehouse.toml"
ENV_PREFIX = "LAKEHOUSE__"


class ConfigError(TerminalError):
    """A setting is unknown or has the wrong type; the message names it and where it came from."""


@dataclass(frozen=True)
class Bounds:
    """The values a number setting accepts: `low` to `high`, `low` itself only when not
    `above_low`. Declared once per field (`field(metadata=...)`, see `number`)."""

    low: float = 0.0
    high: float = math.inf
    above_low: bool = False

    def allows(self, value: float) -> bool:
        return (value > self.low if self.above_low else value >= self.low) and value <= self.high

    def __str__(self) -> str:
        if self.high < math.inf:
            return f"between {self.low:g} and {self.high:g}"
        return f"{'>' if self.above_low else '>='} {self.low:g}"


NON_NEGATIVE = Bounds()  # every number without bounds of its own; 0 means "off" or "none"
SHARE = Bounds(0.0, 1.0)  # rates and shares
AT_LEAST_ONE = Bounds(1.0)  # counts where 0 makes no sense
POSITIVE = Bounds(above_low=True)  # durations where 0 would spin or expire at once


def number(default: Any, bounds: Bounds) -> Any:
    """A number setting with its accepted range, checked by `load` (one place for all ranges)."""
    return field(default=default, metadata={"bounds": bounds})


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
    max_reader_memory_bytes: int = number(8 << 30, AT_LEAST_ONE)


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


_SECTIONS: dict[str, type] = {
    "maintenance": MaintenanceSettings,
    "pipeline": PipelineSettings,
    "lock": LockSettings,
    "watch": WatchSettings,
    "notify": NotifySettings,
    "intake": IntakeSettings,
}
_NESTED = ("sla", "gold", "notifiers", "lineage")  # sections with tables of their own
_NOTIFIER_TYPES = ("console", "file", "webhook", "sns")
_SECRET_KEYS = {"url"}


def load(
    root: Root | None = None,
    path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    entities: Collection[str] | None = None,
) -> Settings:
    """Settings from defaults, then the config file, then `LAKEHOUSE__*` environment variables.

    `path` (or `LAKEHOUSE_CONFIG`) names the file; otherwise `ROOT/lakehouse.toml` if present.
    `entities` are the names `[sla.tables.*]` may use (default: the contracts' entities, from
    `LAKEHOUSE_CONTRACTS` or the shipped ones).
    """
    env = os.environ if env is None else env
    layers: list[tuple[str, dict[str, Any]]] = []
    if path or env.get("LAKEHOUSE_CONFIG"):
        p = Path(path or env["LAKEHOUSE_CONFIG"])
        where = str(p) if path else f"{p} (LAKEHOUSE_CONFIG)"
        if not p.is_file():
            fix = "" if path else "; unset LAKEHOUSE_CONFIG or point it at a settings file"
            raise ConfigError(f"{where}: no such settings file{fix}")
        layers.append((where, _parse(p.read_bytes(), where)))
    elif root is not None and root.exists(root.path(CONFIG_FILE)):
        where = f"{root.uri}/{CONFIG_FILE}"
        layers.append((where, _parse(root.read_bytes(root.path(CONFIG_FILE)), where)))
    env_layer = _from_env(env)
    if env_layer:
        layers.append((ENVIRONMENT, env_layer))
    merged: dict[str, Any] = {}
    for _, layer in layers:
        _deep_merge(merged, layer)
    if entities is None:
        from lakehouse.contracts import load_contracts

        entities = list(load_contracts(env.get("LAKEHOUSE_CONTRACTS") or None))
    return _build(merged, _Origins(tuple(layers)), entities)


ENVIRONMENT = "environment"


@dataclass(frozen=True)
class _Origins:
    """The layers settings came from, to name the one that set a key in a message."""

    layers: tuple[tuple[str, Mapping[str, Any]], ...]

    def __str__(self) -> str:
        return " + ".join(name for name, _ in self.layers) or "defaults"

    def of(self, key: str) -> str:
        """The file, or the environment variable, that set this dotted key last."""
        parts = key.split(".")
        for name, layer in self.layers[::-1]:
            if _holds(layer, parts):
                if name == ENVIRONMENT:
                    return f"environment variable {ENV_PREFIX}{'__'.join(parts).upper()}"
                return name
        return str(self)


def _holds(layer: Mapping[str, Any], parts: list[str]) -> bool:
    node: Any = layer
    for part in parts:
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


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


def _build(raw: dict[str, Any], where: _Origins, entities: Collection[str]) -> Settings:
    unknown = set(raw) - {*_SECTIONS, *_NESTED}
    if unknown:
        raise ConfigError(
            f"{where.of(min(unknown))}: unknown section(s) {sorted(unknown)}; known: "
            f"{sorted({*_SECTIONS, *_NESTED})}"
        )
    parts: dict[str, Any] = {
        name: _typed(cls, _section(raw, name, where.of(name)), name, where)
        for name, cls in _SECTIONS.items()
    }
    sla_raw = dict(_section(raw, "sla", where.of("sla")))
    tables_raw = _section(sla_raw, "tables", where.of("sla.tables"))
    sla_raw.pop("tables", None)
    for t in tables_raw:
        if t not in entities:
            raise ConfigError(
                f"{where.of(f'sla.tables.{t}')}: unknown table sla.tables.{t}; "
                f"known: {sorted(entities)}"
            )
    tables = {
        str(t): _typed(
            TableObjective,
            _section(tables_raw, t, where.of(f"sla.tables.{t}")),
            f"sla.tables.{t}",
            where,
        )
        for t in tables_raw
    }
    sla = _typed(SlaSettings, sla_raw, "sla", where, tables=tables)
    notifiers_raw = _section(raw, "notifiers", where.of("notifiers"))
    gold = _gold(_section(raw, "gold", where.of("gold")), where)
    notifiers = tuple(
        _notifier(str(n), _section(notifiers_raw, n, where.of(f"notifiers.{n}")), where)
        for n in notifiers_raw
    )
    lineage = _lineage(_section(raw, "lineage", where.of("lineage")), where)
    return Settings(
        sla=sla,
        gold=gold,
        lineage=lineage,
        notifiers=notifiers or Settings().notifiers,
        sources=tuple(name for name, _ in where.layers),
        **parts,
    )


def _gold(values: Mapping[str, Any], where: _Origins) -> GoldSettings:
    """`[gold]` and its `[gold.models.<name>]` tables, which may name only budget models."""
    from lakehouse.gold import list_models

    plain = dict(values)
    models_raw = _section(plain, "models", where.of("gold.models"))
    plain.pop("models", None)
    budgeted = sorted(m.name for m in list_models() if m.freshness == "budget")
    models = {}
    for name in models_raw:
        if name not in budgeted:
            raise ConfigError(
                f"{where.of(f'gold.models.{name}')}: gold.models.{name}: only models declared "
                f'freshness = "budget" have a staleness budget; those are: {budgeted}'
            )
        section = f"gold.models.{name}"
        models[str(name)] = _typed(
            ModelBudget, _section(models_raw, name, where.of(section)), section, where
        )
    gold: GoldSettings = _typed(GoldSettings, plain, "gold", where, models=models)
    return gold


def _section(raw: Mapping[str, Any], name: str, where: str) -> Mapping[str, Any]:
    value = raw.get(name, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: [{name}] must be a table of settings, got {value!r}")
    return value


def _typed(
    cls: type, values: Mapping[str, Any], section: str, where: _Origins, **extra: Any
) -> Any:
    defaults = cls()
    declared = {f.name: f for f in fields(defaults)}
    out: dict[str, Any] = dict(extra)
    for key, value in values.items():
        name = f"{section}.{key}"
        if key not in declared or key in extra:
            known = sorted(set(declared) - set(extra))
            raise ConfigError(f"{where.of(name)}: unknown setting {name}; known: {known}")
        out[key] = _coerce(value, getattr(defaults, key), name, where, _bounds(declared[key]))
    return cls(**out)


def _bounds(f: Field[Any]) -> Bounds:
    bounds = f.metadata.get("bounds", NON_NEGATIVE)
    assert isinstance(bounds, Bounds)
    return bounds


def _coerce(value: Any, default: Any, key: str, where: _Origins, bounds: Bounds) -> Any:
    """The value typed like the setting's default; numbers finite and within their bounds."""
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where.of(key)}: {key} must be true or false, got {value!r}")
    if isinstance(default, int | float) or default is None:
        whole = isinstance(default, int)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where.of(key)}: {key} must be a number, got {value!r}")
        if not math.isfinite(value) or not bounds.allows(value):
            raise ConfigError(f"{where.of(key)}: {key} = {value!r} is refused; must be {bounds}")
        if whole and value != int(value):
            raise ConfigError(f"{where.of(key)}: {key} must be a whole number, got {value!r}")
        return int(value) if whole else float(value)
    return value


def _lineage(values: Mapping[str, Any], where: _Origins) -> LineageSettings:
    plain = {k: v for k, v in values.items() if k != "api_key"}
    for key in ("transport", "path", "url", "endpoint", "namespace"):
        if key in plain and not isinstance(plain[key], str):
            raise ConfigError(f"{where.of(f'lineage.{key}')}: lineage.{key} must be a string")
    settings: LineageSettings = _typed(LineageSettings, plain, "lineage", where)
    if settings.transport not in LINEAGE_TRANSPORTS:
        raise ConfigError(
            f"{where.of('lineage.transport')}: lineage.transport must be one of "
            f"{', '.join(LINEAGE_TRANSPORTS)}, got {settings.transport!r}"
        )
    if settings.transport == "http" and not settings.url.startswith(("http://", "https://")):
        raise ConfigError(
            f'{where.of("lineage")}: lineage.transport = "http" needs url = "http(s)://..."'
        )
    if "api_key" in values:
        settings = replace(settings, api_key=Secret(str(values["api_key"])))
    return settings


def _notifier(name: str, values: Mapping[str, Any], where: _Origins) -> NotifierSettings:
    kind = values.get("type")
    source = where.of(f"notifiers.{name}")
    if kind not in _NOTIFIER_TYPES:
        raise ConfigError(
            f"{source}: notifiers.{name}.type must be one of {', '.join(_NOTIFIER_TYPES)}, "
            f"got {kind!r}"
        )
    defaults = NotifierSettings(name, kind)
    declared = {f.name: f for f in fields(defaults)}
    out: dict[str, Any] = {"name": name, "type": kind}
    for key, value in values.items():
        if key == "type":
            continue
        full = f"notifiers.{name}.{key}"
        if key not in declared or key == "name":
            raise ConfigError(f"{where.of(full)}: unknown setting {full}")
        if key in _SECRET_KEYS:
            out[key] = Secret(str(value))
        elif key == "headers":
            if not isinstance(value, Mapping):
                raise ConfigError(f"{where.of(full)}: {full} must be a table")
            out[key] = {str(h): Secret(str(v)) for h, v in value.items()}
        elif key in ("path", "topic_arn", "region", "endpoint_url"):
            out[key] = str(value)
        else:
            bounds = _bounds(declared[key])
            out[key] = _coerce(value, getattr(defaults, key), full, where, bounds)
    settings = NotifierSettings(**out)
    if kind == "webhook" and settings.url is None:
        raise ConfigError(f'{source}: notifiers.{name} (webhook) needs url = "https://..."')
    if kind == "sns" and not settings.topic_arn:
        raise ConfigError(f'{source}: notifiers.{name} (sns) needs topic_arn = "arn:aws:sns:..."')
    return settings
