"""Every contract's silver and quarantine tables exist from the first run, empty where nothing
was rejected: `SELECT count(*) FROM quarantine.orders` answers 0 on clean data (issue 15 §7)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from conftest import LAB, table_opens
from lakehouse import Lakehouse
from lakehouse.contracts import load_contracts
from lakehouse.orchestration.preflight import check_tables, create_entity_tables
from lakehouse.store import zones
from lakehouse.store.root import Root

COUNT = "SELECT count(*) AS n FROM quarantine.orders"


def clean_products(dest: Path) -> Path:
    dest.mkdir(parents=True)
    lines = (LAB / "products.csv").read_text().splitlines()[:6]
    (dest / "products.csv").write_text("\n".join(lines) + "\n")
    return dest / "products.csv"


def test_a_clean_first_run_creates_every_silver_and_quarantine_table(tmp_path: Path) -> None:
    lh = Lakehouse(tmp_path / "lake")
    summary = lh.run([clean_products(tmp_path / "in")])
    assert summary.status == "SUCCEEDED" and summary.rows_quarantined == 0
    for contract in load_contracts().values():
        e = contract.entity
        rows = 5 if e == "products" else 0
        assert lh.sql(f"SELECT count(*) AS n FROM silver.{e}")["n"].to_pylist() == [rows]
        assert lh.sql(f"SELECT count(*) AS n FROM quarantine.{e}")["n"].to_pylist() == [0]
        for zone, schema, partitions in (
            ("silver", zones.silver_schema(contract), contract.partition_by),
            ("quarantine", zones.quarantine_schema(contract), []),
        ):
            dt = DeltaTable(lh.root.table_uri(zone, e))
            stored = pa.schema(dt.schema())
            assert [(f.name, f.type) for f in stored] == [(f.name, f.type) for f in schema]
            meta = dt.metadata()
            assert meta.partition_columns == list(partitions)
            assert meta.description == zones.descriptions(contract)[zone]
            assert meta.configuration.get("delta.enableChangeDataFeed") == "true"


def test_the_cli_counts_an_empty_quarantine_and_a_rerun_commits_nothing(tmp_path: Path) -> None:
    root = str(tmp_path / "lake")
    src = clean_products(tmp_path / "in")
    run = [sys.executable, "-m", "lakehouse", "run", "--root", root, "--source", str(src)]
    assert subprocess.run(run, capture_output=True, timeout=120).returncode == 0
    count = subprocess.run(
        [sys.executable, "-m", "lakehouse", "sql", "--root", root, "--format", "csv", COUNT],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (count.returncode, count.stdout.split()) == (0, ['"n"', "0"]), count.stderr
    # a second run (the same file again: a duplicate) leaves the empty tables at version 0
    assert subprocess.run(run, capture_output=True, timeout=120).returncode == 0
    for e in load_contracts():
        assert DeltaTable(f"{root}/quarantine/{e}").version() == 0
    assert DeltaTable(f"{root}/silver/orders").version() == 0


def test_the_run_opens_each_silver_table_once_before_its_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The schema check hands the silver tables it opened to the step that creates the missing
    ones: an open reads every commit since the last checkpoint (on S3, a request each)."""
    lh = Lakehouse(tmp_path / "lake")
    assert lh.run([clean_products(tmp_path / "in")]).status == "SUCCEEDED"
    root, contracts = Root(tmp_path / "lake"), load_contracts()
    silver = {root.table_uri("silver", e) for e in contracts}
    opened = table_opens(monkeypatch)
    create_entity_tables(root, contracts, check_tables(root, contracts))
    assert sorted(u for u in opened if u in silver) == sorted(silver)  # by the check, once each
