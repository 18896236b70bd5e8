"""Load the settings in layers (defaults < the settings file < `LAKEHOUSE__*` environment
variables), typed like their defaults and checked against their bounds; a wrong key or value is a
`ConfigError` naming the file or variable that set it."""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import Field, dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakehouse.config.bounds import NON_NEGATIVE, Bounds
from lakehouse.config.settings import (
    LINEAGE_TRANSPORTS,
    GoldSettings,
    IntakeSettings,
    LineageSettings,
    LockSettings,
    ModelBudget,
    NotifierSettings,
    NotifySettings,
    PipelineSettings,
    Secret,
    Settings,
    SlaSettings,
    TableObjective,
    WatchSettings,
)
from lakehouse.errors import TerminalError
from lakehouse.maintenance.settings import MaintenanceSettings

if TYPE_CHECKING:
    from lakehouse.store.root import Root

CONFIG_FILE = "lakehouse.toml"
ENV_PREFIX = "LAKEHOUSE__"


class ConfigError(TerminalError):
    """A setting is unknown or has the wrong type; the message names it and where it came from."""


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
            known = sorted(declared)  # `sla.tables` too: read apart, but a setting all the same
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
    url = settings.url.reveal() if settings.url is not None else ""
    if kind == "webhook" and not url.startswith(("http://", "https://")):
        raise ConfigError(f'{source}: notifiers.{name} (webhook) needs url = "https://..."')
    if kind == "sns" and not settings.topic_arn:
        raise ConfigError(f'{source}: notifiers.{name} (sns) needs topic_arn = "arn:aws:sns:..."')
    return settings
