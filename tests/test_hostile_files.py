"""Hostile files: whatever a file does to its reader, it is rejected whole with a reason naming the
limit or failure, the other files of the run load, and the next run does not trip on it again.
Values the readers used to change silently now arrive exactly (or the file carries a reason)."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import lab_csvs
from hostile_files import cell, far_cell_xlsx, last_cell_xlsx, sheet_xml, xlsx, zip_bomb_xlsx
from lakehouse import Lakehouse
from lakehouse.config.settings import IntakeSettings
from lakehouse.contracts import load_contracts
from lakehouse.errors import FileRejected, RetryableError
from lakehouse.ingest import sandbox
from lakehouse.ingest.intake import header_reasons
from lakehouse.ingest.readers import read_file
from lakehouse.ingest.sandbox import read_isolated

MiB = 1 << 20


def rejected(name: str, data: bytes, limits: IntakeSettings | None = None) -> str:
    with pytest.raises(FileRejected) as err:
        read_file(name, data, limits)
    assert err.value.reasons == ["unreadable_file"]
    return err.value.detail


def rows(name: str, data: bytes) -> list[dict[str, object]]:
    [batch] = read_file(name, data)
    return batch.table.to_pylist()


def wide_csv(columns: int) -> bytes:
    return (
        ",".join(f"c{i}" for i in range(columns)) + "\n" + "1," * (columns - 1) + "1\n"
    ).encode()


# --- the poison files end to end -------------------------------------------------------------
def test_poison_files_are_rejected_and_the_run_and_the_next_one_succeed(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    root.mkdir()
    (root / "lakehouse.toml").write_text("[intake]\nmax_decompressed_bytes = 33554432\n")
    deliveries = lab_csvs(tmp_path / "in")
    poison = {
        "products_last_cell.xlsx": last_cell_xlsx(),  # the reported 1.6 KB file: SIGABRT before
        "products_bomb.xlsx": zip_bomb_xlsx(64 * MiB),
        "products_wide.csv": wide_csv(50_000),
        "products_big_cell.csv": b"product_id,product_name\n1," + b"x" * (2 * MiB) + b"\n",
    }
    for name, data in poison.items():
        (tmp_path / "in" / name).write_bytes(data)
        deliveries.append(tmp_path / "in" / name)
    assert len(poison["products_last_cell.xlsx"]) < 2000

    lh = Lakehouse(root)
    started = time.monotonic()
    summary = lh.run(deliveries)
    assert time.monotonic() - started < 120  # the 50,000-column header took 178 s before

    assert summary.status == "SUCCEEDED"
    assert summary.files_rejected == {name: ["unreadable_file"] for name in poison}
    assert sorted(summary.files_loaded) == ["order_items.csv", "orders.csv", "products.csv"]
    counts = {
        t: lh.sql(f"SELECT count(*) AS n FROM silver.{t}")["n"][0].as_py()
        for t in ("products", "orders", "order_items")
    }
    assert counts == {"products": 1000, "orders": 7500, "order_items": 40803}
    assert list((root / "landing").rglob("*.*")) == []

    details = {}
    for name, data in poison.items():
        kept = root / "quarantine" / "files" / summary.run_id / name
        assert kept.read_bytes() == data
        reason = json.loads(Path(f"{kept}.reason.json").read_text())
        assert reason["reasons"] == ["unreadable_file"]
        details[name] = reason["detail"]
    assert "ended by SIGABRT (memory allocation of" in details["products_last_cell.xlsx"]
    assert "intake.max_reader_memory_bytes" in details["products_last_cell.xlsx"]
    assert (
        "over the limit intake.max_decompressed_bytes = 33,554,432" in details["products_bomb.xlsx"]
    )
    assert details["products_wide.csv"] == (
        "header has 50,000 columns, over the limit intake.max_columns = 1,000"
    )
    assert details["products_big_cell.csv"] == (
        "row 2 column 'product_name': a value of 2,097,152 bytes, over the limit "
        "intake.max_field_bytes = 1,048,576"
    )

    # the next run: the poison delivered again is checked again, and set aside as before
    again = lh.run([tmp_path / "in" / "products_last_cell.xlsx"])
    assert again.status == "SUCCEEDED"
    assert again.files_rejected == {"products_last_cell.xlsx": ["unreadable_file"]}
    assert lh.run().status == "SUCCEEDED"


def test_a_reader_over_its_time_is_stopped_and_the_file_rejected(tmp_path: Path, lab: Path) -> None:
    root = tmp_path / "lake"
    root.mkdir()
    (root / "lakehouse.toml").write_text("[intake]\nmax_seconds_per_file = 0.001\n")
    lh = Lakehouse(root)
    summary = lh.run([lab / "products.csv"])
    assert summary.status == "SUCCEEDED"
    assert summary.files_rejected == {"products.csv": ["unreadable_file"]}
    reason = root / "quarantine" / "files" / summary.run_id / "products.csv.reason.json"
    assert json.loads(reason.read_text())["detail"] == (
        "reading took longer than intake.max_seconds_per_file = 0.001 s; the reader was stopped"
    )
    assert lh.run().status == "SUCCEEDED"


# --- the sandbox itself ----------------------------------------------------------------------
def test_sandbox_turns_a_native_abort_into_a_rejection() -> None:
    with pytest.raises(FileRejected) as err:
        read_isolated("products.xlsx", last_cell_xlsx(), IntakeSettings())
    assert err.value.reasons == ["unreadable_file"]
    assert err.value.detail.startswith("the reader process ended by SIGABRT (memory allocation of")


def test_sandbox_caps_the_readers_memory() -> None:
    # a cell at Z200000 makes the reader allocate 5.2 M cells: within max_cells, not in 64 MiB
    limits = IntakeSettings(max_reader_memory_bytes=64 * MiB)
    with pytest.raises(FileRejected) as err:
        read_isolated("products.xlsx", far_cell_xlsx("Z200000"), limits)
    assert err.value.detail.startswith("the reader process ended by SIGABRT (memory allocation")
    assert err.value.detail.endswith("intake.max_reader_memory_bytes = 67,108,864")


def test_sandbox_returns_what_the_reader_returns(lab: Path) -> None:
    for name in ("products.csv", "orders_apr_2025.xlsx"):
        data = (lab / name).read_bytes()
        ours = read_isolated(name, data, IntakeSettings())
        theirs = read_file(name, data)
        assert [(b.sheet, b.sheet_index, b.columns) for b in ours] == [
            (b.sheet, b.sheet_index, b.columns) for b in theirs
        ]
        assert all(a.table.equals(b.table) for a, b in zip(ours, theirs, strict=True))
    with pytest.raises(FileRejected) as err:  # a reader's own rejection comes back unchanged
        read_isolated("products.csv", b"a,a\n1,2\n", IntakeSettings())
    assert err.value.detail == "ValueError: header: duplicate column names ['a']"


def test_the_readers_outlive_ctrl_c_and_systemds_stop_signal() -> None:
    """Ctrl-C in a terminal and systemd's stop signal reach every process of the group: the
    reader server died of a KeyboardInterrupt (or its worker of SIGTERM), and the file being
    read was rejected whole as a poison file ("the reader process exited (-1)") while `watch`
    recorded its run SUCCEEDED. The watcher decides when the readers end."""
    import os
    import signal

    read_isolated("products.csv", b"product_id\n1\n", IntakeSettings())  # a worker is up
    server = sandbox._server()
    pid = server.process.pid
    [worker] = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    for target in (pid, int(worker)):
        for sig in (signal.SIGINT, signal.SIGTERM):
            os.kill(target, sig)
    time.sleep(0.5)
    assert server.alive() and Path(f"/proc/{worker}").exists()
    [again] = read_isolated("products.csv", b"product_id\n2\n", IntakeSettings())
    assert sandbox._server() is server  # the same server, not a replacement
    assert again.table.to_pylist() == [{"product_id": "2", "_row": 2}]


def test_a_scratch_folder_that_cannot_be_written_fails_the_run_not_the_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A full disk under the worker is a retryable storage error, never `unreadable_file`."""
    real = sandbox.tempfile.TemporaryDirectory

    @contextlib.contextmanager
    def blocked(**kwargs: str) -> Iterator[str]:
        with real(**kwargs) as scratch:
            (Path(scratch) / "0.arrow").mkdir()  # where the worker writes the first batch
            yield scratch

    monkeypatch.setattr(sandbox.tempfile, "TemporaryDirectory", blocked)
    with pytest.raises(RetryableError) as err:
        read_isolated("products.csv", b"product_id\n1\n", IntakeSettings())
    assert "products.csv: the reader's scratch folder" in str(err.value)
    assert "0.arrow is a directory" in str(err.value)
    monkeypatch.undo()
    [batch] = read_isolated("products.csv", b"product_id\n1\n", IntakeSettings())  # same worker
    assert batch.table.to_pylist() == [{"product_id": "1", "_row": 2}]


# --- limits checked before the reader allocates ----------------------------------------------
def test_a_declared_sheet_range_over_the_cell_limit_is_refused_before_reading() -> None:
    sheet = sheet_xml({"A1": "product_id", "A2": 1.0}, dimension="A1:XFD1048576")
    detail = rejected("products.xlsx", xlsx(sheet))
    assert detail == (
        "sheet 1 (declared range) has 16,384 columns, over the limit intake.max_columns = 1,000"
    )
    tall = sheet_xml({"A1": "product_id", "A2": 1.0}, dimension="A1:B1048576")
    assert rejected("products.xlsx", xlsx(tall), IntakeSettings(max_cells=1_000_000)) == (
        "sheet 1 (declared range) spans 1,048,576 rows x 2 columns = 2,097,152 cells, over the "
        "limit intake.max_cells = 1,000,000"
    )


def test_a_zip_bomb_is_refused_by_its_declared_size() -> None:
    limits = IntakeSettings(max_decompressed_bytes=16 * MiB)
    detail = rejected("products.xlsx", zip_bomb_xlsx(32 * MiB), limits)
    assert detail.endswith("over the limit intake.max_decompressed_bytes = 16,777,216")


def test_wide_headers_are_checked_in_linear_time() -> None:
    contract = load_contracts()["products"]
    limits = IntakeSettings(max_columns=100_000)
    started = time.monotonic()
    [batch] = read_file("products.csv", wide_csv(50_000), limits)
    reasons = header_reasons(contract, batch)
    assert len(reasons) == 50_000 + len(contract.required)
    assert time.monotonic() - started < 60  # the quadratic header check alone took 143 s


# --- values are never changed silently -------------------------------------------------------
def test_parquet_instants_with_a_time_zone_arrive_in_utc() -> None:
    at = dt.datetime(2025, 1, 1, 10, 0, tzinfo=dt.UTC)
    table = pa.table(
        {
            "berlin": pa.array([at], pa.timestamp("ms", tz="Europe/Berlin")),
            "new_york_us": pa.array(
                [at + dt.timedelta(microseconds=5)], pa.timestamp("us", tz="America/New_York")
            ),
            "naive_ms": pa.array(
                [at.replace(tzinfo=None, microsecond=120_000)], pa.timestamp("ms")
            ),
        }
    )
    buf = io.BytesIO()
    pq.write_table(table, buf)
    assert rows("orders.parquet", buf.getvalue()) == [
        {
            "berlin": "2025-01-01T10:00:00Z",
            "new_york_us": "2025-01-01T10:00:00.000005Z",
            "naive_ms": "2025-01-01T10:00:00.12",  # the fraction without trailing zeros
            "_row": 1,
        }
    ]


def test_floats_and_large_integers_keep_every_digit() -> None:
    data = b'{"a": 0.30000000000000004, "b": 12345678901234567890}\n{"a": 2.5, "b": 1}\n'
    assert rows("orders.jsonl", data) == [
        {"a": "0.30000000000000004", "b": "12345678901234567890", "_row": 1},
        {"a": "2.5", "b": "1", "_row": 2},
    ]
    buf = io.BytesIO()
    pq.write_table(pa.table({"a": [0.1 + 0.2, 3.0]}), buf)
    assert [r["a"] for r in rows("orders.parquet", buf.getvalue())] == ["0.30000000000000004", "3"]


def test_an_xlsx_value_right_of_the_last_header_rejects_the_file_as_csv_does() -> None:
    cells: dict[str, str | float] = {"A1": "product_id", "B1": "product_name", "A2": 1.0}
    cells |= {"B2": "tea", "A3": 2.0, "B3": "rice", "D3": "stray"}
    detail = rejected("products.xlsx", xlsx(sheet_xml(cells)))
    assert detail == (
        "ValueError: sheet 'Sheet1' cell D3: value 'stray' right of the last header column (B)"
    )
    assert "Expected 2 columns, got 3" in rejected("products.csv", b"a,b\n1,2\n3,4,stray\n")
    assert cell("A1", "x").startswith('<c r="A1"')


def test_csv_rows_keep_their_spreadsheet_row_across_blank_lines() -> None:
    data = b"product_id,product_name\n1,tea\n\n2,rice\r\n\r\n\r\n3,salt\n"
    assert [(r["product_id"], r["_row"]) for r in rows("products.csv", data)] == [
        ("1", 2),
        ("2", 4),
        ("3", 7),
    ]
    jsonl = b'{"a": "1"}\n\n{"a": "2"}\n'
    assert [(r["a"], r["_row"]) for r in rows("products.jsonl", jsonl)] == [("1", 1), ("2", 3)]


def test_a_json_object_naming_a_key_twice_rejects_the_file() -> None:
    data = b'{"product_id": "1"}\n{"product_id": "2", "product_id": "3"}\n'
    assert rejected("products.jsonl", data) == (
        "ValueError: line 2: key 'product_id' appears twice in one object"
    )
    nested = b'{"product_id": "1", "attributes": {"c": 1, "c": 2}}\n'
    assert rejected("products.jsonl", nested) == (
        "ValueError: line 1: key 'c' appears twice in one object"
    )
    escaped = b'{"product_id": "1", "product_\\u0069d": "2"}\n'  # the same key, spelled apart
    assert rejected("products.jsonl", escaped) == (
        "ValueError: line 1: key 'product_id' appears twice in one object"
    )


def test_a_csv_with_a_trailing_comma_on_every_line_is_read() -> None:
    data = b"product_id,product_name,\n1,tea,\n2,rice,\n"
    [batch] = read_file("products.csv", data)
    assert batch.columns == ["product_id", "product_name"]
    assert batch.table.to_pylist() == [
        {"product_id": "1", "product_name": "tea", "_row": 2},
        {"product_id": "2", "product_name": "rice", "_row": 3},
    ]
    assert rejected("products.csv", b"product_id,product_name,\n1,tea,\n2,rice,x\n") == (
        "ValueError: row 3 column 3: value 'x' right of the last header column ('product_name')"
    )


def test_csv_records_of_megabytes_are_read() -> None:
    # a 2.7 MB record (three values within max_field_bytes) spans several 1 MiB Arrow blocks
    parts = ["a" * 900_000, "b" * 900_000, "c" * 900_000]
    lines = ["k,x,y,z"] + [f"{i},s,s,s" for i in range(10)] + ["big," + ",".join(parts), "9,s,s,s"]
    result = rows("products.csv", ("\n".join(lines) + "\n").encode())
    assert len(result) == 12
    assert result[10] == {"k": "big", "x": parts[0], "y": parts[1], "z": parts[2], "_row": 12}
    assert result[11] == {"k": "9", "x": "s", "y": "s", "z": "s", "_row": 13}


def test_a_multi_megabyte_csv_with_line_breaks_in_values_is_read() -> None:
    body = "".join(f'{i},"first line\nsecond line {i}"\n' for i in range(200_000))
    data = ("id,text\n" + body).encode()
    assert len(data) > 5 * MiB
    result = rows("products.csv", data)
    assert len(result) == 200_000
    assert result[-1] == {"id": "199999", "text": "first line\nsecond line 199999", "_row": 200_001}
