"""The shared dialect: one quoting helper and one renderer, with every engine fix in it."""

from __future__ import annotations

import datetime as dt

import duckdb
import pyarrow as pa
import pytest
import sqlglot
from sqlglot import exp

from lakehouse.contracts.validation import ValidationQuery
from lakehouse.engines import dialect
from lakehouse.engines.dialect import DIALECTS, quote, to_dialect
from lakehouse.gold.model import GoldModel, parse_model
from lakehouse.gold.render import render as gold_render

HOSTILE = [
    'a"b',
    'a""b',
    "a`b",
    "a``b`",
    '"`mixed`"',
    "with space",
    "  leading and trailing  ",
    "it's",
    "x.y",
    "select",
    "ünïcödé 日本語 🛒",
    "tab\tand\nline",
    "--not a comment",
    "/* nor this */",
]  # fmt: skip
ZS = "\u00a0\u1680\u2002\u2009\u202f\u205f\u3000"  # Unicode space separators (category Zs)


# --- quoting ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", HOSTILE)
def test_a_quoted_name_reads_back_in_duckdb(name: str) -> None:
    con = duckdb.connect()
    con.register("t", pa.table({name: [1], "other": [2]}))
    cur = con.execute(f"SELECT {quote(name)}, {quote(name)} + 1 AS {quote(name + '!')} FROM t")
    assert cur.fetchall() == [(1, 2)]
    assert [d[0] for d in cur.description] == [name, name + "!"]


@pytest.mark.parametrize("name", HOSTILE)
@pytest.mark.parametrize("target", DIALECTS)
def test_a_quoted_name_parses_back_in_every_dialect(name: str, target: dialect.Dialect) -> None:
    tree = sqlglot.parse_one(f"SELECT {quote(name, target)} FROM t", read=target)
    [column] = tree.find_all(exp.Column)
    assert column.name == name
    # and a shared-dialect statement keeps the name through rendering
    rendered = to_dialect(f"SELECT {quote(name)} FROM t", target)
    [column] = sqlglot.parse_one(rendered, read=target).find_all(exp.Column)
    assert column.name == name


def test_quote_style_per_dialect() -> None:
    assert quote('a"b') == quote('a"b', "duckdb") == quote('a"b', "trino") == '"a""b"'
    assert quote("a`b", "spark") == "`a``b`"
    assert quote('a"b', "spark") == '`a"b`'
    with pytest.raises(ValueError, match="dialect must be one of"):
        quote("x", "postgres")  # type: ignore[arg-type]


# --- rendering -------------------------------------------------------------------------------
def test_duckdb_text_is_left_as_written() -> None:
    sql = "select  TRIM(x) ,isodow(d) from t"
    assert to_dialect(sql, "duckdb") == sql
    assert to_dialect(sql, "duckdb", pretty=True) == "SELECT\n  TRIM(x),\n  ISODOW(d)\nFROM t"
    with pytest.raises(ValueError, match="dialect must be one of"):
        to_dialect(sql, "postgres")  # type: ignore[arg-type]


def test_a_tree_is_not_changed_by_rendering() -> None:
    tree = dialect.parse("SELECT TRIM(x), ISODOW(d) FROM t")
    before = tree.sql("duckdb")
    assert "REGEXP_REPLACE" in to_dialect(tree, "spark")
    assert tree.sql("duckdb") == before


def test_trim_strips_unicode_spaces_on_spark() -> None:
    """DuckDB's TRIM strips Unicode space separators; Spark's only ' ': rendered as a regex."""
    spark = to_dialect("SELECT TRIM(x), LTRIM(x), RTRIM(x), TRIM(x, 'a') FROM t", "spark")
    assert spark == (
        r"SELECT REGEXP_REPLACE(x, '^\\p{Zs}+|\\p{Zs}+\\z', ''), "
        r"REGEXP_REPLACE(x, '^\\p{Zs}+', ''), REGEXP_REPLACE(x, '\\p{Zs}+\\z', ''), "
        "TRIM('a' FROM x) FROM t"
    )
    nested = to_dialect("SELECT TRIM(LOWER(TRIM(x))) FROM t", "spark")
    assert "TRIM(" not in nested and nested.count("REGEXP_REPLACE") == 2
    assert to_dialect("SELECT TRIM(x) FROM t", "trino") == "SELECT TRIM(x) FROM t"


def test_the_trim_patterns_strip_what_duckdb_trims() -> None:
    """The patterns, run by DuckDB's regex engine (RE2 reads \\p{Zs} and \\z as Java does)."""
    con = duckdb.connect()
    values = [f"{ZS} a{ZS}b \n", "\u200ba\u200b", "\ta\t", " ", "", f"{ZS}", "a\n "]
    con.register("t", pa.table({"x": values}))
    spark = to_dialect("SELECT TRIM(x), LTRIM(x), RTRIM(x) FROM t", "spark")
    patterns = [p.name for p in sqlglot.parse_one(spark, read="spark").find_all(exp.Literal)]
    both, lead, trail = (p for p in patterns if p)
    rows = con.execute(
        "SELECT TRIM(x), LTRIM(x), RTRIM(x), regexp_replace(x, $1, '', 'g'), "
        "regexp_replace(x, $2, '', 'g'), regexp_replace(x, $3, '', 'g') FROM t",
        [both, lead, trail],
    ).fetchall()
    for row in rows:
        assert row[:3] == row[3:], row


def test_day_of_week_on_spark_and_trino() -> None:
    sql = (
        "SELECT ISODOW(d), EXTRACT(ISODOW FROM d), DATE_PART('isodow', d), "
        "DAYOFWEEK(d), WEEKDAY(d), EXTRACT(DOW FROM d), DATE_PART('dow', d), DATE_PART('year', d) "
        "FROM t"
    )
    iso, dow = "EXTRACT(DAYOFWEEK_ISO FROM d)", "(EXTRACT(DAYOFWEEK_ISO FROM d) % 7)"
    assert to_dialect(sql, "spark") == (
        f"SELECT {iso}, {iso}, {iso}, {dow}, {dow}, {dow}, {dow}, DATE_PART('year', d) FROM t"
    )
    iso, dow = "DAY_OF_WEEK(d)", "(DAY_OF_WEEK(d) % 7)"
    assert to_dialect(sql, "trino") == (
        f"SELECT {iso}, {iso}, {iso}, {dow}, {dow}, {dow}, {dow}, DATE_PART('year', d) FROM t"
    )


def test_the_day_of_week_arithmetic_is_duckdbs() -> None:
    """Sunday-first days are the ISO day % 7, in DuckDB's own terms, for a whole week."""
    con = duckdb.connect()
    days = [dt.date(2025, 4, 6) + dt.timedelta(days=i) for i in range(7)]
    con.register("t", pa.table({"d": days}))
    rows = con.execute(
        "SELECT DAYOFWEEK(d), WEEKDAY(d), EXTRACT(DOW FROM d), DATE_PART('dow', d), "
        "ISODOW(d) % 7 FROM t"
    ).fetchall()
    assert all(len(set(r)) == 1 for r in rows), rows
    assert [r[0] for r in rows] == [0, 1, 2, 3, 4, 5, 6]  # 2025-04-06 is a Sunday


@pytest.mark.parametrize("target", ["spark", "trino"])
@pytest.mark.parametrize(
    "call", ["quantile_cont(x, 0.5)", "percentile_disc(0.5) WITHIN GROUP (ORDER BY x)"]
)
def test_percentiles_are_refused_off_duckdb(call: str, target: dialect.Dialect) -> None:
    with pytest.raises(ValueError, match=f"no rendering for {target}"):
        to_dialect(f"SELECT {call} FROM t", target)
    assert to_dialect(f"SELECT {call} FROM t", "duckdb") == f"SELECT {call} FROM t"


def test_condition_accepts_text_or_a_tree() -> None:
    tree = dialect.condition("a = 1 AND b IS NOT NULL")
    assert isinstance(tree, exp.And)
    assert dialect.condition(tree) is tree


# --- one renderer for every path -------------------------------------------------------------
def _model(select: str) -> GoldModel:
    header = '/*\nname = "x"\ndescription = "d"\ngrain = "g"\nrefresh = "full"\n[columns]\n'
    return parse_model(f'{header}v = "v"\n*/\n{select}')


def test_merge_validation_and_gold_sql_share_the_renderer() -> None:
    from lakehouse.engines import sql

    assert sql.render is to_dialect
    # a fix written for validation SQL applies to a gold model, and the other way round
    model = _model("SELECT TRIM(status) AS v FROM silver.orders")
    assert "REGEXP_REPLACE(status, '^\\\\p{Zs}+" in gold_render(model, "spark", pretty=False)
    rule = ValidationQuery("orders", "SELECT ISODOW(d) AS v FROM batch", ())
    assert rule.render("spark") == "SELECT EXTRACT(DAYOFWEEK_ISO FROM d) AS v FROM batch"
    assert sql.render(rule.sql, "trino") == "SELECT DAY_OF_WEEK(d) AS v FROM batch"


def test_every_path_goes_through_the_fixes_of_lakehouse_dialect(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A fix added in lakehouse.engines.dialect reaches merge, validation and gold SQL alike."""
    from lakehouse.engines import sql

    def marker(node: exp.Expr, target: dialect.Dialect) -> exp.Expr:
        if isinstance(node, exp.Column) and node.name == "status":
            return exp.column(f"fixed_for_{target}")
        return node

    targets: tuple[dialect.Dialect, ...] = ("spark", "trino")
    for target in targets:
        monkeypatch.setitem(dialect._FIXES, target, (marker,))
    model = _model("SELECT status AS v FROM silver.orders")
    rule = ValidationQuery("orders", "SELECT status AS v FROM batch", ())
    for target in targets:
        assert f"fixed_for_{target} AS v" in gold_render(model, target, pretty=False)
        assert f"fixed_for_{target} AS v" in rule.render(target)
        assert f"fixed_for_{target} AS v" in sql.render("SELECT status AS v FROM t", target)
    assert "status" in gold_render(model, "duckdb") and "status" in rule.render("duckdb")


@pytest.mark.parametrize("call", ["ROW_NUMBER()", "RANK()", "DENSE_RANK()", "NTILE(4)"])
def test_ranking_functions_are_bigint_on_spark_as_on_duckdb(call: str) -> None:
    """DuckDB's ranking functions return BIGINT; on Spark the same call is cast to BIGINT, so a
    gold table has one type whichever engine computed it."""
    sql = f"SELECT {call} OVER (ORDER BY x) AS r FROM (VALUES (1), (2)) AS t(x)"
    [(duck_type,)] = duckdb.sql(f"SELECT typeof(r) FROM ({sql}) AS q LIMIT 1").fetchall()
    assert duck_type == "BIGINT"
    spark = sqlglot.parse_one(to_dialect(sql, "spark"), read="spark")
    [window] = list(spark.find_all(exp.Window))
    assert isinstance(window.parent, exp.Cast)
    assert window.parent.to.this == exp.DataType.Type.BIGINT
    assert "CAST(" not in to_dialect(sql, "duckdb") and "CAST(" not in to_dialect(sql, "trino")
