"""Row validation, written once as SQL generated from a contract and rendered per engine.

The statement reads a relation `batch` (the contract's columns as text, plus lineage columns
`_file_sha256`, `_sheet_index`, `_row` and others) and, for each foreign key, a relation
`parent_<entity>` holding the parent table as it is after this run's parents were merged.
It returns the lineage, the original text of every column, each column typed (`<col>__v`) and
`_reasons`: the row's reason codes joined with '|' ('' for a valid row).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial

from lakehouse.contracts import Column, Contract, ForeignKey
from lakehouse.engines.dialect import Dialect, quote, to_dialect
from lakehouse.store.zones import CANONICAL

REASON_SEPARATOR = "|"
# Patterns end in `\z`, not `$`: in Java (Spark) `$` also matches before a final line break.
# Hours stop at 23 (DuckDB reads 24:00:00 as the next day, Spark as invalid) and offsets at
# ±14:59 (real zones span -12:00..+14:00; DuckDB takes any, Spark up to ±18:00).
INT_RE = r"^[+-]?[0-9]{1,18}\z"
# A date may carry a time of exactly midnight, naive or UTC: what a timestamp column holding
# dates gives (pandas' `datetime64`: `2025-04-01T00:00:00`); any other time is not a date.
DATE_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ]00:00(:00(\.0{1,9})?)?(Z|[+-]00:?00)?)?\z"
TS_RE = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ]([01][0-9]|2[0-3]):[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?"
    r"(Z|[+-](0[0-9]|1[0-4]):?[0-5][0-9])?\z"
)


# Years 0001..9999 (UTC), what Delta readers (Spark, Python's datetime) can hold: DuckDB also
# reads year 0000, and an offset can move an instant to year 0000 or 10000.
TIME_RANGE = {
    "date": ("0001-01-01", "9999-12-31"),
    "timestamp": ("0001-01-01 00:00:00+00:00", "9999-12-31 23:59:59.999999+00:00"),
}


def decimal_re(precision: int, scale: int) -> str:
    whole = precision - scale
    return rf"^[+-]?([0-9]{{1,{whole}}}(\.[0-9]{{0,{scale}}})?|\.[0-9]{{1,{scale}}})\z"


def typed_name(column: str) -> str:
    return f"{column}__v"


def _lit(value: object) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _raw(col: Column) -> str:
    """The trimmed text of a column, NULL when empty, the contract default when absent."""
    expr = f"NULLIF(TRIM({quote(col.name)}), '')"
    return f"COALESCE({expr}, {_lit(col.default)})" if col.default is not None else expr


def raw_name(column: str) -> str:
    return f"{column}__r"


def _decimal(col: Column) -> tuple[int, int]:
    """A decimal column's (precision, scale)."""
    return col.decimal or (18, 2)


def _numeric_sql_type(col: Column) -> str:
    """The SQL type a bigint or decimal column's text is cast to."""
    return "BIGINT" if col.kind == "bigint" else "DECIMAL({}, {})".format(*_decimal(col))


def canonical_type(col: Column) -> str | None:
    """The contract type a typed source column must have for its text to be cast unchecked
    (`ingest.batch.canonical_kind` names the same types); None where text is always checked."""
    if col.kind == "bigint":
        return "bigint"
    if col.kind == "decimal":
        return "decimal({},{})".format(*_decimal(col))
    return None


#: bits of a 64-bit mask: columns after the 63rd are always checked as text
_MASK_BITS = 63


def canonical_mask(contract: Contract, kinds: Mapping[str, str]) -> int:
    """One bit per contract column (its position) whose source column had exactly the column's
    type (`kinds`: `Batch.canonical`): the row's `_canonical` value."""
    return sum(
        1 << i
        for i, col in enumerate(contract.columns[:_MASK_BITS])
        if canonical_type(col) is not None and kinds.get(col.name) == canonical_type(col)
    )


def _text_and_value(
    contract: Contract, col: Column, raw: str, *, canonical: bool
) -> tuple[str, str]:
    """SQL of `col`'s trimmed text (`_raw`) and of its typed value read from `raw` (an expression
    holding that text). With `canonical` (the batch has `_canonical`), text a row's bit says was
    written from a typed value of the column's type (not null) is taken as it is and cast: it is
    trimmed and valid already."""
    text, value = _raw(col), typed_expr(col, raw)
    i = contract.columns.index(col)
    if not canonical or canonical_type(col) is None or i >= _MASK_BITS:
        return text, value
    name = quote(col.name)
    sure = f"({CANONICAL} & {1 << i}) <> 0 AND {name} <> ''"
    return (
        f"CASE WHEN {sure} THEN {name} ELSE {text} END",
        f"CASE WHEN {sure} THEN CAST({name} AS {_numeric_sql_type(col)}) ELSE {value} END",
    )


def typed_expr(col: Column, raw: str | None = None) -> str:
    """The column's typed value, NULL when its text does not parse; `raw`: an expression
    holding `_raw(col)` already (default: `_raw(col)` itself)."""
    raw = raw or _raw(col)
    kind = col.kind
    if kind == "string":
        return raw
    if kind in ("bigint", "decimal"):
        pattern = INT_RE if kind == "bigint" else decimal_re(*_decimal(col))
        return (
            f"CASE WHEN REGEXP_MATCHES({raw}, {_lit(pattern)}) "
            f"THEN CAST({raw} AS {_numeric_sql_type(col)}) END"
        )
    sql_type, pattern = ("DATE", DATE_RE) if kind == "date" else ("TIMESTAMPTZ", TS_RE)
    # a date's midnight time is cast away by both engines (DuckDB and Spark read a timestamp's
    # text as its date); cutting it off first cost a third more of the date's typing
    value = f"TRY_CAST({raw} AS {sql_type})"
    low, high = (f"CAST({_lit(x)} AS {sql_type})" for x in TIME_RANGE[kind])
    return (
        f"CASE WHEN REGEXP_MATCHES({raw}, {_lit(pattern)}) "
        f"AND {value} BETWEEN {low} AND {high} THEN {value} END"
    )


@dataclass(frozen=True)
class ValidationQuery:
    entity: str
    sql: str  # DuckDB dialect (the one dialect rules are written in)
    parents: tuple[str, ...]  # relations `parent_<entity>` the statement reads

    def render(self, dialect: Dialect) -> str:
        return to_dialect(self.sql, dialect)


def _reason_exprs(c: Contract, future_limit: dt.datetime) -> list[str]:
    out: list[str] = []

    def when(cond: str, code: str) -> None:
        out.append(f"CASE WHEN {cond} THEN {_lit(code)} END")

    for col in c.columns:
        raw, v = quote(raw_name(col.name)), quote(typed_name(col.name))
        if col.name in c.primary_key:
            when(f"{raw} IS NULL", f"null_key:{col.name}")
        elif col.required:
            when(f"{raw} IS NULL", f"null_required:{col.name}")
        if col.kind != "string":
            code = "bad_timestamp" if col.kind in ("date", "timestamp") else "bad_type"
            when(f"{raw} IS NOT NULL AND {v} IS NULL", f"{code}:{col.name}")
        bounds = []
        if col.min is not None:
            bounds.append(f"{v} < {col.min}")
        if col.max is not None:
            bounds.append(f"{v} > {col.max}")
        if bounds:
            when(f"{v} IS NOT NULL AND ({' OR '.join(bounds)})", f"out_of_range:{col.name}")
        if col.enum:
            values = ", ".join(_lit(e) for e in col.enum)
            when(f"{v} IS NOT NULL AND {v} NOT IN ({values})", f"invalid_enum:{col.name}")
    for col in c.columns:
        if col.date_of:
            ts, d = quote(typed_name(col.date_of)), quote(typed_name(col.name))
            when(
                f"{ts} IS NOT NULL AND {d} IS NOT NULL AND CAST({ts} AS DATE) <> {d}",
                "date_mismatch",
            )
    limit = future_limit.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S+00:00")
    for col in c.columns:
        if col.not_in_future:
            v = quote(typed_name(col.name))
            when(f"{v} > CAST({_lit(limit)} AS TIMESTAMPTZ)", "future_timestamp")
    when("__dup > 1", "duplicate_key_in_batch")
    for i, fk in enumerate(c.foreign_keys):
        child = quote(typed_name(fk.column))
        when(f"{child} IS NOT NULL AND NOT __p{i}_found", f"orphan:{fk.column}")
        theirs = partial(_parent_value, i)
        for cond, code in parent_mismatches(fk, lambda n: quote(typed_name(n)), theirs):
            when(f"__p{i}_found AND {cond}", code)
    return out


def _parent_value(i: int, name: str) -> str:
    """The validation statement's column holding foreign key `i`'s parent value of `name`."""
    return quote(f"__p{i}_{name}")


def parent_mismatches(
    fk: ForeignKey, child: Callable[[str], str], parent: Callable[[str], str]
) -> list[tuple[str, str]]:
    """(condition, reason code) for each of `fk.must_agree`, given the SQL for the child's and
    the parent's value of a column: the child has a value and its parent's is another. Shared
    by validation and by the re-check of children whose parent changed (`engines.recheck`)."""
    return [
        (f"{child(n)} IS NOT NULL AND {child(n)} <> {parent(n)}", f"parent_mismatch:{n}")
        for n in fk.must_agree
    ]


def _duplicates_sql(contract: Contract, *, canonical: bool) -> str:
    """CTEs `keys`, `dupkeys` and `ranked`: each row whose key its file repeats, numbered in file
    order (`__dup`, 1 for the first). Only the repeated keys are ranked: a window over the whole
    batch sorted every row (a third of the statement's time at 1 M rows), where grouping by key
    finds the few repeats. `keys` types only the key columns of `batch`: built from the fully
    typed rows, the typed rows became a relation read twice, which DuckDB materialises (about
    10 % of the statement). A row is one (`_file_sha256`, `_sheet_index`, `_row`) in a batch."""
    pk = [quote(typed_name(k)) for k in contract.primary_key]
    key_typed = [
        f"{_text_and_value(contract, col, _raw(col), canonical=canonical)[1]} "
        f"AS {quote(typed_name(col.name))}"
        for col in contract.columns
        if col.name in contract.primary_key
    ]
    present = " AND ".join(f"{k} IS NOT NULL" for k in pk)
    on = " AND ".join(f"k.{c} = t.{c}" for c in ["_file_sha256", *pk])
    t_pk = ", ".join(f"t.{k}" for k in pk)
    return (
        f"keys AS (\n  SELECT _file_sha256, _sheet_index, _row, {', '.join(key_typed)}\n"
        f"  FROM batch\n),\n"
        f"dupkeys AS (\n  SELECT _file_sha256, {', '.join(pk)} FROM keys WHERE {present}\n"
        f"  GROUP BY _file_sha256, {', '.join(pk)} HAVING COUNT(*) > 1\n),\n"
        f"ranked AS (\n  SELECT t._file_sha256, t._sheet_index, t._row, ROW_NUMBER() OVER "
        f"(PARTITION BY t._file_sha256, {t_pk} ORDER BY t._sheet_index, t._row) AS __dup\n"
        f"  FROM keys AS t JOIN dupkeys AS k ON {on}\n)"
    )


def same_batch_row(left: str, right: str) -> str:
    """SQL: `left` and `right` are the same row of a batch, one (`_file_sha256`, `_sheet_index`,
    `_row`) there (a CSV's sheet index is null)."""
    return (
        f"{left}._file_sha256 = {right}._file_sha256 "
        f"AND {left}._sheet_index IS NOT DISTINCT FROM {right}._sheet_index "
        f"AND {left}._row = {right}._row"
    )


def key_ranges_sql(
    contract: Contract, columns: list[str], lineage: list[str], relation: str = "batch"
) -> str:
    """SQL, one row: the least and the greatest value in `relation` (rows in the batch layout,
    by default the batch) of each of `columns`, in turn, typed as the validation statement
    (given the same `lineage`) types them: every value that statement looks up in a parent lies
    between them. One scan of the relation for all of them."""
    bounds = []
    for name in columns:
        col = contract.column(name)
        value = _text_and_value(contract, col, _raw(col), canonical=CANONICAL in lineage)[1]
        bounds += [f"min({value})", f"max({value})"]
    return f"SELECT {', '.join(bounds)} FROM {relation}"


def validation_query(contract: Contract, lineage: list[str], now: dt.datetime) -> ValidationQuery:
    """Build the statement that types and checks every row of `batch` against `contract`."""
    future_limit = now + dt.timedelta(minutes=contract.future_tolerance_minutes)
    keep = [quote(x) for x in lineage] + [quote(col.name) for col in contract.columns]
    # each column trimmed once (`<col>__r`), read by its typing and by the reasons; with
    # `_canonical` in the batch, text written from a typed value of the column's type is neither
    # trimmed nor matched, only cast (a third of the statement for typed Parquet order lines)
    canonical = CANONICAL in lineage
    raws, typed = [], []
    for col in contract.columns:
        r = quote(raw_name(col.name))
        text, value = _text_and_value(contract, col, r, canonical=canonical)
        raws.append(f"{text} AS {r}")
        typed.append(f"{value} AS {quote(typed_name(col.name))}")
    typed += [quote(raw_name(col.name)) for col in contract.columns]
    joins, parent_cols = [], []
    for i, fk in enumerate(contract.foreign_keys):
        alias = f"p{i}"
        parent_cols.append(f"{alias}.{quote(fk.ref_column)} IS NOT NULL AS __p{i}_found")
        parent_cols += [f"{alias}.{quote(c)} AS {_parent_value(i, c)}" for c in fk.must_agree]
        joins.append(
            f"LEFT JOIN parent_{fk.references} AS {alias} "
            f"ON {alias}.{quote(fk.ref_column)} = t.{quote(typed_name(fk.column))}"
        )
    reasons = ",\n    ".join(_reason_exprs(contract, future_limit))
    # the rows' text stays in `batch`: only quarantined rows need it (`quarantine_rows_sql`
    # joins it back), and leaving it out of every checked row saves 10-15 % of the statement
    out_cols = [quote(x) for x in lineage if x != CANONICAL]
    out_cols += [quote(typed_name(c.name)) for c in contract.columns]
    # each step a subquery read once, not a CTE: DuckDB keeps a relation read twice in memory
    sql = (
        f"WITH {_duplicates_sql(contract, canonical=canonical)}\n"
        f"SELECT {', '.join(out_cols)},\n  CONCAT_WS('{REASON_SEPARATOR}',\n    {reasons}\n"
        f"  ) AS _reasons\nFROM (\n"
        f"  SELECT t.*, COALESCE(d.__dup, 1) AS __dup"
        f"{''.join(', ' + c for c in parent_cols)}\n  FROM (\n"
        f"    SELECT {', '.join(keep)},\n      {', '.join(typed)}\n"
        f"    FROM (SELECT {', '.join(keep)},\n      {', '.join(raws)}\n"
        f"    FROM batch) AS trimmed\n"
        f"  ) AS t\n  LEFT JOIN ranked AS d ON {same_batch_row('d', 't')}"
        f"{''.join(' ' + j for j in joins)}\n) AS checked"
    )
    parents = tuple(fk.references for fk in contract.foreign_keys)
    return ValidationQuery(contract.entity, sql, parents)
