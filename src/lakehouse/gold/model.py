"""Gold model files: a TOML header in a leading `/* ... */` block, then one SELECT.

```sql
/*
name = "sales_daily"
description = "..."
grain = "one row per order date (UTC)"
refresh = "by_date"      # full | by_date | by_user | by_product | additive | ephemeral
key = "date"             # by_*: the output column a refresh replaces rows by
period = "day"           # by_date: day | week | month (the key holds the period's first day)
lookback = 1             # by_date: earlier periods a row reads (1 = change vs previous period)
freshness = "every run"  # every run | budget (not by_date: refreshed once `[gold]` allows)
depends_on = []          # other gold models read as gold.<name>
measures = []            # additive: the columns that are sums over orders (the rest is the key)

[columns]
date = "Order date (UTC)."
*/
SELECT ...
```

The SQL is DuckDB dialect, restricted to what `lakehouse.gold.render` transpiles correctly to
Spark SQL 3.5 and Trino. It reads `silver.products`, `silver.orders`, `silver.order_items` and
`gold.<model>`. An `ephemeral` model is never written: it is inlined where it is read.

An `additive` model is a running total: each row sums `measures` over orders, and every order
counts on its own date, so the rows over silver restricted to some dates are exactly those
dates' share. A refresh adds the touched dates' rows as silver holds them now and subtracts them
as the previous build read them (`lakehouse.gold.refresh`): its cost follows the run, not the
history. A group whose measures all come to 0 holds no order and is dropped, so give an additive
model a count among its measures.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any, Literal, cast, get_args

from lakehouse.errors import ContractError

Refresh = Literal["full", "by_date", "by_user", "by_product", "additive", "ephemeral"]
Period = Literal["day", "week", "month"]
#: How fresh a model must be: current after every run that changes what it reads, or within a
#: staleness budget (`[gold] staleness_minutes`), for global analyses that read everything.
Freshness = Literal["every run", "budget"]
FRESHNESS: tuple[str, ...] = get_args(Freshness)

REFRESH_POLICIES: tuple[str, ...] = get_args(Refresh)
PERIODS: tuple[str, ...] = get_args(Period)
#: The output column each keyed policy replaces rows by (by_date: the model's own `key`).
POLICY_KEYS = {"by_user": "user_id", "by_product": "product_id"}


class ModelError(ContractError):
    """A gold model file is malformed; the message names the file and what to fix."""


@dataclass(frozen=True)
class Column:
    name: str
    description: str


@dataclass(frozen=True)
class GoldModel:
    name: str
    description: str
    grain: str
    columns: tuple[Column, ...]
    refresh: Refresh
    sql: str
    key: str | None = None
    period: Period | None = None
    lookback: int = 0
    depends_on: tuple[str, ...] = ()
    path: str = ""
    freshness: Freshness = "every run"
    measures: tuple[str, ...] = ()  # additive: summed columns; the other columns are the key

    @property
    def dimensions(self) -> list[str]:
        """An additive model's key: every column that is not a measure."""
        return [c for c in self.column_names if c not in self.measures]

    @property
    def table(self) -> str:
        """The name other SQL reads this model by."""
        return f"gold.{self.name}"

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def materialized(self) -> bool:
        return self.refresh != "ephemeral"


def models_dir() -> Traversable:
    """The packaged model files: a package resource, so they load from a wheel, a zip or a
    folder alike (never a `Path`: inside a zip there is no folder to glob)."""
    return resources.files("lakehouse.gold") / "models"


def parse_model(text: str, path: str = "<string>") -> GoldModel:
    """Parse one model file's text (header + SQL); raise ModelError naming `path`."""
    stripped = text.lstrip()
    if not stripped.startswith("/*") or "*/" not in stripped:
        raise ModelError(f"{path}: must start with a /* ... */ header holding TOML")
    header, sql = stripped[2:].split("*/", 1)
    try:
        meta: dict[str, Any] = tomllib.loads(header)
    except tomllib.TOMLDecodeError as exc:
        raise ModelError(f"{path}: header is not valid TOML: {exc}") from exc
    sql = sql.strip().rstrip(";").strip()
    if not sql:
        raise ModelError(f"{path}: no SQL after the header")

    def need(field: str) -> str:
        value = meta.get(field)
        if not isinstance(value, str) or not value.strip():
            raise ModelError(f"{path}: header needs a non-empty string `{field}`")
        return value.strip()

    name, refresh = need("name"), need("refresh")
    if refresh not in REFRESH_POLICIES:
        raise ModelError(f"{path}: refresh = {refresh!r}; use one of {', '.join(REFRESH_POLICIES)}")
    raw_columns = meta.get("columns")
    if not isinstance(raw_columns, dict) or not raw_columns:
        raise ModelError(f'{path}: header needs a [columns] table: name = "description"')
    columns = []
    for col, desc in raw_columns.items():
        if not isinstance(desc, str) or not desc.strip():
            raise ModelError(f"{path}: column `{col}` needs a description string")
        columns.append(Column(col, desc.strip()))
    names = [c.name for c in columns]

    key = meta.get("key")
    if refresh in POLICY_KEYS:
        key = key or POLICY_KEYS[refresh]
        if key != POLICY_KEYS[refresh]:
            raise ModelError(
                f"{path}: refresh = {refresh!r} replaces rows by {POLICY_KEYS[refresh]}"
            )
    if refresh.startswith("by_") and key not in names:
        raise ModelError(f"{path}: key {key!r} must be one of the declared columns")
    period = meta.get("period")
    if refresh == "by_date":
        if period not in PERIODS:
            raise ModelError(f"{path}: by_date needs period = one of {', '.join(PERIODS)}")
    elif period is not None:
        raise ModelError(f"{path}: period only applies to refresh = 'by_date'")
    lookback = meta.get("lookback", 0)
    if not isinstance(lookback, int) or lookback < 0:
        raise ModelError(f"{path}: lookback must be a whole number of periods >= 0")
    depends_on = meta.get("depends_on", [])
    if not isinstance(depends_on, list) or not all(isinstance(d, str) for d in depends_on):
        raise ModelError(f"{path}: depends_on must be a list of gold model names")
    freshness = meta.get("freshness", "budget" if refresh == "full" else "every run")
    if freshness not in FRESHNESS:
        raise ModelError(f"{path}: freshness = {freshness!r}; use one of {', '.join(FRESHNESS)}")
    if freshness == "budget" and refresh == "by_date":
        raise ModelError(
            f"{path}: refresh = {refresh!r} recomputes only the run's periods, so it is cheap and "
            'its freshness is "every run"; a staleness budget is for models whose refresh can '
            "read everything (full, or a by_user / by_product slice as large as the table)"
        )
    measures = meta.get("measures", [])
    if refresh == "additive":
        if not isinstance(measures, list) or not measures or not set(measures) <= set(names):
            raise ModelError(f"{path}: additive needs measures = a list of declared columns")
        if set(measures) == set(names):
            raise ModelError(f"{path}: additive needs at least one column that is not a measure")
        if freshness != "every run":
            raise ModelError(
                f"{path}: an additive model adds the run's dates to what it holds, so it is cheap "
                'and its freshness is "every run"'
            )
    elif measures:
        raise ModelError(f"{path}: measures only apply to refresh = 'additive'")
    unknown = set(meta) - {
        "name", "description", "grain", "refresh", "key", "period", "lookback", "depends_on",
        "columns", "freshness", "measures",
    }  # fmt: skip
    if unknown:
        raise ModelError(f"{path}: unknown header keys {sorted(unknown)}")
    return GoldModel(
        name=name,
        description=need("description"),
        grain=need("grain"),
        columns=tuple(columns),
        refresh=cast(Refresh, refresh),
        sql=sql,
        key=key if refresh.startswith("by_") else None,
        period=cast(Period | None, period),
        lookback=lookback,
        depends_on=tuple(depends_on),
        path=path,
        freshness=cast(Freshness, freshness),
        measures=tuple(measures),
    )


def _name(file: Traversable) -> str:
    return file.name


@cache
def _load_all() -> dict[str, GoldModel]:
    return read_models(models_dir())


def read_models(base: Traversable) -> dict[str, GoldModel]:
    """Every `*.sql` model in `base` (the packaged folder, or a user's), checked: each named
    as its file, dependencies known, no cycle."""
    models: dict[str, GoldModel] = {}
    files = sorted((f for f in base.iterdir() if f.name.endswith(".sql")), key=_name)
    if not files:
        raise ModelError(f"no gold model files (*.sql) in {base}")
    for path in files:
        model = parse_model(path.read_text(encoding="utf-8"), str(path))
        if model.name != path.name.removesuffix(".sql"):
            raise ModelError(f"{path}: name = {model.name!r} must equal the file name")
        models[model.name] = model
    for model in models.values():
        for dep in model.depends_on:
            if dep not in models:
                raise ModelError(f"{model.path}: depends_on names unknown model {dep!r}")
    _topological(models)  # raises on cycles
    for model in models.values():
        for dep in model.depends_on:
            if model.freshness == "every run" and models[dep].freshness == "budget":
                raise ModelError(
                    f"{model.path}: freshness is every run, but it reads gold.{dep}, which may be "
                    "behind silver by its staleness budget; declare it budget too"
                )
    return models


def _topological(
    models: dict[str, GoldModel], key: Callable[[str], tuple[int, str]] | None = None
) -> list[str]:
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(name: str, trail: tuple[str, ...]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            raise ModelError(f"gold models depend on each other in a cycle: {' -> '.join(trail)}")
        state[name] = 1
        for dep in models[name].depends_on:
            visit(dep, (*trail, dep))
        state[name] = 2
        order.append(name)

    for name in sorted(models, key=key):
        visit(name, (name,))
    return order


def all_models() -> dict[str, GoldModel]:
    """Every model, ephemeral ones included, by name."""
    return dict(_load_all())


def list_models(
    *, include_ephemeral: bool = False, first: Callable[[GoldModel], int] | None = None
) -> list[GoldModel]:
    """Models in dependency order (a model comes after every model it reads); with `first`,
    models are taken up in that order (lowest first, then by name), each after its inputs."""
    models = _load_all()
    rank = (lambda n: (first(models[n]), n)) if first else None
    order = _topological(models, rank)
    return [models[n] for n in order if include_ephemeral or models[n].materialized]


def get_model(name: str) -> GoldModel:
    models = _load_all()
    bare = name.removeprefix("gold.")
    if bare not in models:
        raise ModelError(f"no gold model named {name!r}; known: {', '.join(sorted(models))}")
    return models[bare]
