"""Reading on the executors: with `--engine spark` every landed file is read by a Spark task
running the same intake as the local engine, and the driver never holds a file's rows.

One delivery of every kind (csv, a 15-sheet xlsx, jsonl, parquet), with hostile files among
them (a broken workbook, missing and unexpected columns, dirty rows, a same-bytes copy), is run
once by each engine; bronze, the files manifest, quarantine and silver must agree row by row.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from lakehouse import Lakehouse
from spark_fixtures import SPARK_MARKS, spark_session_fixture  # noqa: F401

pytestmark = [*SPARK_MARKS, pytest.mark.usefixtures("spark")]

DATA = Path(__file__).parent / "data" / "lab"
DIRTY = Path(__file__).parent / "scenarios" / "dirty_lab" / "input" / "run1"


def delivery(folder: Path) -> list[Path]:
    """The lab workbooks, the dirty scenario's files, order items as jsonl and parquet, and a
    copy of products.csv under another name."""
    folder.mkdir()
    for f in [*sorted(DIRTY.iterdir()), DATA / "orders_apr_2025.xlsx"]:
        shutil.copy(f, folder / f.name)
    shutil.copy(DIRTY / "products.csv", folder / "products_again.csv")
    text = pacsv.read_csv(
        DATA / "order_items.csv",
        convert_options=pacsv.ConvertOptions(column_types=_all_text(DATA / "order_items.csv")),
    )
    (folder / "order_items_part1.jsonl").write_text(
        "".join(_json_line(r) for r in text.slice(0, 700).to_pylist())
    )
    pq.write_table(text.slice(700, 900), folder / "order_items_part2.parquet")
    return sorted(folder.iterdir())


def _all_text(path: Path) -> dict[str, pa.DataType]:
    header = path.read_text().splitlines()[0].split(",")
    return {name: pa.string() for name in header}


def _json_line(row: dict[str, Any]) -> str:
    return json.dumps(row) + "\n"


def _position(row: dict[str, Any]) -> tuple[str, str, int]:
    return row["_source_file"], row["_sheet"] or "", row["_row"]


def snapshot(lh: Lakehouse) -> dict[str, list[dict[str, Any]]]:
    """Every row the run wrote that does not name the run itself."""
    got: dict[str, list[dict[str, Any]]] = {}
    names = [t.name for t in lh.tables()]
    for name in names:
        zone = name.split(".")[0]
        if zone in ("bronze", "quarantine", "silver"):
            drop = "_run_id, _ingested_at" + (", _quarantined_at" if zone == "quarantine" else "")
            rows = lh.sql(f"SELECT * EXCLUDE ({drop}) FROM {name}").to_pylist()
            got[name] = sorted(
                rows, key=lambda r: (r["_source_file"], r["_sheet"] or "", r["_row"])
            )
    columns = "file, sha256, entity, format, size_bytes, rows, status, reasons, detail"
    files = lh.sql(f"SELECT {columns} FROM _ops.files")
    got["_ops.files"] = sorted(files.to_pylist(), key=lambda r: r["file"])
    return got


def test_the_executors_read_what_the_local_readers_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = delivery(tmp_path / "delivery")
    local = Lakehouse(tmp_path / "local")
    want = local.run(files, engine="local")

    def on_the_driver(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the spark engine's driver read a landed file")

    # the executors are processes of their own: only the driver's reading is taken away
    monkeypatch.setattr("lakehouse.ingest.intake.take_in", on_the_driver)
    monkeypatch.setattr("lakehouse.ingest.intake.read_isolated", on_the_driver)
    spark = Lakehouse(tmp_path / "spark")
    got = spark.run(files, engine="spark")

    assert got.status == want.status == "SUCCEEDED", got.error
    assert got.files_rejected == want.files_rejected
    assert set(want.files_rejected) == {
        "order_items_missing.csv",
        "orders_broken.xlsx",
        "orders_extra.csv",
    }
    assert got.files_duplicate == want.files_duplicate == ["products_again.csv"]
    for entity, counts in want.entities.items():
        assert got.entities[entity].rows_in == counts.rows_in > 0, entity
        assert got.entities[entity].reasons == counts.reasons, entity
    expected, actual = snapshot(local), snapshot(spark)
    assert sorted(actual) == sorted(expected)
    for name, rows in expected.items():
        assert actual[name] == rows, name
    workbook = [r for r in actual["bronze.orders"] if r["_source_file"] == "orders_apr_2025.xlsx"]
    assert len(workbook) == 7500 and len({r["_sheet"] for r in workbook}) == 15  # every day
    assert {r["_source_file"] for r in actual["bronze.order_items"]} == {
        "order_items_dirty.csv",
        "order_items_part1.jsonl",
        "order_items_part2.parquet",
    }
