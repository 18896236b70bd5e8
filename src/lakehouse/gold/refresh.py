"""Run a refresh of every gold model on a `GoldSession`, freshest tables first.

The plan of each model is `lakehouse.gold.plan`; this module runs the plans in one order on any
engine's session: the models' SQL is rendered for the session's dialect, and the results stay in
the session (DuckDB: Arrow tables; Spark: persisted DataFrames). Rebuilding by_product models
whole when half the catalog or more was touched (a busy day touches nearly every product, and
then the filters only cost time) is decided here too, so both engines refresh alike.

The result is a stream of `GoldWrite`, one per refreshed model as soon as it is computed: a
whole table (``overwrite``) or the rows that replace every row matching ``predicate``
(``replace``). Writing them is the engine's job; applying them to the previous full build gives
exactly a full rebuild. A run killed between two writes leaves the build unrecorded, and the
next run refreshes the same models again (each write is idempotent). A refresh given a `GiveWay`
stops between two budget models when other work is waiting (a watcher's next drop), and says
which it left behind.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, cast

from sqlglot import exp

from lakehouse.engines.dialect import to_dialect
from lakehouse.errors import TerminalError
from lakehouse.gold.model import GoldModel, ModelError, all_models, list_models
from lakehouse.gold.plan import Override, RefreshPlan, Touched, plan_refresh
from lakehouse.gold.render import reads, render
from lakehouse.gold.session import DuckDBSession, GoldSession, GoldWrite

if TYPE_CHECKING:
    import duckdb

    from lakehouse.engines.dialect import Dialect

R = TypeVar("R")
#: by_product models are rebuilt whole when at least this share of the catalog was touched.
REBUILD_SHARE = 0.5
#: Above this many touched keys, a by_user / by_product table is written whole (stored rows with
#: the touched keys' rows replaced) instead of with a `key IN (...)` delete predicate: Delta
#: writers parse the predicate, and delta-rs overflows its stack on tens of thousands of values.
MAX_PREDICATE_KEYS = 2_000
ReadGold = Callable[[str], Any]  # a model's stored table in the session's result type, or None


@dataclass
class GiveWay:
    """Lets a refresh stop between budget models for work that is waiting: a watcher's next
    drop must not queue behind global analyses that may lag by their staleness budget anyway.

    `waiting()` is asked before each budget model after the first one the refresh takes up, so
    every refresh takes at least one due model up and a stream of drops cannot starve them.
    Every-run models come first (`freshest_first`) and are never left. `left` receives the
    models the refresh stopped before: the caller records them as deferred (still behind, still
    due), and the next refresh takes them up."""

    waiting: Callable[[], bool]
    left: list[str] = field(default_factory=list)


def _registered(name: str) -> str:
    return f"__gold_{name}"


def _run(session: GoldSession[R], model: GoldModel, sql: str) -> R:
    rows = session.compute(sql)
    if session.columns(rows) != model.column_names:
        raise ModelError(
            f"{model.path or model.name}: the query returns columns {session.columns(rows)}, "
            f"the header declares {model.column_names}"
        )
    return rows


def _existing(session: GoldSession[R], read_gold: ReadGold | None, model: GoldModel) -> R | None:
    """The model's table as written before this run, its columns only (None: rebuild it)."""
    stored = read_gold(model.name) if read_gold is not None else None
    if stored is None or not set(model.column_names) <= set(session.columns(stored)):
        return None
    return session.select(stored, model.column_names)


def refresh_gold(
    session: GoldSession[R] | duckdb.DuckDBPyConnection,
    touched: Touched,
    read_gold: ReadGold | None = None,
    *,
    timings: dict[str, float] | None = None,
    overrides: Mapping[str, Override] | None = None,
    before: Mapping[str, str] | None = None,
    give_way: GiveWay | None = None,
) -> Generator[GoldWrite[R], None, None]:
    """Refresh every gold model for `touched`, yielding each model's writes once it is computed.

    `session` reads `silver.products`, `silver.orders` and `silver.order_items` (a DuckDB
    connection is wrapped in a `DuckDBSession`) and must run in UTC. Models come in
    `freshest_first` order, so a caller that writes each `GoldWrite` as it arrives makes the
    cheap by-date tables (daily sales) current long before the global analyses are. A model that
    reads another gold model (`gold.<name>`) needs that model's full current content: it is
    computed here, or, when only some of its rows were recomputed, taken from `read_gold(name)`
    (the table as stored before this model's own write) with the new rows applied. When
    `read_gold` is missing or returns None, the model read is rebuilt and overwritten. `timings`,
    when given, receives the seconds spent computing each model (not the time the caller spends
    between two yields). `overrides` replaces the plan of the models it names: rebuilt whole, or
    skipped (the budget models a `lakehouse.gold.freshness.Schedule` defers or takes up).
    `before` names the session's relations holding the silver tables as the stored gold tables
    read them (``{"silver.order_items": ...}``): an additive model adds the touched dates' rows
    from now and subtracts theirs from then; without it, additive models are rebuilt.
    `give_way`: stop between budget models when it says other work is waiting (`GiveWay`).
    """
    s = cast("GoldSession[R]", session if hasattr(session, "compute") else DuckDBSession(session))
    zone = s.time_zone()
    if zone not in ("UTC", "Etc/UTC"):
        raise TerminalError(
            f"gold models compute dates and hours in UTC, but this {s.dialect} session runs in "
            f"{zone!r}: run SET TimeZone = 'UTC' (DuckDB) or set spark.sql.session.timeZone "
            "to UTC (Spark) first"
        )
    models = freshest_first()
    chosen = overrides or {}
    plans = {
        m.name: RefreshPlan(m, chosen[m.name]) if m.name in chosen else plan_refresh(m, touched)
        for m in models
    }
    by_product = [
        n for n, p in plans.items() if p.model.refresh == "by_product" and p.mode == "replace"
    ]
    if touched.products and by_product:
        products = s.sources.get("silver.products", "silver.products")
        catalog = int(s.scalar(f"SELECT COUNT(*) FROM {products}"))
        if len(touched.products) >= REBUILD_SHARE * catalog:  # filtering would cost more
            plans = {**plans, **{n: RefreshPlan(plans[n].model, "overwrite") for n in by_product}}
    return _refreshed(s, touched, models, plans, read_gold, timings, before, give_way)


def _refreshed(
    s: GoldSession[R],
    touched: Touched,
    models: list[GoldModel],
    plans: Mapping[str, RefreshPlan],
    read_gold: ReadGold | None,
    timings: dict[str, float] | None,
    before: Mapping[str, str] | None,
    give_way: GiveWay | None,
) -> Generator[GoldWrite[R], None, None]:
    needed = {dep for m in models if plans[m.name].mode != "skip" for dep in m.depends_on}
    shared = _shared_ephemeral(models, plans)
    registered: dict[str, str] = {}
    writes: list[GoldWrite[R]] = []  # the current model's

    def sql_of(model: GoldModel | str, tables: Mapping[str, str]) -> str:
        return render(model, s.dialect, tables={**s.sources, **tables})

    def rebuild(model: GoldModel) -> R:
        tables = {f"gold.{name}": rel for name, rel in registered.items()}
        full = _run(s, model, sql_of(model, tables))
        writes.append(GoldWrite(model.name, full, "overwrite"))
        return full

    def incremental_sql(plan: RefreshPlan, silver: Mapping[str, str] | None = None) -> str:
        """The plan's query on silver now, or on the relations `silver` names instead."""
        return plan.sql(
            s.dialect,
            tables={**s.sources, **(silver or {}), **_inlined(registered, shared)},
            key_table=key_tables.get(plan.model.refresh),
        )

    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        if timings is not None:
            timings[name] = timings.get(name, 0.0) + now - clock
        clock = now

    key_tables = _register_keys(s, registered, touched)
    if give_way is not None:
        give_way.left = []
    budget_taken = False  # a budget model was taken up: the next one may give way
    try:
        for name in shared:  # stored compactly, and spilled past the memory limit
            registered[name] = _registered(name)
            s.temp_table(registered[name], sql_of(name, {}))
            lap(name)
        for n, model in enumerate(models):
            plan = plans[model.name]
            if model.freshness == "budget" and plan.mode != "skip":
                if give_way is not None and budget_taken and give_way.waiting():
                    give_way.left = [m.name for m in models[n:] if plans[m.name].mode != "skip"]
                    return
                budget_taken = True
            full: R | None = None
            many = len(plan.key_values) > MAX_PREDICATE_KEYS
            if plan.mode == "overwrite":
                full = rebuild(model)
            elif plan.mode == "replace" and (model.name in needed or many):
                # the whole table is wanted (read by a later model, or written whole because a
                # predicate naming every key would be too long): current table + this run's rows
                full = _existing(s, read_gold, model)
                rows = None if full is None else _run(s, model, incremental_sql(plan))
                merged = (
                    None
                    if full is None or rows is None
                    else s.replace_keys(full, _key(model), plan.key_values, rows)
                )
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
                rows = _run(s, model, incremental_sql(plan))
                writes.append(GoldWrite(model.name, rows, "replace", plan.predicate))
            elif plan.mode == "add":
                stored = _existing(s, read_gold, model)
                if stored is None or before is None:  # nothing to add to: rebuild
                    full = rebuild(model)
                else:  # the held totals, the dates' rows now and as they were: each kept
                    parts = {
                        "held": stored,
                        "now": _run(s, model, incremental_sql(plan)),
                        "then": _run(s, model, incremental_sql(plan, before)),
                    }
                    names = {part: _registered(f"{model.name}__{part}") for part in parts}
                    for part, rows in parts.items():
                        registered[f"{model.name}__{part}"] = names[part]
                        s.keep(names[part], rows)
                    full = s.compute(_added_sql(model, names, s.dialect))
                    writes.append(GoldWrite(model.name, full, "overwrite"))
            elif model.name in needed:  # not refreshed, but read whole by a later model
                full = _existing(s, read_gold, model)
                if full is None:
                    full = rebuild(model)
            if model.name in needed and full is not None:
                registered[model.name] = _registered(model.name)
                s.keep(registered[model.name], full)
            lap(model.name)
            yield from writes
            writes.clear()
            clock = time.perf_counter()  # the caller's writing is not this model's compute
    finally:
        for relation in registered.values():
            s.forget(relation)


def _added_sql(model: GoldModel, parts: Mapping[str, str], dialect: Dialect) -> str:
    """An additive model's new rows from the relations in `parts`: what it holds (``held``,
    one row per key), plus the touched dates' rows now (``now``), minus the same dates' rows as
    they were (``then``); a key whose measures all come to 0 is dropped. The run's change is
    summed per key first and joined to the held rows (a full join: 2-3x faster at 10 M than
    grouping the held rows again). Each part is its own relation: Spark hoists the CTEs of two
    copies of a model into one WITH."""
    dims, measures = model.dimensions, model.measures

    now = exp.select(*dims, *measures).from_(parts["now"])
    then = exp.select(*dims, *[(-exp.column(m)).as_(m) for m in measures]).from_(parts["then"])
    change = (
        exp.select(*dims, *[exp.func("SUM", exp.column(m)).as_(m) for m in measures])
        .from_(exp.union(now, then, distinct=False).subquery("rows_of_dates"))
        .group_by(*dims)
    )

    def total(m: str) -> exp.Expr:
        return exp.func("COALESCE", exp.column(m, "held"), exp.Literal.number(0)) + exp.func(
            "COALESCE", exp.column(m, "moved"), exp.Literal.number(0)
        )

    out = [
        exp.cast(total(c), exp.DataType.Type.BIGINT).as_(c)
        if c in measures
        else exp.func("COALESCE", exp.column(c, "held"), exp.column(c, "moved")).as_(c)
        for c in model.column_names
    ]
    same_key = exp.and_(
        *[
            exp.NullSafeEQ(this=exp.column(d, "held"), expression=exp.column(d, "moved"))
            for d in dims
        ]
    )
    query = (
        exp.select(*out)
        .from_(exp.to_table(parts["held"]).as_("held"))
        .join(change.subquery("moved"), on=same_key, join_type="FULL")
        .where(exp.or_(*[total(m).neq(0) for m in measures]))
    )
    return to_dialect(query, dialect)


def _key(model: GoldModel) -> str:
    assert model.key is not None  # parse_model guarantees a key for by_* models
    return model.key


def freshest_first() -> list[GoldModel]:
    """Every model in a dependency order that takes up those recomputing only the run's slice
    first: by date, then by customer, by product, the global (`full`) analyses, and the models
    with a staleness budget last."""
    rank = {"by_date": 0, "by_user": 1, "by_product": 2, "additive": 2, "full": 3, "ephemeral": 3}
    return list_models(first=lambda m: rank[m.refresh] + (4 if m.freshness == "budget" else 0))


def _register_keys(
    s: GoldSession[Any], registered: dict[str, str], touched: Touched
) -> dict[str, str]:
    """Touched users and products as one-column relations (policy -> relation name)."""
    import pyarrow as pa

    tables = {}
    for policy, column, values in (
        ("by_user", "user_id", touched.users),
        ("by_product", "product_id", touched.products),
    ):
        if values:
            name = f"touched_{column}s"
            registered[name] = _registered(name)
            s.put_arrow(registered[name], pa.table({column: pa.array(sorted(values), pa.int64())}))
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
