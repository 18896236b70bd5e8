"""Render a gold model's SQL for one engine (through `engines.dialect`, where dialects differ).

Model SQL is written in DuckDB dialect and transpiled by sqlglot. Rendering also

- inlines ephemeral models (``gold.line_revenue``) as subqueries where they are read;
- restricts source tables for an incremental refresh (``source_filters``: table -> condition);
- keeps only the output rows a refresh replaces (``output_filter``, over the model's columns);
- renames tables (``tables``: e.g. ``{"gold.customer_profile": "__gold_customer_profile"}``).

The SQL of the engines is made by `lakehouse.engines.dialect.to_dialect`, the one renderer of
the shared dialect, with every fix sqlglot needs (TRIM, day of the week, ...: see that module).
One rule is the models' own: functions with no exact rendering on every engine (``percentile_cont``,
``quantile_cont``, ..., `dialect.NOT_PORTABLE`) are refused whatever the dialect, so a model gives
the same numbers everywhere; models compute exact percentiles with window functions instead (see
order_value_distribution.sql).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache

import sqlglot
from sqlglot import exp

from lakehouse.engines.dialect import (
    NOT_PORTABLE,
    SOURCE_DIALECT,
    Condition,
    Dialect,
    condition,
    parse,
    to_dialect,
)
from lakehouse.gold.model import GoldModel, ModelError, all_models, get_model


def _parse(sql: str, where: str) -> exp.Query:
    try:
        parsed = parse(sql)
    except sqlglot.errors.ParseError as exc:
        raise ModelError(f"{where}: SQL does not parse: {exc}") from exc
    if not isinstance(parsed, exp.Query):
        raise ModelError(f"{where}: the SQL must be one SELECT query")
    return parsed


@cache
def _parse_cached(sql: str, where: str) -> exp.Query:
    return _parse(sql, where)


def _parsed(model: GoldModel) -> exp.Query:
    """The model's parsed SQL; callers copy it before changing it."""
    return _parse_cached(model.sql, model.path or model.name)


def _table_key(table: exp.Table) -> str:
    return f"{table.db}.{table.name}" if table.db else table.name


def _inline_ephemeral(query: exp.Query, trail: tuple[str, ...]) -> exp.Query:
    models = all_models()
    for table in list(query.find_all(exp.Table)):
        if table.db != "gold" or table.name not in models:
            continue
        dep = models[table.name]
        if dep.materialized:
            continue
        if dep.name in trail:
            raise ModelError(f"ephemeral models read each other in a cycle: {trail}")
        body = _inline_ephemeral(_parsed(dep).copy(), (*trail, dep.name))
        table.replace(exp.Subquery(this=body, alias=exp.TableAlias(this=_alias(table))))
    return query


def _alias(table: exp.Table) -> exp.Identifier:
    return exp.to_identifier(table.alias or table.name)


def _apply_source_filters(query: exp.Query, filters: Mapping[str, Condition]) -> exp.Query:
    conditions = {name: condition(cond) for name, cond in filters.items()}
    for table in list(query.find_all(exp.Table)):
        cond = conditions.get(_table_key(table))
        if cond is None:
            continue
        source = exp.Table(
            this=exp.to_identifier(table.name),
            db=exp.to_identifier(table.db) if table.db else None,
        )
        body = exp.select("*").from_(source).where(cond.copy())
        table.replace(exp.Subquery(this=body, alias=exp.TableAlias(this=_alias(table))))
    return query


def _rename_tables(query: exp.Query, tables: Mapping[str, str]) -> exp.Query:
    for table in list(query.find_all(exp.Table)):
        target = tables.get(_table_key(table))
        if target is None:
            continue
        new = exp.to_table(target, dialect=SOURCE_DIALECT)
        new.set("alias", exp.TableAlias(this=_alias(table)))
        table.replace(new)
    return query


def model_query(
    model: GoldModel | str,
    *,
    source_filters: Mapping[str, Condition] | None = None,
    output_filter: Condition | None = None,
    tables: Mapping[str, str] | None = None,
) -> exp.Query:
    """The model's query as a sqlglot tree (DuckDB dialect), with the options of `render`."""
    m = get_model(model) if isinstance(model, str) else model
    query = _inline_ephemeral(_parsed(m).copy(), (m.name,))
    if source_filters:
        query = _apply_source_filters(query, source_filters)
    if output_filter is not None:
        query = (
            exp.select("*")
            .from_(exp.Subquery(this=query, alias=exp.TableAlias(this=exp.to_identifier("m"))))
            .where(condition(output_filter))
        )
    if tables:
        query = _rename_tables(query, tables)
    names = [cte.alias for cte in query.find_all(exp.CTE)]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ModelError(
            f"{m.path or m.name}: CTE name(s) {', '.join(twice)} also used by an inlined "
            "ephemeral model; Spark hoists nested CTEs into one WITH, so rename them"
        )
    found = next(iter(query.find_all(*NOT_PORTABLE)), None)
    if found is not None:
        raise ModelError(
            f"{m.path or m.name}: {found.sql(SOURCE_DIALECT)} is not exact on every engine; "
            "compute percentiles with window functions (see order_value_distribution.sql)"
        )
    return query


def render(
    model: GoldModel | str,
    dialect: Dialect = "duckdb",
    *,
    source_filters: Mapping[str, Condition] | None = None,
    output_filter: Condition | None = None,
    tables: Mapping[str, str] | None = None,
    pretty: bool = True,
) -> str:
    """The model's SQL for `dialect` (duckdb, spark or trino).

    source_filters: ``{"silver.orders": "date BETWEEN DATE '2025-04-01' AND ..."}`` restricts what
    the model reads; output_filter keeps only matching output rows; tables renames tables. Strings
    are DuckDB-dialect SQL.
    """
    query = model_query(
        model, source_filters=source_filters, output_filter=output_filter, tables=tables
    )
    return to_dialect(query, dialect, pretty=pretty)


def reads(model: GoldModel | str) -> set[str]:
    """Tables the model's own SQL reads (`silver.orders`, `gold.line_revenue`, ...), CTEs aside."""
    m = get_model(model) if isinstance(model, str) else model
    query = _parsed(m)
    ctes = {cte.alias for cte in query.find_all(exp.CTE)}
    return {_table_key(t) for t in query.find_all(exp.Table) if _table_key(t) not in ctes}
