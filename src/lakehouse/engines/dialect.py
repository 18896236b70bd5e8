r"""The shared SQL dialect, and how it becomes each engine's SQL.

Everything written once and run by every engine — validation rules, merge statements, gold
models — is SQL in DuckDB's dialect (`SOURCE_DIALECT`). `to_dialect` is the one place that SQL
becomes another engine's: sqlglot transpiles it, and the fixes below correct what sqlglot renders
with another meaning on the engine (sqlglot maps a function to the engine's function of the same
name; it does not always keep what the function computes). `quote` is the one way an identifier
is quoted, in any of the dialects.

Every fix applies to everything rendered (merge and validation SQL, gold models alike), node by
node from the leaves up, so a fixed expression nested in another is fixed too:

- ``TRIM(x)``, ``LTRIM(x)``, ``RTRIM(x)`` with no characters given — Spark. DuckDB strips Unicode
  space separators (category Zs: U+00A0, U+2002, U+3000, ...), Spark only ' '; sqlglot keeps the
  call as it is. Rendered as ``REGEXP_REPLACE(x, '^\p{Zs}+|\p{Zs}+\z', '')`` (a Java regex:
  ``\z``, not ``$``, because Java's ``$`` also matches before a final line break).
- Day of the week — Spark and Trino. In DuckDB ``ISODOW(x)`` (and ``EXTRACT(ISODOW FROM x)``) is
  1 = Monday .. 7 = Sunday; ``DAYOFWEEK(x)``, ``WEEKDAY(x)``, ``EXTRACT(DOW FROM x)`` and
  ``DATE_PART('dow', x)`` are 0 = Sunday .. 6. sqlglot renders ``ISODOW`` for Spark as
  ``((DAYOFWEEK(x) % 7) + 1)`` (Monday comes out as 3), ``DAYOFWEEK`` unchanged for Spark (1 =
  Sunday there) and as ``((DAY_OF_WEEK(x) % 7) + 1)`` for Trino (1 = Sunday), and passes the
  EXTRACT, WEEKDAY and DATE_PART forms through, which Spark and Trino number otherwise (Spark's
  ``WEEKDAY`` is 0 = Monday, its ``DOW`` 1 = Sunday; Trino's ``DOW`` is ISO) or do not know. Every
  form is rendered from the engine's ISO day of the week (Spark ``EXTRACT(DAYOFWEEK_ISO FROM x)``,
  Trino ``DAY_OF_WEEK(x)``): as it is for ISO, ``% 7`` for DuckDB's Sunday-first numbering.
- Ranking functions — Spark. DuckDB's ``ROW_NUMBER()``, ``RANK()``, ``DENSE_RANK()`` and
  ``NTILE(n)`` return BIGINT, Spark's INT; a gold table computed by Spark would store another type
  than the same table computed by DuckDB (and a later write by the other engine would be refused).
  Rendered as ``CAST(<call> OVER (...) AS BIGINT)``.
- Percentiles — Spark and Trino. sqlglot renders ``percentile_cont``/``quantile_cont``/
  ``quantile_disc`` as approximate percentiles (``PERCENTILE_APPROX``, ``APPROX_PERCENTILE``) or
  as calls those engines do not have, and DuckDB's ``approx_quantile`` is another approximation on
  each engine. Nothing sqlglot renders computes DuckDB's numbers, so `to_dialect` refuses them
  (`NOT_PORTABLE`) instead of returning SQL that computes other ones. Gold models refuse them on
  every engine (`lakehouse.gold.render`) and compute exact percentiles with window functions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import sqlglot
from sqlglot import exp

Dialect = Literal["duckdb", "spark", "trino"]
DIALECTS: tuple[Dialect, ...] = ("duckdb", "spark", "trino")
SOURCE_DIALECT: Dialect = "duckdb"

#: a condition in the shared dialect: SQL text or a sqlglot expression
Condition = str | exp.Expr
#: functions no engine but DuckDB computes as DuckDB does, whatever sqlglot renders
NOT_PORTABLE: tuple[type[exp.Expr], ...] = (
    exp.ApproxQuantile,
    exp.PercentileCont,
    exp.PercentileDisc,
    exp.Quantile,
)


def quote(name: str, dialect: Dialect = SOURCE_DIALECT) -> str:
    """`name` as a quoted identifier of `dialect`: "a""b" (DuckDB, Trino), `a``b` (Spark)."""
    if dialect == "spark":
        return "`" + name.replace("`", "``") + "`"
    if dialect in DIALECTS:
        return '"' + name.replace('"', '""') + '"'
    raise ValueError(_unknown(dialect))


def literal(text: str) -> str:
    """`text` as a string literal of DuckDB and Trino (and standard SQL): 'it''s'."""
    return "'" + text.replace("'", "''") + "'"


def parse(sql: str) -> exp.Expr:
    """One statement or expression in the shared dialect, as a sqlglot tree (ParseError if not)."""
    return sqlglot.parse_one(sql, read=SOURCE_DIALECT)


def condition(cond: Condition) -> exp.Expr:
    """A condition in the shared dialect as a sqlglot tree (a tree is returned as it is)."""
    if isinstance(cond, exp.Expr):
        return cond
    return sqlglot.condition(cond, dialect=SOURCE_DIALECT)


def to_dialect(sql: str | exp.Expr, dialect: Dialect, *, pretty: bool = False) -> str:
    """One statement or expression in the shared dialect (text or tree), as `dialect`'s SQL.

    Text is returned unchanged for DuckDB (unless `pretty`); everything else goes through
    sqlglot and the fixes of this module. A tree is never changed. ValueError for an unknown
    dialect or SQL no fix makes mean the same on `dialect` (see `NOT_PORTABLE`).
    """
    if dialect not in DIALECTS:
        raise ValueError(_unknown(dialect))
    if isinstance(sql, str):
        if dialect == SOURCE_DIALECT and not pretty:
            return sql
        tree = parse(sql)
    else:
        tree = sql
    if dialect != SOURCE_DIALECT:
        found = next(iter(tree.find_all(*NOT_PORTABLE)), None)
        if found is not None:
            raise ValueError(
                f"{found.sql(SOURCE_DIALECT)} has no rendering for {dialect} that computes what "
                "DuckDB computes; compute percentiles with window functions"
            )
    return _fixed(tree, dialect).sql(dialect=dialect, pretty=pretty)


def _unknown(dialect: object) -> str:
    return f"dialect must be one of {', '.join(DIALECTS)}, not {dialect!r}"


# --- the fixes (see the module docstring) -----------------------------------------------------
_Fix = Callable[[exp.Expr, Dialect], exp.Expr]

# DuckDB's TRIM strips Unicode space separators; `\z`: Java's `$` also matches before a final \n
_ZS = {None: r"^\p{Zs}+|\p{Zs}+\z", "BOTH": r"^\p{Zs}+|\p{Zs}+\z"}
_ZS |= {"LEADING": r"^\p{Zs}+", "TRAILING": r"\p{Zs}+\z"}
_ISO_UNITS = {"ISODOW"}
_SUNDAY_ZERO_UNITS = {"DOW", "DAYOFWEEK", "WEEKDAY"}


def _fixed(tree: exp.Expr, dialect: Dialect) -> exp.Expr:
    """A copy of `tree` with `dialect`'s fixes applied to every node, leaves first."""
    fixes = _FIXES.get(dialect, ())
    if not fixes:
        return tree
    tree = tree.copy()
    for node in reversed(list(tree.dfs())):  # every node comes after the nodes below it
        new = node
        for fix in fixes:
            new = fix(new, dialect)
        if new is node:
            continue
        if node is tree:
            tree = new
        else:
            node.replace(new)
    return tree


def _trim_unicode_spaces(node: exp.Expr, dialect: Dialect) -> exp.Expr:
    """TRIM/LTRIM/RTRIM(x) strip Unicode space separators, as in DuckDB (Spark)."""
    if not isinstance(node, exp.Trim) or node.args.get("expression"):
        return node
    pattern = _ZS.get(node.args.get("position"))
    if pattern is None:
        return node
    return exp.RegexpReplace(
        this=node.this, expression=exp.Literal.string(pattern), replacement=exp.Literal.string("")
    )


def _day_of_week(node: exp.Expr, dialect: Dialect) -> exp.Expr:
    """Every DuckDB day-of-week form from the engine's ISO day of the week (Spark, Trino)."""
    unit, arg = _day_of_week_call(node)
    if unit is None or arg is None:
        return node
    iso: exp.Expr = (
        exp.Extract(this=exp.var("DAYOFWEEK_ISO"), expression=arg)
        if dialect == "spark"
        else exp.DayOfWeekIso(this=arg)
    )
    if unit in _ISO_UNITS:
        return iso
    return exp.Paren(this=exp.Mod(this=iso, expression=exp.Literal.number(7)))


def _day_of_week_call(node: exp.Expr) -> tuple[str | None, exp.Expr | None]:
    """(unit, argument) of a DuckDB day-of-week call; (None, None) for any other node."""
    if isinstance(node, exp.DayOfWeekIso):
        return "ISODOW", node.this
    if isinstance(node, exp.DayOfWeek):
        return "DOW", node.this
    if isinstance(node, exp.Extract) and isinstance(node.this, exp.Var):
        unit = node.this.name.upper()
        if unit in _ISO_UNITS | _SUNDAY_ZERO_UNITS:
            return unit, node.expression
    if isinstance(node, exp.Anonymous):
        name, args = node.name.upper(), node.expressions
        if name == "WEEKDAY" and len(args) == 1:
            return "WEEKDAY", args[0]
        if name in ("DATE_PART", "DATEPART") and len(args) == 2 and args[0].is_string:
            unit = args[0].name.upper()
            if unit in _ISO_UNITS | _SUNDAY_ZERO_UNITS:
                return unit, args[1]
    return None, None


_RANKING = (exp.RowNumber, exp.Rank, exp.DenseRank, exp.Ntile)


def _ranking_as_bigint(node: exp.Expr, dialect: Dialect) -> exp.Expr:
    """Ranking window functions return BIGINT, as in DuckDB (Spark: INT)."""
    if not isinstance(node, exp.Window) or not isinstance(node.this, _RANKING):
        return node
    return exp.cast(node, exp.DataType.Type.BIGINT)


_FIXES: dict[Dialect, tuple[_Fix, ...]] = {
    "spark": (_trim_unicode_spaces, _day_of_week, _ranking_as_bigint),
    "trino": (_day_of_week,),
}
