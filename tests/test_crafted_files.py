"""Files a sloppy or hostile supplier crafts, found by trying (session 23): each is read exactly
as a person sees it, or rejected naming the row or sheet, and none stops a run or the next one.

Before: a Latin-1 JSON lines or Parquet file failed every run (DuckDB gave up on the text); a
file named `*.gz` failed every run (pyarrow picked a codec from the name) and a small gzip bomb
was inflated outside the reader sandbox; a CSV quote never closed swallowed the rest of the
file into one value; a workbook naming a sheet twice lost one sheet and read the other twice;
Excel error values (#DIV/0!) became null; a cell sharing another's formula got the other's
text; nanosecond instants with a fraction were quarantined as bad timestamps."""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import xlsxwriter

from lakehouse import Lakehouse
from lakehouse.errors import FileRejected
from lakehouse.ingest.readers import read_file

PRODUCTS = "product_id,department_id,department,product_name\n"


def rejected(name: str, data: bytes) -> str:
    with pytest.raises(FileRejected) as err:
        read_file(name, data)
    assert err.value.reasons == ["unreadable_file"]
    return err.value.detail


def values(name: str, data: bytes, column: str) -> list[tuple[int, object]]:
    """(row, value of `column`) of every row of a one-batch file."""
    [batch] = read_file(name, data)
    return list(zip(batch.table["_row"].to_pylist(), batch.table[column].to_pylist(), strict=True))


def latin1_jsonl() -> bytes:
    good = {"product_id": 401, "department_id": 1, "department": "Food", "product_name": "Tea"}
    return (json.dumps(good) + "\n").encode() + (
        b'{"product_id": 402, "department_id": 1, "department": "Food", '
        b'"product_name": "Caf\xe9 au lait"}\n'
    )


def not_utf8_parquet(dictionary: bool) -> bytes:
    names = pa.array([b"tea", b"rice", b"\xff\xfe"], pa.binary()).view(pa.string())
    column = names.dictionary_encode() if dictionary else names
    out = io.BytesIO()
    pq.write_table(pa.table({"product_id": [1, 2, 3], "product_name": column}), out)
    return out.getvalue()


def test_text_that_is_not_utf8_rejects_the_file_naming_its_row_and_column() -> None:
    expected = "column 'product_name': text that is not UTF-8 (save the file as UTF-8)"
    assert rejected("products.jsonl", latin1_jsonl()) == f"ValueError: row 2 {expected}"
    assert rejected("products.parquet", not_utf8_parquet(False)) == f"ValueError: row 3 {expected}"
    assert rejected("products.parquet", not_utf8_parquet(True)) == f"ValueError: row 3 {expected}"
    # a CSV says the line (Arrow said "column #3", counted from 0, and no row)
    latin1 = (PRODUCTS + "1,1,Books,Tea\n2,1,Books,Café\n").encode("latin-1")
    assert rejected("products.csv", latin1) == (
        "ValueError: line 3: text that is not UTF-8 (save the file as UTF-8)"
    )
    assert rejected("products.csv", "product_id,café\n1,2\n".encode("latin-1")) == (
        "ValueError: line 1: text that is not UTF-8 (save the file as UTF-8)"
    )
    assert rejected("products.csv", (PRODUCTS + "1,1,Books,Tea\n").encode("utf-16")) == (
        "ValueError: the file is UTF-16 text (save it as UTF-8)"  # was "Expected 4 columns"
    )


def test_a_quote_never_closed_rejects_the_csv_naming_the_row_it_opens_in() -> None:
    never_closed = "ValueError: row {}: a quote opened in this row is never closed (the rest of "
    middle = PRODUCTS + '101,1,Books,A\n102,1,Books,"Deluxe Tray\n103,1,Books,B\n104,1,Books,C\n'
    assert rejected("products.csv", middle.encode()).startswith(never_closed.format(3))
    last = PRODUCTS + '101,1,Books,A\n102,1,Books,"Tray\n'
    assert rejected("products.csv", last.encode()).startswith(never_closed.format(3))
    cr = PRODUCTS.replace("\n", "\r") + '101,1,Books,A\r\r102,1,Books,"Tray\r'
    assert rejected("products.csv", cr.encode()).startswith(never_closed.format(4))
    # a closed quote holding a line break, and a lone carriage return, are read as before
    closed = PRODUCTS + '101,1,Books,"A\nB"\n\n102,1,Books,C\n'
    assert values("products.csv", closed.encode(), "product_name") == [(2, "A\nB"), (4, "C")]
    lone_cr = PRODUCTS.replace("\n", "\r") + "101,1,Books,A\r\r102,1,Books,B\r"
    assert values("products.csv", lone_cr.encode(), "product_name") == [(2, "A"), (4, "B")]


def workbook(sheets: dict[str, list[list[object]]], rename: dict[str, str] | None = None) -> bytes:
    """An xlsx of `sheets` (rows from the header on); `rename` changes sheet names in the
    workbook's XML afterwards (Excel itself never names two sheets alike)."""
    out = io.BytesIO()
    with xlsxwriter.Workbook(out) as wb:
        for name, rows in sheets.items():
            ws = wb.add_worksheet(name)
            for r, row in enumerate(rows):
                for c, value in enumerate(row):
                    if isinstance(value, str) and value.startswith("="):
                        ws.write_formula(r, c, value)
                    else:
                        ws.write(r, c, value)
    data = out.getvalue()
    if not rename:
        return data
    renamed = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(renamed, "w") as zout:
        for info in zin.infolist():
            member = zin.read(info.filename)
            if info.filename == "xl/workbook.xml":
                for old, new in rename.items():
                    member = member.replace(f'name="{old}"'.encode(), f'name="{new}"'.encode())
            zout.writestr(info, member)
    return renamed.getvalue()


HEADER = ["product_id", "department_id", "department", "product_name"]


def test_a_workbook_naming_a_sheet_twice_is_rejected_not_half_read() -> None:
    sheets = {
        "Jan": [HEADER, [101, 1, "Books", "A"]],
        "Feb": [HEADER, [111, 1, "Books", "K"], [112, 1, "Books", "L"]],
    }
    assert rejected("products.xlsx", workbook(sheets, {"Feb": "Jan"})) == (
        "ValueError: sheet names appear twice in the workbook: ['Jan']"
    )
    batches = read_file("products.xlsx", workbook(sheets))
    assert [(b.sheet, b.table["product_id"].to_pylist()) for b in batches] == [
        ("Jan", ["101"]),
        ("Feb", ["111", "112"]),
    ]


def with_error_cells(data: bytes, errors: dict[str, str]) -> bytes:
    """The workbook with the cells `errors` names holding those error values, as Excel stores a
    pasted error (`t="e"`, the error's text as the value)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(out, "w") as zout:
        for info in zin.infolist():
            member = zin.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                text = member.decode()
                for ref, error in errors.items():
                    start = text.index(f'<c r="{ref}"')
                    end = text.index("</c>", start) + len("</c>")
                    text = text[:start] + f'<c r="{ref}" t="e"><v>{error}</v></c>' + text[end:]
                member = text.encode()
            zout.writestr(info, member)
    return out.getvalue()


def test_excel_error_values_are_kept_as_excel_shows_them() -> None:
    rows = [HEADER, [301, 1, "Books", "A"], [302, 1, "Books", "B"], [303, 1, "Books", "C"]]
    data = with_error_cells(workbook({"P": rows}), {"D3": "#DIV/0!", "B4": "#N/A"})
    [batch] = read_file("products.xlsx", data)
    assert batch.table.select(["product_name", "department_id"]).to_pylist() == [
        {"product_name": "A", "department_id": "1"},
        {"product_name": "#DIV/0!", "department_id": "1"},
        {"product_name": "C", "department_id": "#N/A"},  # a bigint column: quarantined
    ]


def test_each_cell_sharing_a_formula_keeps_the_formula_it_shows() -> None:
    rows = [HEADER, *([600 + r, 1, "Books", f"=UPPER(C{r + 2})&$C$2"] for r in range(3))]
    data = workbook({"P": rows})
    with zipfile.ZipFile(io.BytesIO(data)) as z:  # xlsxwriter writes each formula in full ...
        sheet = z.read("xl/worksheets/sheet1.xml").decode()
    first = '<f t="shared" ref="D2:D4" si="0">UPPER(C2)&amp;$C$2</f>'
    for r in (2, 3, 4):  # ... so share it the way Excel does when a formula is filled down
        written = f"<f>UPPER(C{r})&amp;$C$2</f>"
        sheet = sheet.replace(written, first if r == 2 else '<f t="shared" si="0"/>')
    assert sheet.count('t="shared"') == 3
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(out, "w") as zout:
        for info in zin.infolist():
            member = sheet.encode() if info.filename == "xl/worksheets/sheet1.xml" else None
            zout.writestr(info, member or zin.read(info.filename))
    [batch] = read_file("products.xlsx", out.getvalue())
    assert batch.table["product_name"].to_pylist() == [
        "=UPPER(C2)&$C$2",
        "=UPPER(C3)&$C$2",
        "=UPPER(C4)&$C$2",
    ]


def test_instants_read_the_same_whatever_their_unit() -> None:
    import datetime as dt

    instants = [dt.datetime(2025, 4, 1, 10, 0, 33, 123000), dt.datetime(2025, 4, 1, 10, 0, 30)]
    texts = []
    for unit in ("ms", "us", "ns"):
        out = io.BytesIO()
        pq.write_table(pa.table({"order_timestamp": pa.array(instants, pa.timestamp(unit))}), out)
        [batch] = read_file("orders.parquet", out.getvalue())
        texts.append(batch.table["order_timestamp"].to_pylist())
    assert texts == [["2025-04-01T10:00:33.123", "2025-04-01T10:00:30"]] * 3


def test_poison_text_and_compressed_names_neither_stop_the_run_nor_the_next(
    tmp_path: Path,
) -> None:
    src = tmp_path / "in"
    src.mkdir()
    (src / "products.csv").write_text(PRODUCTS + "1,1,Books,Tea\n2,1,Books,Rice\n")
    poison = {
        "products_latin1.jsonl": latin1_jsonl(),
        "products_not_utf8.parquet": not_utf8_parquet(False),
        "products_unclosed.csv": (PRODUCTS + '5,1,Books,"Tray\n6,1,Books,Pan\n').encode(),
        "products.csv.gz": (PRODUCTS + "7,1,Books,Jam\n").encode(),  # not gzip at all
        "products_dump.csv.gz": gzip.compress(PRODUCTS.encode() + b"0" * (64 << 20), 9),
    }
    for name, data in poison.items():
        (src / name).write_bytes(data)
    assert len(poison["products_dump.csv.gz"]) < 100_000  # 64 MiB inflated

    lh = Lakehouse(tmp_path / "lake")
    summary = lh.run([src])
    assert summary.status == "SUCCEEDED", summary.error
    assert summary.files_loaded == ["in/products.csv"]
    assert summary.files_rejected == {f"in/{name}": ["unreadable_file"] for name in poison}
    assert lh.sql("SELECT product_id FROM silver.products ORDER BY 1")[
        "product_id"
    ].to_pylist() == [
        1,
        2,
    ]
    assert lh.sql("SELECT count(*) AS n FROM bronze.products")["n"].to_pylist() == [2]
    kept = tmp_path / "lake" / "quarantine" / "files" / summary.run_id / "in"
    for name, data in poison.items():
        assert (kept / name).read_bytes() == data  # kept as delivered, never decompressed
    detail = json.loads((kept / "products.csv.gz.reason.json").read_text())["detail"]
    assert detail.startswith("unknown file type")

    (src / "products.csv").write_text(PRODUCTS + "3,1,Books,Salt\n")
    again = lh.run([src / "products.csv"])
    assert again.status == "SUCCEEDED" and again.files_loaded == ["products.csv"]
    assert lh.sql("SELECT count(*) AS n FROM silver.products")["n"].to_pylist() == [3]


def test_a_file_the_run_may_not_read_is_rejected_and_the_others_load(tmp_path: Path) -> None:
    """A landed file without read permission failed every run (PermissionError) and kept the
    good files from loading. Run as a user without it (as root, the override capabilities
    dropped: the service account a deployment runs as)."""
    import os
    import shutil
    import subprocess
    import sys

    root = tmp_path / "lake"
    (root / "landing").mkdir(parents=True)
    (root / "landing" / "products.csv").write_text(PRODUCTS + "1,1,Books,Tea\n")
    secret = root / "landing" / "products_secret.csv"
    secret.write_text(PRODUCTS + "2,1,Books,Rice\n")
    secret.chmod(0)
    as_user: list[str] = []
    if os.geteuid() == 0:
        caps = "-dac_override,-dac_read_search"
        setpriv = shutil.which("setpriv")
        assert setpriv is not None, "util-linux's setpriv drops root's file capabilities"
        as_user = [setpriv, f"--bounding-set={caps}", f"--inh-caps={caps}"]
    cmd = [*as_user, sys.executable, "-m", "lakehouse", "run", "--root", str(root)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "rejected products_secret.csv: unreadable_file" in done.stdout
    lh = Lakehouse(root)
    assert lh.sql("SELECT product_id FROM silver.products")["product_id"].to_pylist() == [1]
    [record] = lh.sql(
        "SELECT sha256, status, detail FROM _ops.files WHERE file = 'products_secret.csv'"
    ).to_pylist()
    assert record == {
        "sha256": "",
        "status": "rejected",
        "detail": "the run may not read it: Permission denied",
    }
    assert not secret.exists()  # set aside in quarantine/files, not read again by every run
