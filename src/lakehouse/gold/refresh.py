"""Plan and run a full or incremental refresh of the gold models on DuckDB.

A run says what it changed in silver as a `Touched`: the order dates, customers and products of
every order or order line it inserted, updated or deleted (for an updated row, its values before
and after), plus the products whose catalog row changed; `None` = unknown: rebuild. Each model is
then refreshed by its policy:

- ``by_date``  recompute the periods (day, week or month) holding a touched date, plus the
  ``lookback`` periods after each of them (whose change-vs-previous-period columns read it);
  reads only those periods and the ``lookback`` periods before them.
- ``by_user`` / ``by_product``  recompute the touched customers / products, reading only their
  orders (by_product: every order that holds a touched product).
- ``full``  recompute everything (global statistics: ranks, quantiles, pairs, shares) whenever
  anything was touched.

On DuckDB, `refresh_gold` rebuilds by_product models whole when half the catalog or more was
touched (a busy day touches nearly every product, and then the filters only cost time).

The result is a stream of `GoldWrite`, one per refreshed model as soon as it is computed: a
whole table (``overwrite``) or the rows that replace every row matching ``predicate``
(``replace``). Writing them (delta-rs or Spark) is the engine's job; applying them to the
previous full build gives exactly a full rebuild. A run killed between two writes leaves the
build unrecorded, and the next run refreshes the same models again (each write is idempotent).

A catalog change that moves a product to another department, or renames it, restates history:
pass ``Touched.full()`` for it (by_date models do not re-read unchanged days).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Literal

import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from lakehouse.dialect import Dialect, quote
from lakehouse.errors import TerminalError
from lakehouse.gold.model import GoldModel, ModelError, Period, all_models, list_models
from lakehouse.gold.render import reads, render

if TYPE_CHECKING:
    import duckdb

SILVER_DATED = ("silver.orders", "silver.order_items")
#: by_product models are rebuilt whole when at least this share of the catalog was touched.
REBUILD_SHARE = 0.5
#: Above this many touched keys, a by_user / by_product table is written whole (stored rows with
#: the touched keys' rows replaced) instead of with a `key IN (...)` delete predicate: Delta
#: writers parse the predicate, and delta-rs overflows its stack on tens of thousands of values.
MAX_PREDICATE_KEYS = 2_000
ReadGold = Callable[[str], pa.Table | None]


@dataclass(frozen=True)
class Touched:
    """What a run changed in silver; a None field means unknown (rebuild what depends on it)."""

    dates: frozenset[dt.date] | None = None
    users: frozenset[int] | None = None
    products: frozenset[int] | None = None
    #: the silver tables whose rows changed (``silver.orders``, ...); None: unknown (any)
    tables: frozenset[str] | None = None

    @classmethod
    def full(cls) -> Touched:
        return cls(None, None, None)

    @classmethod
    def of(
        cls,
        dates: Iterable[dt.date] = (),
        users: Iterable[int] = (),
        products: Iterable[int] = (),
        tables: Iterable[str] | None = None,
    ) -> Touched:
        return cls(
            frozenset(dates),
            frozenset(users),
            frozenset(products),
            None if tables is None else frozenset(tables),
        )

    @property
    def is_full(self) -> bool:
        return self.dates is None and self.users is None and self.products is None

    @property
    def is_empty(self) -> bool:
        return (
            self.dates == frozenset() and self.users == frozenset() and self.products == frozenset()
        )


@dataclass(frozen=True)
class GoldWrite:
    """One table write: `overwrite` the whole table, or `replace` the rows matching `predicate`
    (SQL over the model's own columns, e.g. ``date IN ('2025-04-01')``) by `table`'s rows."""

    model: str
    table: pa.Table
    mode: Literal["overwrite", "replace"]
    predicate: str | None = None


@dataclass(frozen=True)
class RefreshPlan:
    """How one model is refreshed for one `Touched`; `sql()` renders it for any engine."""

    model: GoldModel
    mode: Literal["skip", "overwrite", "replace"]
    predicate: str | None = None
    key_values: tuple[object, ...] = ()
    read_ranges: tuple[tuple[dt.date, dt.date], ...] = ()  # by_date: silver dates read

    def source_filters(self, key_table: str | None = None) -> dict[str, exp.Expr]:
        """Conditions on the silver tables the plan reads (none for overwrite)."""
        if self.mode != "replace":
            return {}
        if self.model.refresh == "by_date":
            between = [
                exp.column("date").between(_date_literal(a), _date_literal(b))
                for a, b in self.read_ranges
            ]
            return {name: exp.or_(*between) for name in SILVER_DATED}
        if self.model.refresh == "by_user":
            return {name: self._keys("user_id", key_table) for name in SILVER_DATED}
        orders_with = (
            exp.select("order_id")
            .from_("silver.order_items")
            .where(self._keys("product_id", key_table))
        )
        return {name: exp.column("order_id").isin(query=orders_with) for name in SILVER_DATED}

    def output_filter(self, key_table: str | None = None) -> exp.Expr | None:
        """Condition on the model's rows: only the replaced keys (None for overwrite)."""
        if self.mode != "replace" or self.model.key is None:
            return None
        if self.model.refresh == "by_date":
            return _in(self.model.key, self.key_values)
        return self._keys(self.model.key, key_table)

    def _keys(self, column: str, key_table: str | None) -> exp.Expr:
        if key_table is None:
            return _in(column, self.key_values)
        return exp.column(column).isin(query=exp.select(column).from_(key_table))

    def sql(
        self,
        dialect: Dialect = "duckdb",
        *,
        tables: Mapping[str, str] | None = None,
        key_table: str | None = None,
        pretty: bool = True,
    ) -> str:
        """The query computing the rows this plan writes (all rows for overwrite).

        The touched keys are inlined as an IN list, or, with `key_table` (by_user and
        by_product), read from a relation of that name with one column `user_id` or
        `product_id` holding `key_values`: much faster for thousands of keys.
        """
        if self.mode == "skip":
            raise ValueError(f"{self.model.name}: nothing to refresh")
        return render(
            self.model,
            dialect,
            source_filters=self.source_filters(key_table),
            output_filter=self.output_filter(key_table),
            tables=tables,
            pretty=pretty,
        )


# --- periods ---------------------------------------------------------------------------------
def period_start(day: dt.date, period: Period) -> dt.date:
    if period == "week":
        return day - dt.timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day


def shift_period(start: dt.date, period: Period, n: int) -> dt.date:
    """The start of the period `n` periods after (n < 0: before) the one starting at `start`."""
    if period == "day":
        return start + dt.timedelta(days=n)
    if period == "week":
        return start + dt.timedelta(days=7 * n)
    months = start.year * 12 + start.month - 1 + n
    return dt.date(months // 12, months % 12 + 1, 1)


def _ranges(periods: Iterable[tuple[dt.date, dt.date]]) -> list[tuple[dt.date, dt.date]]:
    """Merge inclusive date ranges that overlap or touch."""
    merged: list[tuple[dt.date, dt.date]] = []
    for lo, hi in sorted(periods):
        if merged and lo <= merged[-1][1] + dt.timedelta(days=1):
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return merged


def _date_literal(d: dt.date) -> exp.Expr:
    return exp.cast(exp.Literal.string(d.isoformat()), exp.DataType.Type.DATE)


def _in(column: str, values: Iterable[object]) -> exp.Expr:
    literals = [
        _date_literal(v) if isinstance(v, dt.date) else exp.Literal.number(int(v))  # type: ignore[call-overload]
        for v in values
    ]
    return exp.column(column).isin(*literals)


def _predicate(column: str, values: Iterable[object]) -> str:
    parts = [f"'{v.isoformat()}'" if isinstance(v, dt.date) else str(int(v)) for v in values]  # type: ignore[call-overload]
    return f"{column} IN ({', '.join(parts)})"


@cache
def silver_inputs(model: str) -> frozenset[str]:
    """Every silver table the model reads, directly or through the gold models it reads."""
    found: set[str] = set()
    for table in reads(model):
        zone, name = table.split(".", 1)
        found |= {table} if zone == "silver" else silver_inputs(name)
    return frozenset(found)


def plan_refresh(model: GoldModel, touched: Touched) -> RefreshPlan:
    """Decide how `model` is refreshed after the changes in `touched`."""
    if model.refresh == "ephemeral":
        raise ModelError(f"{model.name} is ephemeral: it is inlined, never refreshed")
    if touched.tables is not None and not silver_inputs(model.name) & touched.tables:
        return RefreshPlan(model, "skip")  # none of what it reads changed
    if model.refresh == "full":
        return RefreshPlan(model, "skip" if touched.is_empty else "overwrite")
    key = model.key
    assert key is not None  # parse_model guarantees a key for by_* models
    if model.refresh == "by_date":
        if touched.dates is None:
            return RefreshPlan(model, "overwrite")
        if not touched.dates:
            return RefreshPlan(model, "skip")
        period = model.period or "day"
        touched_periods = {period_start(d, period) for d in touched.dates}
        outputs = sorted(
            {shift_period(p, period, i) for p in touched_periods for i in range(model.lookback + 1)}
        )
        read_ranges = _ranges(
            (shift_period(p, period, -model.lookback), shift_period(p, period, 1) - dt.timedelta(1))
            for p in outputs
        )
        return RefreshPlan(
            model,
            "replace",
            predicate=_predicate(key, outputs),
            key_values=tuple(outputs),
            read_ranges=tuple(read_ranges),
        )
    values = touched.users if model.refresh == "by_user" else touched.products
    if values is None:
        return RefreshPlan(model, "overwrite")
    if not values:
        return RefreshPlan(model, "skip")
    ordered = tuple(sorted(values))
    return RefreshPlan(model, "replace", predicate=_predicate(key, ordered), key_values=ordered)


# --- running on DuckDB ------------------------------------------------------------------------
def _registered(name: str) -> str:
    return f"__gold_{name}"


def _run(
    con: duckdb.DuckDBPyConnection,
    model: GoldModel,
    sql: str,
) -> pa.Table:
    table = con.sql(sql).to_arrow_table()
    if table.column_names != model.column_names:
        raise ModelError(
            f"{model.path or model.name}: the query returns columns {table.column_names}, "
            f"the header declares {model.column_names}"
        )
    return table


def _existing(read_gold: ReadGold | None, model: GoldModel) -> pa.Table | None:
    """The model's table as written before this run, its columns only (None: rebuild it)."""
    table = read_gold(model.name) if read_gold is not None else None
    if table is None or not set(model.column_names) <= set(table.column_names):
        return None
    return table.select(model.column_names)


def _merge(existing: pa.Table, plan: RefreshPlan, rows: pa.Table) -> pa.Table | None:
    """`existing` with the plan's keys replaced by `rows`; None when its types do not fit."""
    key = plan.model.key
    assert key is not None
    try:
        column = existing.column(key)
        replaced = pc.is_in(column, value_set=pa.array(plan.key_values, type=column.type))
        kept = existing.filter(pc.invert(pc.fill_null(replaced, False)))
        return pa.concat_tables([kept.cast(rows.schema), rows])
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None


def refresh_gold(
    con: duckdb.DuckDBPyConnection,
    touched: Touched,
    read_gold: ReadGold | None = None,
    *,
    timings: dict[str, float] | None = None,
) -> Generator[GoldWrite, None, None]:
    """Refresh every gold model for `touched`, yielding each model's writes once it is computed.

    `con` must have `silver.products`, `silver.orders` and `silver.order_items` and run in UTC.
    Models come in `freshest_first` order, so a caller that writes each `GoldWrite` as it
    arrives makes the cheap by-date tables (daily sales) current long before the global
    analyses are. A model that reads another gold model (`gold.<name>`) needs that model's full
    current content: it is computed here, or, when only some of its rows were recomputed, taken
    from `read_gold(name)` (the table as stored before this model's own write) with the new rows
    applied. When `read_gold` is missing or returns None, the model read is rebuilt and
    overwritten. `timings`, when given, receives the seconds spent computing each model (not
    the time the caller spends between two yields).
    """
    zone = con.sql("SELECT current_setting('TimeZone')").fetchall()[0][0]
    if zone not in ("UTC", "Etc/UTC"):
        raise TerminalError(
            f"gold models compute dates and hours in UTC, but this DuckDB session runs in "
            f"{zone!r}: run SET TimeZone = 'UTC' on the connection first"
        )
    models = freshest_first()
    plans = {m.name: plan_refresh(m, touched) for m in models}
    if touched.products and any(p.model.refresh == "by_product" for p in plans.values()):
        catalog = con.sql("SELECT COUNT(*) FROM silver.products").fetchall()[0][0]
        if len(touched.products) >= REBUILD_SHARE * catalog:  # filtering would cost more
            plans = {
                n: RefreshPlan(p.model, "overwrite") if p.model.refresh == "by_product" else p
                for n, p in plans.items()
            }
    return _refreshed(con, touched, models, plans, read_gold, timings)


def _refreshed(
    con: duckdb.DuckDBPyConnection,
    touched: Touched,
    models: list[GoldModel],
    plans: Mapping[str, RefreshPlan],
    read_gold: ReadGold | None,
    timings: dict[str, float] | None,
) -> Generator[GoldWrite, None, None]:
    needed = {dep for m in models if plans[m.name].mode != "skip" for dep in m.depends_on}
    shared = _shared_ephemeral(models, plans)
    registered: dict[str, str] = {}
    writes: list[GoldWrite] = []  # the current model's

    def rebuild(model: GoldModel) -> pa.Table:
        tables = {f"gold.{name}": rel for name, rel in registered.items()}
        full = _run(con, model, render(model, tables=tables))
        writes.append(GoldWrite(model.name, full, "overwrite"))
        return full

    def incremental_sql(plan: RefreshPlan) -> str:
        return plan.sql(
            tables=_inlined(registered, shared), key_table=key_tables.get(plan.model.refresh)
        )

    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        if timings is not None:
            timings[name] = timings.get(name, 0.0) + now - clock
        clock = now

    temp_tables: list[str] = []
    key_tables = _register_keys(con, registered, touched)
    try:
        for name in shared:  # a DuckDB temp table: compressed, and spilled past the limit
            registered[name] = _registered(name)
            temp = quote(registered[name])
            con.execute(f"CREATE OR REPLACE TEMP TABLE {temp} AS {render(name)}")
            temp_tables.append(registered[name])
            lap(name)
        for model in models:
            plan = plans[model.name]
            full: pa.Table | None = None
            many = len(plan.key_values) > MAX_PREDICATE_KEYS
            if plan.mode == "overwrite":
                full = rebuild(model)
            elif plan.mode == "replace" and (model.name in needed or many):
                # the whole table is wanted (read by a later model, or written whole because a
                # predicate naming every key would be too long): current table + this run's rows
                full = _existing(read_gold, model)
                rows = None if full is None else _run(con, model, incremental_sql(plan))
                merged = None if full is None or rows is None else _merge(full, plan, rows)
                if merged is None:  # nothing stored, or it no longer fits the model: rebuild
                    full = rebuild(model)
                else:
                    full = merged
                    assert rows is not None
                    writes.append(
                        GoldWrite(model.name, merged, "overwrite")
                        if many
                        else GoldWrite(model.name, rows, "replace", plan.predicate)
                    )
            elif plan.mode == "replace":
                rows = _run(con, model, incremental_sql(plan))
                writes.append(GoldWrite(model.name, rows, "replace", plan.predicate))
            elif model.name in needed:  # not refreshed, but read whole by a later model
                full = _existing(read_gold, model)
                if full is None:
                    full = rebuild(model)
            if model.name in needed and full is not None:
                _register(con, registered, model.name, full)
            lap(model.name)
            yield from writes
            writes.clear()
            clock = time.perf_counter()  # the caller's writing is not this model's compute
    finally:
        for relation in registered.values():
            if relation in temp_tables:
                con.execute(f"DROP TABLE IF EXISTS {quote(relation)}")
            else:
                con.unregister(relation)


def freshest_first() -> list[GoldModel]:
    """Every model in a dependency order that takes up those recomputing only the run's slice
    first: by date, then by customer, by product, and the global (`full`) analyses last."""
    rank = {"by_date": 0, "by_user": 1, "by_product": 2, "full": 3, "ephemeral": 3}
    return list_models(first=lambda m: rank[m.refresh])


def _register(
    con: duckdb.DuckDBPyConnection, registered: dict[str, str], name: str, table: pa.Table
) -> None:
    registered[name] = _registered(name)
    con.register(registered[name], table)


def _register_keys(
    con: duckdb.DuckDBPyConnection, registered: dict[str, str], touched: Touched
) -> dict[str, str]:
    """Touched users and products as one-column relations (policy -> relation name)."""
    tables = {}
    for policy, column, values in (
        ("by_user", "user_id", touched.users),
        ("by_product", "product_id", touched.products),
    ):
        if values:
            name = f"touched_{column}s"
            _register(
                con, registered, name, pa.table({column: pa.array(sorted(values), pa.int64())})
            )
            tables[policy] = registered[name]
    return tables


def _shared_ephemeral(models: list[GoldModel], plans: Mapping[str, RefreshPlan]) -> list[str]:
    """Ephemeral models read unfiltered by two or more running models: computed once."""
    ephemeral = {m.table for m in all_models().values() if not m.materialized}
    readers: dict[str, int] = {}
    for m in models:
        if plans[m.name].mode == "overwrite":
            for table in reads(m) & ephemeral:
                readers[table] = readers.get(table, 0) + 1
    return sorted(t.removeprefix("gold.") for t, count in readers.items() if count >= 2)


def _inlined(registered: Mapping[str, str], shared: list[str]) -> dict[str, str]:
    """Tables for a filtered (incremental) query: ephemeral models are inlined, so the source
    filters reach them, instead of read from their unfiltered shared copy."""
    return {
        f"gold.{k}": v
        for k, v in registered.items()
        if k not in shared and not k.startswith("touched_")
    }
