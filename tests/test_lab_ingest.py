"""The lab data set is ingested exactly: every sheet, every row, nothing quarantined."""

from __future__ import annotations

from pathlib import Path

from conftest import BUSINESS_TABLES, business_rows, lab_csvs, lab_workbooks
from lakehouse import Lakehouse


def count(lh: Lakehouse, table: str) -> int:
    return int(lh.sql(f"SELECT count(*) AS n FROM {table}")["n"][0].as_py())


def test_workbooks_give_exact_counts(tmp_path: Path) -> None:
    lh = Lakehouse(tmp_path / "lake")
    summary = lh.run(lab_workbooks(tmp_path / "in"))
    assert summary.status == "SUCCEEDED"
    assert count(lh, "silver.orders") == 7500
    assert count(lh, "silver.order_items") == 40803
    assert count(lh, "silver.products") == 1000
    assert summary.rows_quarantined == 0
    assert summary.files_rejected == {}
    # every one of the 15 daily sheets was read
    sheets = lh.sql(
        "SELECT count(DISTINCT _sheet) AS n, min(_sheet) AS lo, max(_sheet) AS hi "
        "FROM silver.orders"
    ).to_pylist()[0]
    assert sheets == {"n": 15, "lo": "2025-04-01", "hi": "2025-04-15"}
    per_day = lh.sql("SELECT date, count(*) AS n FROM silver.orders GROUP BY date").to_pylist()
    assert sorted(r["n"] for r in per_day) == [500] * 15


def test_values_are_exact(tmp_path: Path, lab: Path) -> None:
    import duckdb

    lh = Lakehouse(tmp_path / "lake")
    lh.run(lab_workbooks(tmp_path / "in"))
    ours = lh.sql("SELECT sum(total_amount) AS s, sum(order_num) AS n FROM silver.orders")
    ref = duckdb.sql(
        f"SELECT sum(total_amount::DECIMAL(12,2)) AS s, sum(order_num::BIGINT) AS n "
        f"FROM read_csv('{lab / 'orders.csv'}', all_varchar=true)"
    ).fetchall()[0]
    assert ref is not None
    assert ours.to_pylist()[0] == {"s": ref[0], "n": ref[1]}
    first = lh.sql(
        "SELECT * EXCLUDE (_source_file, _sheet, _row, _file_sha256, _run_id, "
        "_ingested_at) FROM silver.order_items WHERE id = 3"
    ).to_pylist()[0]
    assert first["order_id"] == 10000 and first["days_since_prior_order"] == 22
    assert first["order_timestamp"].isoformat() == "2025-04-01T11:27:00+00:00"
    assert first["quantity"] == 1  # contract default when the source has no quantity


def test_csvs_give_identical_tables(tmp_path: Path) -> None:
    a = Lakehouse(tmp_path / "a")
    a.run(lab_workbooks(tmp_path / "xlsx"))
    b = Lakehouse(tmp_path / "b")
    b.run(lab_csvs(tmp_path / "csv"))
    for table in BUSINESS_TABLES:
        assert business_rows(a, table).equals(business_rows(b, table)), table


def test_same_files_again_create_no_new_silver_version(tmp_path: Path) -> None:
    lh = Lakehouse(tmp_path / "lake")
    files = lab_workbooks(tmp_path / "in")
    lh.run(files)
    before = {t.name: t.version for t in lh.tables()}
    again = lh.run(files)
    assert again.status == "SUCCEEDED"
    assert sorted(again.files_duplicate) == sorted(f.name for f in files)
    after = {t.name: t.version for t in lh.tables()}
    for name in (*BUSINESS_TABLES, "bronze.orders", "bronze.order_items"):
        assert after[name] == before[name], name
    # the same rows in differently named files: valid, unchanged, still no new silver version
    third = lh.run(lab_csvs(tmp_path / "csv"))
    assert third.entities["orders"].unchanged == 7500
    assert {t.name: t.version for t in lh.tables() if t.name.startswith("silver")} == {
        n: v for n, v in before.items() if n.startswith("silver")
    }
