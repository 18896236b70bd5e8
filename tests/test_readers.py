"""Readers: every format, every sheet, values kept exactly as text, bad files rejected whole."""

from __future__ import annotations

import io
import json
from pathlib import Path

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lakehouse.errors import FileRejected
from lakehouse.ingest.readers import read_file


def rows(batch_table: pa.Table) -> list[dict[str, object]]:
    return batch_table.to_pylist()


def test_csv_with_bom_and_crlf() -> None:
    data = "\ufeffproduct_id,department\r\n1,Books\r\n2,\r\n".encode()
    [b] = read_file("products.csv", data)
    assert b.columns == ["product_id", "department"]
    assert rows(b.table) == [
        {"product_id": "1", "department": "Books", "_row": 2},
        {"product_id": "2", "department": "", "_row": 3},
    ]


def test_csv_keeps_text_exactly() -> None:
    data = b'order_id,total_amount\n007,"1,5"\n 8 ,229.50\n'
    [b] = read_file("orders.csv", data)
    assert [r["order_id"] for r in rows(b.table)] == ["007", " 8 "]
    assert [r["total_amount"] for r in rows(b.table)] == ["1,5", "229.50"]


def workbook(sheets: dict[str, list[list[object]]]) -> bytes:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, data in sheets.items():
        ws = wb.create_sheet(name)
        for r in data:
            ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_xlsx_reads_every_sheet_with_numbers_kept_exact() -> None:
    data = workbook(
        {
            "2025-04-01": [["order_id", "total_amount"], [10000, 229.53], ["10001", 30]],
            "2025-04-02": [["order_id", "total_amount"], [10002.0, "12.10"]],
            "empty": [],
        }
    )
    batches = read_file("orders.xlsx", data)
    assert [(b.sheet, b.sheet_index) for b in batches] == [("2025-04-01", 0), ("2025-04-02", 1)]
    assert rows(batches[0].table) == [
        {"order_id": "10000", "total_amount": "229.53", "_row": 2},
        {"order_id": "10001", "total_amount": "30", "_row": 3},
    ]
    assert rows(batches[1].table) == [{"order_id": "10002", "total_amount": "12.10", "_row": 2}]


def test_xlsx_formulas_are_kept_as_text_not_evaluated() -> None:
    data = workbook({"s": [["order_id", "total_amount"], [1, "=2*21"], [2, 5]]})
    [b] = read_file("orders.xlsx", data)
    assert [r["total_amount"] for r in rows(b.table)] == ["=2*21", "5"]


def test_lab_workbooks_have_fifteen_sheets(lab: Path) -> None:
    for name, total in (("orders_apr_2025.xlsx", 7500), ("order_items_apr_2025.xlsx", 40803)):
        batches = read_file(name, (lab / name).read_bytes())
        assert len(batches) == 15
        assert sum(b.table.num_rows for b in batches) == total


def test_jsonl_numbers_and_nulls_become_text() -> None:
    lines = [
        {"order_id": 1, "total_amount": 229.5, "status": None, "date": "2025-04-01"},
        {"order_id": "2", "date": "2025-04-02T10:00:00"},
    ]
    data = "\n".join(json.dumps(x) for x in lines).encode()
    [b] = read_file("orders.jsonl", data)
    assert rows(b.table) == [
        {"order_id": "1", "total_amount": "229.5", "status": "", "date": "2025-04-01", "_row": 1},
        {
            "order_id": "2",
            "total_amount": "",
            "status": "",
            "date": "2025-04-02T10:00:00",
            "_row": 2,
        },
    ]

    typed = [{"order_id": 1, "date": "2025-04-01"}, {"order_id": 2, "date": "2025-04-02"}]
    [b] = read_file("orders.jsonl", "\n".join(json.dumps(x) for x in typed).encode())
    assert [r["date"] for r in rows(b.table)] == ["2025-04-01", "2025-04-02"]


def test_jsonl_bad_line_names_the_line() -> None:
    with pytest.raises(FileRejected) as err:
        read_file("orders.jsonl", b'{"order_id": 1}\n{oops\n')
    assert err.value.reasons == ["unreadable_file"]
    assert "line 2" in str(err.value)


def test_parquet_typed_columns_become_text() -> None:
    table = pa.table(
        {
            "order_id": pa.array([1, 2], pa.int64()),
            "total_amount": pa.array([229.53, 30.0]),
            "order_timestamp": pa.array([1743506820000000, None], pa.timestamp("us", tz="UTC")),
        }
    )
    buf = io.BytesIO()
    pq.write_table(table, buf)
    [b] = read_file("orders.parquet", buf.getvalue())
    assert rows(b.table) == [
        {
            "order_id": "1",
            "total_amount": "229.53",
            "order_timestamp": "2025-04-01T11:27:00Z",
            "_row": 1,
        },
        {"order_id": "2", "total_amount": "30", "order_timestamp": "", "_row": 2},
    ]


@pytest.mark.parametrize(
    ("name", "data", "why"),
    [
        ("orders.xlsx", b"not a zip", "unreadable_file"),
        ("orders.parquet", b"PAR1garbage", "unreadable_file"),
        ("orders.csv", b"", "unreadable_file"),
        ("orders.csv", b"a,a\n1,2\n", "unreadable_file"),
        ("orders.docx", b"x", "unreadable_file"),
    ],
)
def test_unreadable_files_are_rejected_with_a_reason(name: str, data: bytes, why: str) -> None:
    with pytest.raises(FileRejected) as err:
        read_file(name, data)
    assert err.value.reasons == [why]
    assert name in str(err.value)
