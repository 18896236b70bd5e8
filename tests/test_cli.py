"""The CLI contract (ARCHITECTURE §7): output formats, exit codes, time travel, restore."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import lab_csvs

SCENARIO = Path(__file__).parent / "scenarios" / "corrections" / "input"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lakehouse", *args], capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> str:
    base = tmp_path_factory.mktemp("cli")
    r = str(base / "lake")
    assert cli("run", "--root", r, "--source", str(SCENARIO / "run1")).returncode == 0
    assert cli("run", "--root", r, "--source", str(SCENARIO / "run2")).returncode == 0
    return r


def test_sql_json_prints_only_a_json_array(root: str) -> None:
    p = cli(
        "sql",
        "--root",
        root,
        "--format",
        "json",
        "SELECT order_id, total_amount FROM silver.orders ORDER BY order_id LIMIT 2",
    )
    assert p.returncode == 0, p.stderr
    rows = json.loads(p.stdout)
    assert rows == [
        {"order_id": 10000, "total_amount": 1.0},
        {"order_id": 10001, "total_amount": 131.93},
    ]


def test_sql_csv(root: str) -> None:
    p = cli("sql", "--root", root, "--format", "csv", "SELECT count(*) AS n FROM silver.orders")
    assert p.stdout.splitlines() == ['"n"', "10"]
    # a list (quarantine's reasons) or a struct is one cell of JSON text
    q = "SELECT ['a', 'b, \"c\"'] AS reasons, {'k': 1} AS s, CAST(NULL AS VARCHAR[]) AS none"
    p = cli("sql", "--root", root, "--format", "csv", q)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == [
        '"reasons","s","none"',
        '"[""a"", ""b, \\""c\\""""]","{""k"": 1}",',
    ]


def test_time_travel_sees_the_row_before_its_correction(root: str) -> None:
    q = "SELECT total_amount FROM silver.orders WHERE order_id = 10000"
    now = json.loads(cli("sql", "--root", root, "--format", "json", q).stdout)
    before = json.loads(cli("sql", "--root", root, "--format", "json", "--as-of", "1", q).stdout)
    assert now == [{"total_amount": 1.0}]
    assert before == [{"total_amount": 229.53}]


def test_history_names_runs_and_source_files(root: str) -> None:
    p = cli("history", "silver.orders", "--root", root, "--format", "json")
    hist = json.loads(p.stdout)
    assert [h["version"] for h in hist] == [2, 1, 0]
    assert hist[0]["operation"] == "MERGE" and hist[0]["source_files"] == "run2/orders_fix.csv"
    assert hist[1]["source_files"] == "run1/orders_day1.csv"
    assert all(h["run_id"] for h in hist[:2])


def test_errors_are_one_line_and_nonzero(root: str) -> None:
    p = cli("sql", "--root", root, "SELECT * FROM silver.nothing")
    assert p.returncode == 1
    assert p.stderr.strip().splitlines() == [
        "lakehouse: error: table silver.nothing does not exist; `lakehouse tables` lists them"
    ]
    p = cli("describe", "gold.nope", "--root", root)
    assert p.returncode == 1 and p.stderr.startswith("lakehouse: error: table gold.nope")
    p = cli("run", "--root", root, "--source", "/no/such/file.csv")
    assert p.returncode == 1 and "/no/such/file.csv" in p.stderr


def test_a_root_that_is_no_lakehouse_is_refused_not_read_as_an_empty_one(tmp_path: Path) -> None:
    """A mistyped root was an empty lakehouse: `status` said "OK: every SLA is met" (exit 0),
    `tables` listed nothing; a file, `gs://` (it hung) or a bare `s3://` failed in pyarrow's
    words. Each is one line naming the root now, exit 1; `run` still creates a new root."""
    missing, afile = tmp_path / "typo", tmp_path / "afile"
    afile.write_text("hi")
    for args, said in [
        (("status", "--root", str(missing)), f"no lakehouse at {missing}: the folder does not"),
        (("tables", "--root", str(missing)), f"no lakehouse at {missing}"),
        (("status", "--root", str(afile)), f"root {afile} is a file; a lakehouse root is a"),
        (("tables", "--root", "gs://bucket/lake"), "root gs://bucket/lake: a lakehouse root is"),
        (("tables", "--root", "s3://"), "root s3://: name the bucket, s3://bucket[/prefix]"),
    ]:
        p = cli(*args)
        assert p.returncode == 1, (args, p.stdout, p.stderr)
        assert p.stderr.startswith(f"lakehouse: error: {said}"), (args, p.stderr)
        assert len(p.stderr.strip().splitlines()) == 1
    assert not missing.exists()
    created = cli("run", "--root", str(missing), "--no-summary")
    assert (created.returncode, created.stderr) == (0, "")  # no bar (not a terminal): nothing
    assert cli("status", "--root", str(missing), "--format", "json").returncode in (0, 2)


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("LAKEHOUSE_DUCKDB_MEMORY_LIMIT", "-5GB", "LAKEHOUSE_DUCKDB_MEMORY_LIMIT='-5GB' is not a"),
        ("LAKEHOUSE_DUCKDB_MEMORY_LIMIT", "abc", "LAKEHOUSE_DUCKDB_MEMORY_LIMIT='abc' is not a"),
        ("LAKEHOUSE_LOG_LEVEL", "loud", "LAKEHOUSE_LOG_LEVEL='LOUD' is refused; one of DEBUG"),
        ("LAKEHOUSE_LOG", "xml", "LAKEHOUSE_LOG='xml' is refused; one of json, text"),
        ("LAKEHOUSE_CONTRACTS", "/no/such/folder", "contracts folder /no/such/folder is not a"),
    ],
)
def test_a_bad_environment_value_is_refused_naming_its_variable(
    root: str, name: str, value: str, said: str
) -> None:
    """Each was taken in silence ("-5GB" lifted DuckDB's cap to 80 % of the machine, "xml"
    logged JSON) or failed in a library's words naming nothing the user set."""
    env = {**os.environ, name: value}
    command = ["sql", "SELECT 1"] if "MEMORY" in name else ["status"]  # one that reads it
    p = subprocess.run(
        [sys.executable, "-m", "lakehouse", *command, "--root", root],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert p.returncode == 1, p.stderr
    assert p.stderr.startswith(f"lakehouse: error: {said}"), p.stderr


def test_an_option_out_of_its_range_is_a_usage_error_naming_the_option(
    root: str, tmp_path: Path
) -> None:
    """They failed with a Python exception's name and words (`ValueError: orders must be >=
    0`, `OverflowError: bind(): port must be 0-65535`), exit 1; usage errors exit 2."""
    import socket

    for args, option in [
        (("generate", "--out", str(tmp_path / "g"), "--orders", "-5"), "'--orders'"),
        (("generate", "--out", str(tmp_path / "g"), "--dirty-rate", "2"), "'--dirty-rate'"),
        (("generate", "--out", str(tmp_path / "g"), "--start", "2025-13-01"), "'--start'"),
        (("generate", "--out", str(tmp_path / "g"), "--stream", "--rate", "0"), "'--rate'"),
        (("history", "silver.orders", "--root", root, "--limit", "-1"), "'--limit'"),
        # a healthy root breached (no run listed, so "no run has loaded data")
        (("status", "--root", root, "--limit", "0"), "'--limit'"),
        # it watched on, and every drop's run failed on the name
        (("watch", "--root", root, "--engine", "foo"), "'--engine'"),
        (("optimize", "--root", root, "--target-mb", "0"), "'--target-mb'"),  # the default
        (("lineage", "--models", str(tmp_path / "none")), "'--models'"),  # FileNotFoundError
        (("serve", "--root", root, "--port", "70000"), "'--port'"),
    ]:
        p = cli(*args)
        assert p.returncode == 2, (args, p.stderr)
        assert f"Invalid value for {option}" in p.stderr, (args, p.stderr)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        p = cli("serve", "--root", root, "--port", str(port))
    assert p.returncode == 1
    assert p.stderr == (
        f"lakehouse: error: port {port} on 127.0.0.1 is in use; choose another --port (0 = any "
        "free port)\n"
    )


def test_tables_lists_every_table_with_description(root: str) -> None:
    tables = {
        t["table"]: t for t in json.loads(cli("tables", "--root", root, "--format", "json").stdout)
    }
    assert tables["silver.orders"]["rows"] == 10
    assert tables["silver.orders"]["description"].startswith("Customer orders")
    assert {"bronze.orders", "_ops.runs", "_ops.files"} <= set(tables)


def test_tables_of_a_folder_without_tables_says_so(root: str, tmp_path: Path) -> None:
    """An existing folder that holds no table (a --root one level too high) printed an empty
    frame and nothing else; a lakehouse's own listing says nothing more."""
    for fmt, out in (("table", None), ("json", "[]")):
        p = cli("tables", "--root", str(tmp_path), "--format", fmt)
        assert p.returncode == 0, p.stderr
        assert out is None or p.stdout.strip() == out
        assert p.stderr == (
            f"no tables under {tmp_path}: is this the lakehouse's root? "
            "(`lakehouse run --root ... --source FILES` loads one)\n"
        )
    assert cli("tables", "--root", root).stderr == ""


def test_restore_rolls_back(tmp_path: Path) -> None:
    r = str(tmp_path / "lake")
    cli("run", "--root", r, "--source", str(SCENARIO / "run1"))
    cli("run", "--root", r, "--source", str(SCENARIO / "run2"))
    p = cli("restore", "silver.orders", "--version", "1", "--root", r)
    assert p.returncode == 0, p.stderr
    q = "SELECT total_amount FROM silver.orders WHERE order_id = 10000"
    assert json.loads(cli("sql", "--root", r, "--format", "json", q).stdout) == [
        {"total_amount": 229.53}
    ]
    p = cli("restore", "silver.orders", "--version", "99", "--root", r)
    assert p.returncode == 1 and "versions 0..3" in p.stderr
    # a gold table is derived: restored, it was added to from its old rows by every later run
    before = cli("sql", "--root", r, "--format", "json", "SELECT * FROM gold.sales_daily").stdout
    p = cli("restore", "gold.sales_daily", "--version", "0", "--root", r)
    assert p.returncode == 1
    assert p.stderr.startswith("lakehouse: error: gold.sales_daily is derived from silver")
    assert "delete gold/sales_daily to have the next run rebuild it" in p.stderr
    after = cli("sql", "--root", r, "--format", "json", "SELECT * FROM gold.sales_daily").stdout
    assert after == before
    # the current version: delta-rs refused it, and the message blamed the log's retention
    p = cli("restore", "silver.orders", "--version", "3", "--root", r)
    assert (
        p.stderr == "lakehouse: error: silver.orders is at version 3 already: nothing to restore\n"
    )
    for name in ("bronze.orders", "_ops.runs"):  # were restored, silently
        p = cli("restore", name, "--version", "0", "--root", r)
        assert p.returncode == 1 and f"{name} cannot be restored: " in p.stderr, p.stderr


def test_empty_values_are_refused_not_read_as_the_current_folder(root: str, tmp_path: Path) -> None:
    """`run --source ""` copied the whole current folder into landing/ (Path("") is "."),
    `--root ""` became ./lakehouse, `generate --out ""` wrote into the current folder, and
    `docs`/`pipeline asl`/`catalog ddl` failed with IsADirectoryError: '.'."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "orders_stray.csv").write_text("order_id\n1\n")
    lake = str(tmp_path / "lake")
    for args, said in [
        (("run", "--root", lake, "--source", ""), "--source is empty"),
        (("run", "--root", "", "--source", str(SCENARIO / "run1")), "the root is empty"),
        (("generate", "--out", ""), "--out is empty: give a folder"),
        (("docs", "--root", root, "--out", ""), "--out is empty: give a file"),
        (("report", "--root", root, "--out", " "), "--out is empty: give a file"),
        (("pipeline", "asl", "--out", ""), "--out is empty: give a file"),
        (("catalog", "ddl", "--root", root, "--out", ""), "--out is empty: give a file"),
        (("docs", "--root", root, "--out", str(work)), "is a folder: give a file name"),
    ]:
        p = subprocess.run(
            [sys.executable, "-m", "lakehouse", *args], capture_output=True, text=True, cwd=work
        )
        assert (p.returncode, p.stderr.count("\n")) == (1, 1), (args, p.stderr)
        assert said in p.stderr, (args, p.stderr)
    assert sorted(os.listdir(work)) == ["orders_stray.csv"] and not os.path.exists(lake)
    out = tmp_path / "new folder" / "pipeline.json"  # its folder is made, as `report`'s was
    assert cli("pipeline", "asl", "--out", str(out)).returncode == 0
    assert json.loads(out.read_text())["States"]


def test_describe_shows_each_zones_own_columns(root: str) -> None:
    """Bronze and quarantine listed silver's contract types (`order_id bigint`, not the text
    they hold) and none of their lineage; gold and `_ops` tables listed no column."""
    bronze = cli("describe", "bronze.orders", "--root", root).stdout
    assert " order_id " in bronze and " string " in bronze and "_source_file" in bronze
    assert "bigint" not in bronze.split("│ order_id", 1)[1].split("\n", 1)[0]
    assert "_reasons" in cli("describe", "quarantine.orders", "--root", root).stdout
    silver = cli("describe", "silver.orders", "--root", root).stdout  # the contract's types
    assert "bigint" in silver.split("│ order_id", 1)[1].split("\n", 1)[0]
    assert " run_id " in cli("describe", "_ops.runs", "--root", root).stdout
    assert " revenue " in cli("describe", "gold.sales_daily", "--root", root).stdout


def test_change_data_feed_is_on_for_silver(tmp_path: Path) -> None:
    from lakehouse import Lakehouse

    lh = Lakehouse(tmp_path / "lake")
    lh.run(lab_csvs(tmp_path / "in")[:2])
    assert lh.describe("silver.orders").configuration["delta.enableChangeDataFeed"] == "true"
    import pyarrow as pa

    from lakehouse.store.delta import open_table

    changes = pa.table(open_table(lh.root, "silver", "orders").load_cdf(starting_version=0))
    assert changes.num_rows == 7500
    assert set(changes["_change_type"].to_pylist()) == {"insert"}


def test_intervals_and_blobs_are_text_in_csv_and_json(root: str) -> None:
    """Arrow's CSV writer refused an interval or a blob that is not UTF-8 after the header was
    printed (exit 1, half an output); JSON wrote an interval as three numbers and a blob as its
    Python repr. Both are text now, the same in either format."""
    q = (
        "SELECT INTERVAL 1 MONTH + INTERVAL 2 DAY + INTERVAL 3500 MILLISECOND AS i, "
        "INTERVAL 0 DAY AS zero, '\\xAA\\x00ok\\x5C'::BLOB AS b"
    )
    csv = cli("sql", "--root", root, "--format", "csv", q)
    assert csv.returncode == 0, csv.stderr
    assert csv.stdout.splitlines() == ['"i","zero","b"', '"P1M2DT3.5S","PT0S","\\xAA\\x00ok\\x5C"']
    js = cli("sql", "--root", root, "--format", "json", q)
    assert js.returncode == 0, js.stderr
    assert json.loads(js.stdout) == [{"i": "P1M2DT3.5S", "zero": "PT0S", "b": "\\xAA\\x00ok\\x5C"}]


def test_sql_json_is_strict_and_exact(root: str) -> None:
    """Decimals were floats (12345678901234567.89 came out as 1.2345678901234568e+16), and
    NaN and infinities were written as `NaN` and `Infinity`, which JSON parsers refuse."""
    from decimal import Decimal

    q = (
        "SELECT 12345678901234567.89::DECIMAL(38,2) AS big, -0.001::DECIMAL(10,3) AS small, "
        "'nan'::DOUBLE AS nan, '-inf'::DOUBLE AS inf, [2.50::DECIMAL(5,2)] AS listed, "
        "chr(0) || 'not a number' AS text"
    )
    p = cli("sql", "--root", root, "--format", "json", q)
    assert p.returncode == 0, p.stderr

    def refuse(constant: str) -> None:
        raise AssertionError(f"not JSON: {constant}")

    [row] = json.loads(p.stdout, parse_float=Decimal, parse_constant=refuse)
    assert row == {
        "big": Decimal("12345678901234567.89"),
        "small": Decimal("-0.001"),
        "nan": None,
        "inf": None,
        "listed": [Decimal("2.50")],
        "text": "\x00not a number",
    }


def test_version_and_the_log_settings_of_every_command(tmp_path: Path) -> None:
    p = cli("--version")
    assert (p.returncode, p.stdout) == (0, "lakehouse 0.1.0\n")
    env = {**os.environ, "LAKEHOUSE_LOG": "xml"}  # `pipeline show`, which logs nothing, took it
    p = subprocess.run(
        [sys.executable, "-m", "lakehouse", "pipeline", "show"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert (p.returncode, p.stderr) == (
        1,
        "lakehouse: error: LAKEHOUSE_LOG='xml' is refused; one of json, text\n",
    )
    (tmp_path / "file").write_text("")
    p = cli("generate", "--out", str(tmp_path / "file" / "x"))  # NotADirectoryError's words
    assert (
        p.stderr
        == f"lakehouse: error: --out {tmp_path}/file/x: {tmp_path}/file is a file, not a folder\n"
    )
