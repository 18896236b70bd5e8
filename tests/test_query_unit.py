"""SQL over the lakehouse on its own (`query.run_sql`, what `lakehouse sql` and `Lakehouse.sql`
run): every Delta table is visible as `zone.table` and reads exactly what delta-rs reads;
statements cannot change a table, touch files, attach databases or install extensions unless
file access is allowed; `--as-of` reads a table's earlier version."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from lakehouse.errors import QueryError, TableNotFound
from lakehouse.store.query import parse_as_of, referenced_tables, run_sql
from lakehouse.store.root import Root

UTC = dt.UTC
ORDERS_V0 = pa.table(
    {
        "order_id": pa.array([1, 2, 3], pa.int64()),
        "total_amount": pa.array(
            [Decimal("9.99"), Decimal("1000000.00"), None], pa.decimal128(12, 2)
        ),
        "order_timestamp": pa.array(
            [
                dt.datetime(2025, 4, 1, 10, 0, tzinfo=UTC),
                dt.datetime(2025, 4, 2, 2, 0, tzinfo=UTC),  # still April 1st west of UTC
                dt.datetime(2025, 4, 2, 23, 59, 59, 999999, tzinfo=UTC),
            ],
            pa.timestamp("us", tz="UTC"),
        ),
        "date": pa.array([dt.date(2025, 4, 1), dt.date(2025, 4, 2), dt.date(2025, 4, 2)]),
        "status": pa.array(["paid", None, "café \u202e"], pa.string()),
    }
)
ORDERS_V1 = ORDERS_V0.slice(0, 1).set_column(0, "order_id", pa.array([4], pa.int64()))
QUARANTINE = pa.table(
    {
        "order_id": pa.array(["x", None], pa.string()),
        "_reasons": pa.array([["bad_type:order_id"], ["null_key:order_id", "date_mismatch"]]),
        "_row": pa.array([2, 3], pa.int64()),
    }
)
RUNS = pa.table({"run_id": ["r1", "r2"], "status": ["SUCCEEDED", "FAILED"]})
DAILY = pa.table({"date": [dt.date(2025, 4, 1)], "revenue": pa.array([Decimal("9.99")])})


class Lake:
    def __init__(self, base: Path) -> None:
        self.root = Root(base / "lake")
        self.uri = {
            "silver.orders": self.root.table_uri("silver", "orders"),
            "quarantine.orders": self.root.table_uri("quarantine", "orders"),
            "_ops.runs": self.root.table_uri("_ops", "runs"),
            "gold.daily_sales": self.root.table_uri("gold", "daily_sales"),
        }
        write_deltalake(self.uri["silver.orders"], ORDERS_V0, partition_by=["date"])
        time.sleep(0.05)  # versions 0 and 1 get distinct commit times
        write_deltalake(self.uri["silver.orders"], ORDERS_V1, mode="append")
        write_deltalake(self.uri["quarantine.orders"], QUARANTINE)
        write_deltalake(self.uri["_ops.runs"], RUNS)
        write_deltalake(self.uri["gold.daily_sales"], DAILY)
        # a folder whose first commit never landed is no table
        os.makedirs(self.root.path("silver", "half_made", "_delta_log"))

    def direct(self, name: str, version: int | None = None) -> pa.Table:
        """The table as delta-rs reads it, without the lakehouse."""
        return DeltaTable(self.uri[name], version=version).to_pyarrow_table()


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    return Lake(tmp_path_factory.mktemp("query"))


def rows(table: pa.Table, key: str) -> list[dict[str, object]]:
    return sorted(table.to_pylist(), key=lambda r: (r[key] is None, r[key]))


# --- tables by zone.table -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("silver.orders", "order_id"),
        ("quarantine.orders", "_row"),
        ("_ops.runs", "run_id"),
        ("gold.daily_sales", "date"),
    ],
)
def test_every_zone_table_reads_what_delta_rs_reads(lake: Lake, name: str, key: str) -> None:
    got, want = run_sql(lake.root, f"SELECT * FROM {name}"), lake.direct(name)
    assert {f.name: f.type for f in got.schema} == {f.name: f.type for f in want.schema}
    assert rows(got, key) == rows(want, key)


def test_the_values_are_the_written_ones(lake: Lake) -> None:
    got = run_sql(lake.root, "SELECT * FROM silver.orders ORDER BY order_id")
    expected = ORDERS_V0.to_pylist() + ORDERS_V1.to_pylist()
    assert got.to_pylist() == [{k: r[k] for k in got.column_names} for r in expected]


def test_names_quoted_or_in_any_case_and_joins_across_zones(lake: Lake) -> None:
    for sql in (
        'SELECT count(*) AS n FROM "silver"."orders"',
        "SELECT count(*) AS n FROM SILVER.Orders",
        "SELECT count(*) AS n FROM silver.orders o JOIN silver.orders p USING (order_id)",
    ):
        assert run_sql(lake.root, sql).to_pylist() == [{"n": 4}], sql
    joined = run_sql(
        lake.root,
        "SELECT r.run_id, count(q._row) AS n FROM _ops.runs r "
        "LEFT JOIN quarantine.orders q ON list_contains(q._reasons, 'date_mismatch') "
        "AND r.status = 'FAILED' GROUP BY r.run_id ORDER BY r.run_id",
    )
    assert joined.to_pylist() == [{"run_id": "r1", "n": 0}, {"run_id": "r2", "n": 1}]


def test_dates_are_taken_in_utc_whatever_the_machines_zone(lake: Lake) -> None:
    code = (
        "import sys; from lakehouse.store.root import Root; "
        "from lakehouse.store.query import run_sql; "
        "t = run_sql(Root(sys.argv[1]), 'SELECT CAST(order_timestamp AS DATE) AS d, "
        "hour(order_timestamp) AS h FROM silver.orders WHERE order_id = 2'); "
        "print(t.to_pylist())"
    )
    env = {**os.environ, "TZ": "America/Los_Angeles"}
    out = subprocess.run(
        [sys.executable, "-c", code, lake.root.uri],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert out.stdout.strip() == "[{'d': datetime.date(2025, 4, 2), 'h': 2}]"


def test_unknown_tables_are_named(lake: Lake) -> None:
    for name in ("silver.customers", "silver.half_made", "gold.orders"):
        with pytest.raises(TableNotFound) as err:
            run_sql(lake.root, f"SELECT * FROM {name}")
        assert str(err.value) == f"table {name} does not exist; `lakehouse tables` lists them"


def test_a_statement_may_use_the_throw_away_database(lake: Lake) -> None:
    out = run_sql(
        lake.root,
        "CREATE TEMP TABLE t AS SELECT order_id FROM silver.orders WHERE order_id > 1; "
        "INSERT INTO t VALUES (10); SELECT sum(order_id) AS s FROM t",
    )
    assert out.to_pylist() == [{"s": 2 + 3 + 4 + 10}]


# --- read-only ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO silver.orders (order_id) VALUES (99)",
        "UPDATE silver.orders SET total_amount = 0",
        "DELETE FROM silver.orders",
        "MERGE INTO silver.orders t USING (SELECT 1 AS order_id) s ON t.order_id = s.order_id "
        "WHEN MATCHED THEN DELETE",
        "DROP VIEW silver.orders",
        "DROP TABLE IF EXISTS gold.daily_sales",
        "CREATE OR REPLACE VIEW silver.orders AS SELECT 1 AS order_id",
        "CREATE TABLE _ops.runs_copy AS SELECT * FROM _ops.runs",
        "ALTER VIEW silver.orders RENAME TO o",
        "TRUNCATE silver.orders",
        "SELECT 1; DELETE FROM quarantine.orders",
    ],
)
@pytest.mark.parametrize("allow_file_access", [False, True])
def test_lakehouse_tables_cannot_be_changed_by_sql(
    lake: Lake, statement: str, allow_file_access: bool
) -> None:
    before = {n: DeltaTable(u).version() for n, u in lake.uri.items()}
    with pytest.raises(QueryError) as err:
        run_sql(lake.root, statement, allow_file_access=allow_file_access)
    assert "read-only" in str(err.value)
    assert "\n" not in str(err.value)
    assert {n: DeltaTable(u).version() for n, u in lake.uri.items()} == before
    assert run_sql(lake.root, "SELECT count(*) AS n FROM silver.orders").to_pylist() == [{"n": 4}]


@pytest.mark.parametrize(
    ("statement", "refusal"),
    [
        ("COPY (SELECT * FROM silver.orders) TO '{dir}/out.csv'", "file system operations"),
        ("COPY silver.orders TO '{dir}/out.parquet' (FORMAT parquet)", "file system operations"),
        ("SELECT * FROM read_parquet('{lake}/silver/orders/**/*.parquet')", "file system"),
        ("SELECT * FROM read_csv('/etc/hostname')", "file system operations"),
        ("SELECT * FROM glob('{lake}/*')", "file system operations"),
        ("ATTACH '{dir}/other.duckdb' AS other", "file system operations"),
        ("INSTALL httpfs", "file system operations"),
        ("LOAD httpfs", "external extensions is disabled"),
        ("SET enable_external_access = true", "configuration has been locked"),
        ("RESET lock_configuration", "configuration has been locked"),
    ],
)
def test_files_databases_extensions_and_settings_are_refused(
    lake: Lake, tmp_path: Path, statement: str, refusal: str
) -> None:
    sql = statement.format(dir=tmp_path, lake=lake.root.uri)
    with pytest.raises(QueryError) as err:
        run_sql(lake.root, sql)
    message = str(err.value)
    assert refusal in message and "allow_file_access=True" in message and "\n" not in message
    assert list(tmp_path.iterdir()) == []


def test_allowing_file_access_writes_files(lake: Lake, tmp_path: Path) -> None:
    out = tmp_path / "orders.csv"
    run_sql(
        lake.root,
        f"COPY (SELECT order_id FROM silver.orders ORDER BY 1) TO '{out}'",
        allow_file_access=True,
    )
    assert out.read_text().splitlines() == ["order_id", "1", "2", "3", "4"]


# --- time travel ------------------------------------------------------------------------------
def test_as_of_a_version_reads_that_version(lake: Lake) -> None:
    got = run_sql(lake.root, "SELECT * FROM silver.orders", as_of=0)
    assert rows(got, "order_id") == rows(lake.direct("silver.orders", 0), "order_id")
    assert [r["order_id"] for r in rows(got, "order_id")] == [1, 2, 3]
    latest = run_sql(lake.root, "SELECT max(order_id) AS m FROM silver.orders", as_of=1)
    assert latest.to_pylist() == [{"m": 4}]


def test_as_of_a_time_reads_the_version_current_then(lake: Lake) -> None:
    history = {
        h["version"]: h["timestamp"] for h in DeltaTable(lake.uri["silver.orders"]).history()
    }
    at_v0 = dt.datetime.fromtimestamp(history[0] / 1000, UTC)
    got = run_sql(lake.root, "SELECT count(*) AS n FROM silver.orders", as_of=at_v0)
    assert got.to_pylist() == [{"n": 3}]
    now = dt.datetime.now(UTC)
    assert run_sql(lake.root, "SELECT count(*) AS n FROM silver.orders", as_of=now).to_pylist() == [
        {"n": 4}
    ]


def test_as_of_a_time_goes_by_the_commit_times_not_the_files_times(
    lake: Lake, tmp_path: Path
) -> None:
    """delta-rs picks the version by the log files' modification times: a copy of the
    lakehouse (`cp -r`, new times) answered from version 0, silently, and a skewed clock on one
    commit file answered from the wrong version."""
    history = {
        h["version"]: h["timestamp"] for h in DeltaTable(lake.uri["silver.orders"]).history()
    }
    at_v0 = dt.datetime.fromtimestamp(history[0] / 1000, UTC)
    copied = tmp_path / "copy"
    shutil.copytree(Path(lake.root.uri), copied / "lake", copy_function=shutil.copy)
    log = Path(Root(str(copied / "lake")).table_uri("silver", "orders")) / "_delta_log"
    v0 = log / "00000000000000000000.json"
    os.utime(v0, (v0.stat().st_mtime + 3600,) * 2)  # version 0's file an hour ahead
    at_v1 = dt.datetime.fromtimestamp(history[1] / 1000, UTC)
    for at, n in ((at_v0, 3), (at_v1, 4)):
        got = run_sql(Root(str(copied / "lake")), "SELECT count(*) AS n FROM silver.orders", at)
        assert got.to_pylist() == [{"n": n}], at


def test_as_of_a_version_or_time_a_table_does_not_have_is_refused(lake: Lake) -> None:
    with pytest.raises(QueryError) as err:
        run_sql(lake.root, "SELECT * FROM silver.orders", as_of=7)
    assert "silver.orders" in str(err.value) and "7" in str(err.value)
    assert "0..1" in str(err.value)
    # _ops.runs has only version 0: a join as of version 1 cannot be answered
    with pytest.raises(QueryError, match=r"_ops\.runs"):
        run_sql(lake.root, "SELECT * FROM silver.orders, _ops.runs", as_of=1)
    before = dt.datetime(2000, 1, 1, tzinfo=UTC)
    with pytest.raises(QueryError, match=r"silver\.orders .*2000-01-01"):
        run_sql(lake.root, "SELECT * FROM silver.orders", as_of=before)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (None, None),
        ("0", 0),
        ("12", 12),
        ("2025-04-01", dt.datetime(2025, 4, 1, tzinfo=UTC)),
        ("2025-04-01T10:30:00", dt.datetime(2025, 4, 1, 10, 30, tzinfo=UTC)),
        ("2025-04-01T10:30:00Z", dt.datetime(2025, 4, 1, 10, 30, tzinfo=UTC)),
        (
            "2025-04-01T12:30:00+02:00",
            dt.datetime(2025, 4, 1, 12, 30, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        ),
    ],
)
def test_as_of_text_is_a_version_or_an_iso_time(text: str | None, value: object) -> None:
    assert parse_as_of(text) == value


@pytest.mark.parametrize("text", ["yesterday", "-1", "1.5", "v3", ""])
def test_as_of_text_that_is_neither_is_refused(text: str) -> None:
    with pytest.raises(QueryError, match="give a version number or an ISO timestamp"):
        parse_as_of(text)


# --- which tables a statement reads --------------------------------------------------------------
def test_referenced_tables_are_the_zone_tables_each_named_once() -> None:
    sql = (
        "WITH silver AS (SELECT 1 AS x), o AS (SELECT * FROM silver.orders) "
        "SELECT 'gold.fake', * FROM o JOIN _ops.runs r ON true, silver, other.table_x "
        "WHERE EXISTS (SELECT 1 FROM gold.daily_sales) AND o.order_id IN "
        "(SELECT order_id FROM silver.orders)"
    )
    assert sorted(referenced_tables(sql)) == ["_ops.runs", "gold.daily_sales", "silver.orders"]
    assert referenced_tables("SELECT 1; SELECT * FROM quarantine.orders;") == ["quarantine.orders"]
    with pytest.raises(QueryError, match="SQL does not parse"):
        referenced_tables("SELECT FROM WHERE (")
