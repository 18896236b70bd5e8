"""Intake on its own: which landed files a run takes and in which order, what a file's hash is
of, how its entity and header are recognised, what a bronze row carries, and how names are
claimed in landing/ and files moved out of it (docs/architecture.md, "Deliveries")."""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import os
import threading
import unicodedata
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import xlsxwriter

from lakehouse.config.settings import Settings
from lakehouse.contracts import load_contracts
from lakehouse.ingest import intake
from lakehouse.ingest.batch import Batch
from lakehouse.ingest.intake import (
    Intake,
    bronze_rows,
    header_reasons,
    recognise,
    sha256_of,
    take_in,
    take_in_all,
)
from lakehouse.orchestration import steps
from lakehouse.orchestration.definition import pipeline_definition
from lakehouse.orchestration.pipeline import run
from lakehouse.orchestration.state import RunState, RunSummary
from lakehouse.store.root import LandedFile, Root
from lakehouse.store.zones import TS

CONTRACTS = load_contracts()
QUIET = Settings(notifiers=())
# the steps a file's intake goes through; gold, catalog and maintenance have their own suites
INTAKE_ONLY = pipeline_definition()
for _step in ("gold", "catalog_sync", "maintain"):
    INTAKE_ONLY = INTAKE_ONLY.replace_task(_step, fn=lambda state: {})
ORDERS_HEADER = "order_num,order_id,user_id,order_timestamp,total_amount,date\n"
PRODUCTS_HEADER = "product_id,department_id,department,product_name\n"
T0 = 1_750_000_000_000_000_000  # an mtime in ns


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def drop(root: Root, relative: str, data: bytes | str, mtime_ns: int | None = None) -> Path:
    """A file written into landing/ by a producer."""
    path = Path(root.path("landing", relative))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


def landed(root: Root, relative: str) -> LandedFile:
    [found] = [f for f in root.list_files("landing") if f.relative == relative]
    return found


def state_for(root: Root, only: list[str] | None = None) -> RunState:
    summary = RunSummary("run-1", "RUNNING", dt.datetime(2025, 5, 1, tzinfo=dt.UTC), 0.0)
    return RunState(root, summary, CONTRACTS, QUIET, lambda: None, only=only)  # type: ignore[arg-type,return-value]


# --- hashing --------------------------------------------------------------------------------
def test_the_hash_is_the_sha256_of_the_bytes() -> None:
    # FIPS 180-2 test vectors
    assert sha256_of(b"abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert sha256_of(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_a_file_is_hashed_and_read_from_one_read_even_if_it_changes_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = Root(tmp_path / "lake")
    old = (PRODUCTS_HEADER + "1,4,Books,Old\n").encode()
    path = drop(root, "products.csv", old)
    real = Root.read_bytes

    def read_then_replace(self: Root, p: str) -> bytes:
        data = real(self, p)
        path.write_bytes((PRODUCTS_HEADER + "1,4,Books,New and longer\n").encode())
        return data

    monkeypatch.setattr(Root, "read_bytes", read_then_replace)
    item = take_in(root, landed(root, "products.csv"), CONTRACTS)
    assert item.sha256 == sha(old)
    assert item.batches[0].table["product_name"].to_pylist() == ["Old"]


# --- entity and header ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "entity"),
    [
        ("orders.csv", "orders"),
        ("ORDERS_2025-04.XLSX", "orders"),
        ("order_header_1.jsonl", "orders"),
        ("order_items_apr.xlsx", "order_items"),
        ("Order-Items.csv", "order_items"),
        ("items.parquet", "order_items"),
        ("catalog.csv", "products"),
        ("product_list.csv", "products"),
        ("2025/orders/items.csv", "order_items"),  # the file's own name counts, not its folder
        ("products/orders.csv", "orders"),
    ],
)
def test_the_entity_comes_from_the_file_name(name: str, entity: str) -> None:
    assert recognise(name, [["a"]], CONTRACTS) == entity


def test_failing_a_name_the_entity_comes_from_the_columns() -> None:
    products = ["\ufeffProduct_ID", " DEPARTMENT_ID ", "department", "product_name", "aisle"]
    assert recognise("export.csv", [products], CONTRACTS) == "products"
    items = ["id", "order_id", "user_id", "product_id", "add_to_cart_order", "reordered"]
    items += ["order_timestamp", "date"]
    assert recognise("dump/2025.csv", [items], CONTRACTS) == "order_items"
    # a required column missing: no entity (the file is rejected, not guessed)
    assert recognise("export.csv", [products[1:]], CONTRACTS) is None
    assert recognise("export.csv", [["a", "b"]], CONTRACTS) is None


def test_a_name_matching_two_contracts_falls_back_to_the_columns() -> None:
    both = {
        **CONTRACTS,
        "products": replace(CONTRACTS["products"], file_patterns=("shop*",)),
        "orders": replace(CONTRACTS["orders"], file_patterns=("shop*",)),
    }
    header = ORDERS_HEADER.strip().split(",")
    assert recognise("shop.csv", [header], both) == "orders"


def test_header_reasons_name_missing_required_and_unexpected_columns_in_order() -> None:
    contract = CONTRACTS["orders"]
    columns = ["ORDER_ID", " user_id", "coupon", "\ufefforder_num", "date", "Notes", "status"]
    batch = Batch("", 0, columns, pa.table({"x": pa.array([], pa.string())}))
    assert header_reasons(contract, batch) == [
        "missing_column:order_timestamp",
        "missing_column:total_amount",
        "unexpected_column:coupon",
        "unexpected_column:notes",
    ]
    whole = Batch("", 0, [*ORDERS_HEADER.strip().split(","), "currency"], batch.table)
    assert header_reasons(contract, whole) == []  # optional columns may be absent


# --- take_in --------------------------------------------------------------------------------
ODD_NAMES = [
    "orders 2025 #1 (copy).csv",
    unicodedata.normalize("NFC", "orders_café.csv"),
    unicodedata.normalize("NFD", "orders_café.csv"),
    "-orders;rm -rf.csv",
    "orders_'quoted\"%20.csv",
    "sub dir/orders_\u202eevil.csv",
]


# --- reading ahead --------------------------------------------------------------------------
def _recorded_reads(monkeypatch: pytest.MonkeyPatch, seconds: float = 0.0) -> list[str]:
    """The files `take_in_all` hands to `take_in`, in order; each read takes `seconds` more."""
    read: list[str] = []
    real = intake.take_in

    def recording(root: Root, f: LandedFile, *args: Any) -> Intake:
        read.append(f.relative)
        threading.Event().wait(seconds)
        return real(root, f, *args)

    monkeypatch.setattr(intake, "take_in", recording)
    return read


def _orders_files(root: Root, n: int) -> list[LandedFile]:
    for i in range(n):
        drop(
            root,
            f"orders_{i}.csv",
            ORDERS_HEADER + f"1,{i + 1},7,2025-05-01T10:00:00Z,9.50,2025-05-01\n",
        )
    return sorted(root.list_files("landing"), key=lambda f: f.relative)


def _wait_for(reads: list[str], count: int) -> None:
    deadline = threading.Event()
    for _ in range(200):
        if len(reads) >= count:
            return
        deadline.wait(0.05)


def test_files_are_read_ahead_while_the_caller_is_busy_with_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writing a chunk of bronze takes the caller about 0.6 s a million rows; the reader keeps
    reading meanwhile instead of stopping one file ahead."""
    root = Root(str(tmp_path))
    files = _orders_files(root, 6)
    reads = _recorded_reads(monkeypatch)
    taken = take_in_all(root, files, CONTRACTS, Settings().intake)
    first = next(taken)
    _wait_for(reads, 6)
    assert reads == [f.relative for f in files]  # all of them, while the caller holds the first
    rest = list(taken)
    assert [i.landed.relative for i in [first, *rest]] == reads
    assert [i.rows for i in [first, *rest]] == [1] * 6


def test_reading_ahead_stops_at_its_byte_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = Root(str(tmp_path))
    files = _orders_files(root, 6)
    monkeypatch.setattr(intake, "READ_AHEAD_BYTES", 2 * files[0].size)
    reads = _recorded_reads(monkeypatch)
    taken = take_in_all(root, files, CONTRACTS, Settings().intake)
    next(taken)
    _wait_for(reads, 3)
    threading.Event().wait(0.3)
    assert len(reads) == 3  # the file given to the caller and two more
    next(taken)
    _wait_for(reads, 4)
    threading.Event().wait(0.3)
    assert len(reads) == 4
    assert len(list(taken)) == 4


def test_a_caller_that_stops_early_does_not_wait_for_the_files_read_ahead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = Root(str(tmp_path))
    files = _orders_files(root, 10)
    reads = _recorded_reads(monkeypatch, seconds=0.5)
    taken = take_in_all(root, files, CONTRACTS, Settings().intake)
    next(taken)
    taken.close()  # e.g. the run failed on this file's rows
    assert len(reads) <= 3  # the one being read when it stopped at most; 10 were queued


def test_odd_names_are_taken_in_as_named(tmp_path: Path) -> None:
    root = Root(tmp_path / "lake")
    bodies = {}
    for i, name in enumerate(ODD_NAMES):
        bodies[name] = (
            ORDERS_HEADER + f"1,{i + 1},5,2025-04-01T10:00:00,9.99,2025-04-01\n"
        ).encode()
        drop(root, name, bodies[name])
    found = sorted(f.relative for f in root.list_files("landing"))
    assert found == sorted(ODD_NAMES)  # NFC and NFD stay two names
    for name in ODD_NAMES:
        item = take_in(root, landed(root, name), CONTRACTS)
        assert (item.entity, item.format, item.rejected, item.rows) == ("orders", "csv", None, 1)
        assert item.sha256 == sha(bodies[name])
        assert item.landed.relative == name


def test_a_file_with_other_columns_is_rejected_whole_with_every_reason(tmp_path: Path) -> None:
    root = Root(tmp_path / "lake")
    data = (
        b"order_num,order_id,user_id,order_timestamp,date,coupon\n1,2,3,2025-04-01,2025-04-01,X\n"
    )
    drop(root, "orders_extra.csv", data)
    item = take_in(root, landed(root, "orders_extra.csv"), CONTRACTS)
    assert item.rejected is not None
    assert item.rejected.reasons == ["missing_column:total_amount", "unexpected_column:coupon"]
    assert item.rejected.detail == "columns do not match contract orders v1"
    assert (item.entity, item.batches, item.rows, item.sha256) == ("orders", [], 0, sha(data))


def test_a_workbook_names_the_sheet_whose_columns_do_not_match(tmp_path: Path) -> None:
    root = Root(tmp_path / "lake")
    path = Path(root.path("landing", "products_book.xlsx"))
    path.parent.mkdir(parents=True)
    with xlsxwriter.Workbook(str(path)) as book:
        good, bad = book.add_worksheet("Good"), book.add_worksheet("Bad one")
        for col, value in enumerate(["product_id", "department_id", "department", "product_name"]):
            good.write(0, col, value)
            good.write(1, col, ["1", "4", "Books", "A"][col])
        for col, value in enumerate(["product_id", "department_id", "department", "title"]):
            bad.write(0, col, value)
    item = take_in(root, landed(root, "products_book.xlsx"), CONTRACTS)
    assert item.rejected is not None
    assert item.rejected.reasons == ["missing_column:product_name", "unexpected_column:title"]
    assert item.rejected.detail == "columns do not match contract products v1 in sheet 'Bad one'"
    assert item.format == "xlsx"


@pytest.mark.parametrize(
    ("name", "data", "detail"),
    [
        ("export.csv", b"a,b\n1,2\n", "cannot tell the entity"),
        ("orders.dat", ORDERS_HEADER.encode(), "unknown file type; expected .csv"),
        ("orders.jsonl", b'{"order_id": 1, "order_id": 2}\n', "unreadable_file"),
    ],
)
def test_unreadable_files_are_rejected_with_a_reason_and_still_hashed(
    tmp_path: Path, name: str, data: bytes, detail: str
) -> None:
    root = Root(tmp_path / "lake")
    drop(root, name, data)
    item = take_in(root, landed(root, name), CONTRACTS)
    assert item.rejected is not None
    assert item.rejected.reasons == ["unreadable_file"]
    assert detail in str(item.rejected)
    assert (item.batches, item.sha256) == ([], sha(data))


# --- bronze rows ------------------------------------------------------------------------------
def test_bronze_rows_carry_text_lineage_and_file_order() -> None:
    contract = CONTRACTS["products"]
    now = dt.datetime(2025, 5, 1, 12, tzinfo=dt.UTC)

    def intake(relative: str, digest: str, batches: list[Batch]) -> Intake:
        return Intake(
            LandedFile("/x/" + relative, relative, 1, 1), digest, "csv", "products", batches
        )

    csv_rows = pa.table(
        {
            "product_id": ["1", "2"],
            "department_id": ["4", "5"],
            "department": [" Books ", "Toys"],
            "product_name": ["A", None],
            "_row": pa.array([2, 4], pa.int64()),
        }
    )
    sheet_rows = pa.table(
        {
            "product_id": ["3"],
            "department_id": ["6"],
            "department": ["Garden"],
            "product_name": ["C"],
            "unit_price": ["1.50"],
            "_row": pa.array([7], pa.int64()),
        }
    )
    items = [
        intake("b.csv", "sha-b", [Batch("", 0, [], csv_rows)]),
        intake("a.xlsx", "sha-a", [Batch("Sheet2", 1, [], sheet_rows)]),
    ]
    out = bronze_rows(contract, items, {"sha-b": 0, "sha-a": 1}, "run-9", now)
    text = {n: None for n in contract.names}
    assert out.to_pylist() == [
        {
            **text,
            "product_id": "1",
            "department_id": "4",
            "department": " Books ",  # bronze keeps the text as delivered
            "product_name": "A",
            **lineage("b.csv", "", 2, "sha-b", now, 0),
            "_canonical": 0,  # text from a CSV file: always checked as text
            "_seq": 0,
            "_recheck": False,
        },
        {
            **text,
            "product_id": "2",
            "department_id": "5",
            "department": "Toys",
            **lineage("b.csv", "", 4, "sha-b", now, 0),
            "_canonical": 0,  # text from a CSV file: always checked as text
            "_seq": 0,
            "_recheck": False,
        },
        {
            **text,
            "product_id": "3",
            "department_id": "6",
            "department": "Garden",
            "product_name": "C",
            "unit_price": "1.50",
            **lineage("a.xlsx", "Sheet2", 7, "sha-a", now, 1),
            "_canonical": 0,
            "_seq": 1,
            "_recheck": False,
        },
    ]
    assert out.schema.field("_ingested_at").type == TS
    assert [out.schema.field(n).type for n in contract.names] == [pa.string()] * 8
    empty = bronze_rows(contract, [], {}, "run-9", now)
    assert (empty.num_rows, empty.column_names) == (0, out.column_names)


def lineage(
    file: str, sheet: str, row: int, digest: str, now: dt.datetime, index: int
) -> dict[str, Any]:
    return {
        "_source_file": file,
        "_sheet": sheet,
        "_row": row,
        "_file_sha256": digest,
        "_run_id": "run-9",
        "_ingested_at": now,
        "_sheet_index": index,
    }


# --- which files, in which order ---------------------------------------------------------------
def test_a_run_takes_deliveries_in_arrival_order_and_leaves_partial_copies(tmp_path: Path) -> None:
    root = Root(tmp_path / "lake")
    taken = {
        "orders~2.csv": T0,  # same time: by name, then version
        "orders.csv": T0,
        "orders~10.csv": T0,
        "2025/04/items.csv": T0 - 5,  # earliest
        "late products.csv": T0 + 5,
        "ünïcode/catalog.jsonl": T0 + 1,
    }
    for name, mtime in taken.items():
        drop(root, name, b"x", mtime)
    left = [
        ".hidden.csv",
        "_staging/orders.csv",
        "sub/.tmp-12-ab/orders.csv",
        "orders.csv.tmp",
        "orders.csv.tmp-4242",
        "orders.csv.PART",
        "orders.csv.partial",
        "orders.csv.crdownload",
    ]
    for name in left:
        drop(root, name, b"x", T0)
    os.mkfifo(root.path("landing", "pipe.csv"))  # a fifo would block its reader
    stray = os.fsencode(root.path("landing")) + b"/orders_\xff.csv"  # not UTF-8: cannot be recorded
    with open(stray, "wb") as f:
        f.write(b"x")
    state = state_for(root)
    assert steps.discover(state).to_output() == {"files": 6, "bytes": 6}
    landed = state.results.discover.landed
    assert [f.relative for f in landed] == [
        "2025/04/items.csv",
        "orders.csv",
        "orders~2.csv",
        "orders~10.csv",
        "ünïcode/catalog.jsonl",
        "late products.csv",
    ]
    assert [f.mtime_ns for f in landed] == [T0 - 5, T0, T0, T0, T0 + 1, T0 + 5]
    only = state_for(root, only=["orders~10.csv", "late products.csv", ".hidden.csv"])
    found = steps.discover(only)
    assert [f.relative for f in found.landed] == ["orders~10.csv", "late products.csv"]


def test_the_archive_moves_only_files_still_as_they_were_read(tmp_path: Path) -> None:
    root = Root(tmp_path / "lake")
    for name in ("same.csv", "grown.csv", "touched.csv", "gone.csv"):
        drop(root, f"in/{name}", b"a,b\n1,2\n", T0)
    state = state_for(root)
    landed = steps.discover(state).landed
    drop(root, "in/grown.csv", b"a,b\n1,2\n3,4\n", T0)  # rewritten: another size
    drop(root, "in/touched.csv", b"a,b\n1,9\n", T0 + 1)  # same size, another time
    os.remove(root.path("landing", "in/gone.csv"))
    state.results.bronze.moves = [
        (f.path, root.path("archive", "d", "run-1", f.relative), None) for f in landed
    ]
    assert steps.archive(state).to_output() == {"manifest": True, "moved": 1}
    assert sorted(f.relative for f in root.list_files("landing")) == [
        "in/grown.csv",
        "in/touched.csv",
    ]
    assert Path(root.path("archive", "d", "run-1", "in/same.csv")).read_bytes() == b"a,b\n1,2\n"
    # a retried archive step moves nothing twice
    assert steps.archive(state).to_output() == {"manifest": True, "moved": 0}


# --- claiming a name in landing/ --------------------------------------------------------------
def test_a_taken_name_is_never_overwritten_even_without_hard_links(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = Root(tmp_path / "lake")
    dest = root.path("landing", "orders.csv")
    drop(root, "orders.csv", b"first")
    drop(root, "orders~2.csv", b"")  # a name claimed by a copy still running
    src = tmp_path / "orders.csv"
    src.write_bytes(b"second")

    def no_links(a: object, b: object, **kw: object) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    assert root.copy_in(src, dest) == root.path("landing", "orders~3.csv")
    folder = Path(root.path("landing"))
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == {
        "orders.csv": b"first",
        "orders~2.csv": b"",
        "orders~3.csv": b"second",
    }


def test_copies_racing_for_one_name_all_land_whole_under_distinct_names(tmp_path: Path) -> None:
    root = Root(tmp_path / "lake")
    dest = root.path("landing", "products.csv")
    sources = []
    for i in range(6):
        src = tmp_path / f"src{i}" / "products.csv"
        src.parent.mkdir()
        src.write_bytes(bytes([65 + i]) * (256 << 10))
        sources.append(src)
    results: dict[int, str] = {}
    start = threading.Barrier(len(sources))

    def copy(i: int) -> None:
        start.wait()
        results[i] = root.copy_in(sources[i], dest)

    threads = [threading.Thread(target=copy, args=(i,)) for i in range(len(sources))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    names = sorted(os.path.basename(p) for p in results.values())
    assert names == ["products.csv", *[f"products~{n}.csv" for n in range(2, 7)]]
    for i, path in results.items():
        assert Path(path).read_bytes() == sources[i].read_bytes()
    assert sorted(os.listdir(root.path("landing"))) == names  # no temporary left behind


# --- duplicates by content, end to end ----------------------------------------------------------
def test_the_same_bytes_under_any_name_load_once(tmp_path: Path) -> None:
    root = Root(tmp_path / "lake")
    body = (PRODUCTS_HEADER + "1,4,Books,A\n2,4,Books,B\n").encode()
    other = (PRODUCTS_HEADER + "3,4,Books,C\n").encode()
    drop(root, "products (copy).csv", body, T0 + 1)
    drop(root, "products.csv", body, T0)  # arrived first: this one loads
    drop(root, "catalog.csv", other, T0 + 2)
    first = run(root, settings=QUIET, definition=INTAKE_ONLY)
    assert first.files_loaded == ["products.csv", "catalog.csv"]
    assert first.files_duplicate == ["products (copy).csv"]
    assert first.entities["products"].rows_in == 3
    dup = Path(root.path("archive")).rglob("duplicates/products (copy).csv")
    assert [p.read_bytes() for p in dup] == [body]
    drop(root, "sub/products_again.csv", body)  # a later run: still the same bytes
    second = run(root, settings=QUIET, definition=INTAKE_ONLY)
    assert (second.files_loaded, second.files_duplicate) == ([], ["sub/products_again.csv"])
    assert second.entities["products"].rows_in == 0
    assert os.listdir(root.path("landing")) == ["sub"] and not os.listdir(
        root.path("landing", "sub")
    )
