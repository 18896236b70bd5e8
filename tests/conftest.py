"""Shared fixtures: the lab data, fresh lakehouse roots, and table snapshots for comparisons."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from lakehouse import Lakehouse

DATA = Path(__file__).parent / "data"
LAB = DATA / "lab"
BUSINESS_TABLES = ("silver.products", "silver.orders", "silver.order_items")

os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
# The Spark tests of a test process share one JVM for the whole run (tests/spark_fixtures.py):
# long-lived, so the optimizing JIT pays off (one lab run on Spark 135 s vs 170 s with the C1-only
# default, which stays for short CLI sessions: lakehouse/engines/spark/session.py)
os.environ.setdefault("LAKEHOUSE_SPARK_JAVA_OPTIONS", "-XX:+UseParallelGC")


@pytest.fixture
def lab() -> Path:
    return LAB


@pytest.fixture
def lh(tmp_path: Path) -> Lakehouse:
    return Lakehouse(tmp_path / "lake")


def lab_workbooks(dest: Path) -> list[Path]:
    """The lab delivery as workbooks: both xlsx files and products.csv, copied to `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for name in ("products.csv", "orders_apr_2025.xlsx", "order_items_apr_2025.xlsx"):
        shutil.copy(LAB / name, dest / name)
        out.append(dest / name)
    return out


def lab_csvs(dest: Path) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for name in ("products.csv", "orders.csv", "order_items.csv"):
        shutil.copy(LAB / name, dest / name)
        out.append(dest / name)
    return out


def business_rows(lh: Lakehouse, name: str) -> pa.Table:
    """A table's contents without lineage columns, sorted: what must match across runs."""
    t = lh.sql(f"SELECT * FROM {name}")
    keep = [c for c in t.column_names if not c.startswith("_") or c == "_reasons"]
    t = t.select(keep)
    if name.startswith("quarantine."):
        t = t.append_column(
            "_where",
            lh.sql(f"SELECT _source_file || ':' || _sheet || ':' || _row AS w FROM {name}")["w"],
        )
    return t.sort_by([(c, "ascending") for c in t.column_names if c != "_reasons"])


TWO_ORDERS = (
    "order_num,order_id,user_id,order_timestamp,total_amount,date,payment_method\n"
    "1,10,5,2025-04-01T10:00:00,9.99,2025-04-01,card\n"
    "2,11,5,2025-04-02T10:00:00,5.00,2025-04-02,bitcoin\n"  # invalid_enum:payment_method
)


@pytest.fixture(scope="session")
def two_orders_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One default run of two orders (one quarantined): shared by the lineage-event and the
    data-docs tests, which only read it."""
    from lakehouse.orchestration.pipeline import copy_sources, run
    from lakehouse.store.root import Root

    tmp = tmp_path_factory.mktemp("two-orders")
    root = Root(str(tmp / "lake"))
    src = tmp / "in" / "orders_1.csv"
    src.parent.mkdir()
    src.write_text(TWO_ORDERS)
    copy_sources(root, [src])
    run(root)
    return tmp / "lake"


def table_opens(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """From now on, the URI of every Delta table opened (`DeltaTable(...)`), in order."""
    opened: list[str] = []
    real = DeltaTable.__init__

    def spy(self: DeltaTable, table_uri: str, *args: Any, **kwargs: Any) -> None:
        opened.append(str(table_uri))
        real(self, table_uri, *args, **kwargs)

    monkeypatch.setattr(DeltaTable, "__init__", spy)
    return opened
