"""A quarantined row keeps the text it came with, cell for cell: rows at the same row number in
two sheets of one workbook and in another file, and rows re-checked while they wait for a
parent. (Validation keeps no text; quarantine joins it back from the batch by file, sheet and
row, so a wrong join shows here as another row's text.)"""

from __future__ import annotations

from pathlib import Path

import xlsxwriter

from lakehouse import Lakehouse
from lakehouse.contracts import load_contracts

ITEMS = load_contracts()["order_items"].names
T10, DAY = "2025-05-01T10:00:00Z", "2025-05-01"
# sheet -> rows (spreadsheet row 2, 3, ...); values in contract column order
SHEETS = {
    "d1": [
        ["1", "10", "7", "", "1", "1", "0", T10, DAY, "2", "3.50"],  # waits for order 10
        ["2", "10", "7", "", "1", "2", "0", T10, DAY, "two", "3.50"],  # bad quantity
    ],
    "d2": [
        ["3", "11", "8", "", "1", "1", "0", "2025-05-01T11:00:00Z", DAY, " 4 ", "1.25"],  # waits
        ["4", "10", "7", "", "1", "3", "1", T10, DAY, "1", "abc"],  # bad price
    ],
}
LATER = ["5", "10", "7", "", "1", "4", "0", T10, DAY, "-1", "0.50"]  # out of range, run 2


def _workbook(path: Path) -> Path:
    book = xlsxwriter.Workbook(str(path))
    for name, rows in SHEETS.items():
        sheet = book.add_worksheet(name)
        for c, header in enumerate(ITEMS):
            sheet.write_string(0, c, header)
        for r, row in enumerate(rows, start=1):
            for c, value in enumerate(row):
                if value:
                    sheet.write_string(r, c, value)
    book.close()
    return path


def _csv(path: Path, header: str, *rows: list[str]) -> Path:
    path.write_text(header + "\n" + "".join(",".join(r) + "\n" for r in rows))
    return path


def _quarantined(lh: Lakehouse) -> dict[tuple[str, str, int], list[str]]:
    rows = lh.sql("SELECT * FROM quarantine.order_items").to_pylist()
    return {(r["_source_file"], r["_sheet"], r["_row"]): [r[c] for c in ITEMS] for r in rows}


def test_quarantined_rows_keep_their_own_text_across_sheets_files_and_rechecks(
    tmp_path: Path,
) -> None:
    source = tmp_path / "in"
    source.mkdir()
    products = _csv(
        source / "products.csv",
        "product_id,department_id,department,product_name",
        ["1", "1", "d", "p"],
    )
    book = _workbook(source / "order_items_book.xlsx")
    lh = Lakehouse(tmp_path / "lake")
    assert lh.run([products, book]).status == "SUCCEEDED"
    assert _quarantined(lh) == {
        ("order_items_book.xlsx", sheet, i + 2): row
        for sheet, rows in SHEETS.items()
        for i, row in enumerate(rows)
    }

    later = tmp_path / "later"
    later.mkdir()
    orders = _csv(
        later / "orders.csv",
        "order_num,order_id,user_id,order_timestamp,total_amount,date",
        ["1", "10", "7", T10, "7.00", DAY],
    )
    items = _csv(later / "order_items_more.csv", ",".join(ITEMS), LATER)
    assert lh.run([orders, items]).status == "SUCCEEDED"
    released = SHEETS["d1"][0]  # its order arrived: in silver, out of quarantine
    assert lh.sql("SELECT id FROM silver.order_items").to_pylist() == [{"id": int(released[0])}]
    assert _quarantined(lh) == {
        ("order_items_book.xlsx", "d1", 3): SHEETS["d1"][1],
        ("order_items_book.xlsx", "d2", 2): SHEETS["d2"][0],
        ("order_items_book.xlsx", "d2", 3): SHEETS["d2"][1],
        ("order_items_more.csv", "", 2): LATER,
    }
