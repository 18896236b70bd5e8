"""Plan a full or incremental refresh of the gold models: what each one recomputes.

A run says what it changed in silver as a `Touched`: the order dates, customers and products of
every order or order line it inserted, updated or deleted (for an updated row, its values before
and after), plus the products whose catalog row changed; `None` = unknown: rebuild. Each model is
then refreshed by its policy:

- ``by_date``  recompute the periods (day, week or month) holding a touched date, plus the
  ``lookback`` periods after each of them (whose change-vs-previous-period columns read it);
  reads only those periods and the ``lookback`` periods before them.
- ``by_user`` / ``by_product``  recompute the touched customers / products, reading only their
  orders (by_product: every order that holds a touched product).
- ``additive``  add the touched dates' rows as silver holds them now, and subtract the same
  dates' rows as the previous build read them (``add``: `lakehouse.gold.refresh`).
- ``full``  recompute everything (global statistics: ranks, quantiles, pairs, shares) whenever
  anything was touched.

A catalog change that moves a product to another department, or renames it, restates history:
it is refreshed as ``Touched.full()`` (`lakehouse.gold.builds.pending` finds it in the
catalog's change feed; by_date models do not re-read unchanged days). Running the plans is
`lakehouse.gold.refresh`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Literal

from sqlglot import exp

from lakehouse.engines.dialect import Dialect
from lakehouse.gold.model import GoldModel, ModelError, Period
from lakehouse.gold.render import reads, render

SILVER_DATED = ("silver.orders", "silver.order_items")
#: a model's plan replaced whole: rebuilt ("overwrite") or left as it is ("skip")
Override = Literal["overwrite", "skip"]


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

    def describe(self) -> str:
        """How much changed, for logs and commit metadata ("full" when unknown)."""
        if self.is_full:
            return "full"
        return (
            f"{len(self.dates or ())} dates, {len(self.users or ())} customers, "
            f"{len(self.products or ())} products"
        )

    @property
    def is_empty(self) -> bool:
        return (
            self.dates == frozenset() and self.users == frozenset() and self.products == frozenset()
        )


@dataclass(frozen=True)
class RefreshPlan:
    """How one model is refreshed for one `Touched`; `sql()` renders it for any engine."""

    model: GoldModel
    mode: Literal["skip", "overwrite", "replace", "add"]
    predicate: str | None = None
    key_values: tuple[object, ...] = ()
    read_ranges: tuple[tuple[dt.date, dt.date], ...] = ()  # by_date: silver dates read

    def source_filters(self, key_table: str | None = None) -> dict[str, exp.Expr]:
        """Conditions on the silver tables the plan reads (none for overwrite)."""
        if self.mode not in ("replace", "add"):
            return {}
        if self.model.refresh in ("by_date", "additive"):
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
    if model.refresh in ("by_date", "additive"):  # additive: by day, nothing looked back at
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
        if model.refresh == "additive":
            return RefreshPlan(
                model, "add", key_values=tuple(outputs), read_ranges=tuple(read_ranges)
            )
        assert model.key is not None  # parse_model guarantees a key for by_date models
        return RefreshPlan(
            model,
            "replace",
            predicate=_predicate(model.key, outputs),
            key_values=tuple(outputs),
            read_ranges=tuple(read_ranges),
        )
    assert model.key is not None  # parse_model guarantees a key for by_* models
    values = touched.users if model.refresh == "by_user" else touched.products
    if values is None:
        return RefreshPlan(model, "overwrite")
    if not values:
        return RefreshPlan(model, "skip")
    ordered = tuple(sorted(values))
    return RefreshPlan(
        model, "replace", predicate=_predicate(model.key, ordered), key_values=ordered
    )
