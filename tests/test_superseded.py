"""A row waiting in quarantine that a later delivery of its key replaced stops waiting.

A line waits in quarantine for its order to agree. The supplier then sends the line again,
corrected, and it loads. Before, the old row kept waiting: when the order later came to agree
with it, it was released over the correction (same order time: the later row wins ties), and
the correction was in neither silver nor quarantine. Now the later delivery marks the rows it
replaced `superseded` when it arrives (by the batch's arrival order, never by clocks or
lineage): they stay in quarantine as records and are never released.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lakehouse import Lakehouse
from spark_fixtures import SPARK_MARKS, spark_session_fixture  # noqa: F401
from test_parent_changed import ITEM_HEADER, ORDER_HEADER

WHEN = "2025-04-01T09:30:00"
ORDER, LINE = 77, 500
PRODUCTS = "product_id,department_id,department,product_name,aisle,category,unit_price,attributes"
WAITS = "parent_mismatch:user_id"


class Supplier:
    """Files for one product, order `ORDER` and its line `LINE`, each in a folder of its own."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.n = folder, 0

    def _file(self, name: str, text: str, folder: str | None = None) -> Path:
        self.n += 1
        path = self.folder / (folder or f"d{self.n}") / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def products(self, *ids: int) -> Path:
        rows = "".join(f"{i},1,Books,p{i},,,1.00,\n" for i in ids or (1,))
        return self._file("products.csv", f"{PRODUCTS}\n{rows}")

    def order(self, user: int, status: str = "paid", folder: str | None = None) -> Path:
        """The order for `user` (`status` makes a re-send new bytes)."""
        row = f"1,{ORDER},{user},{WHEN},60.00,2025-04-01,card,USD,{status}"
        return self._file("orders.csv", f"{ORDER_HEADER}\n{row}\n", folder)

    def line(self, user: int, quantity: int, name: str = "order_items.csv", **kw: Any) -> Path:
        """The line for `user`, `quantity` of product 1 (`blank` adds an empty line: other bytes,
        the same row)."""
        when, product = kw.get("when", WHEN), kw.get("product", 1)
        row = f"{LINE},{ORDER},{user},,{product},1,0,{when},{when[:10]},{quantity},"
        blank = "\n" if kw.get("blank") else ""
        return self._file(name, f"{ITEM_HEADER}\n{row}\n{blank}", kw.get("folder"))


def lakehouse(folder: Path, *, chunked: bool = False) -> Lakehouse:
    """A lakehouse; `chunked`: each file a chunk of its own (waiting rows are re-checked with
    the first only, and the later chunks meet the earlier ones' rows in quarantine)."""
    folder.mkdir(parents=True)
    if chunked:
        (folder / "lakehouse.toml").write_text("[pipeline]\nchunk_rows = 1\n")
    return Lakehouse(folder)


def silver_line(lh: Lakehouse) -> list[tuple[int, int]]:
    rows = lh.sql(f"SELECT user_id, quantity FROM silver.order_items WHERE id = {LINE}")
    return [(r["user_id"], r["quantity"]) for r in rows.to_pylist()]


def held(lh: Lakehouse) -> list[tuple[str, str, list[str]]]:
    """(user, quantity, reasons) of each quarantined version of `LINE`, by quantity."""
    rows = lh.sql(
        "SELECT user_id, quantity, _reasons FROM quarantine.order_items "
        f"WHERE id = '{LINE}' ORDER BY quantity, _reasons"
    )
    return [(r["user_id"], r["quantity"], r["_reasons"]) for r in rows.to_pylist()]


def outcome(s: Any) -> tuple[int, int]:
    items = s.entities["order_items"]
    return items.released, items.superseded


def waiting_correction(tmp_path: Path) -> tuple[Lakehouse, Supplier]:
    """The line sent for customer 7 while its order says 8 (it waits), then sent again for 8
    with quantity 5: it loads, and the first row stops waiting."""
    make = Supplier(tmp_path / "files")
    lh = Lakehouse(tmp_path / "lake")
    assert lh.run([make.products(), make.order(8)]).status == "SUCCEEDED"
    assert lh.run([make.line(7, 1)]).entities["order_items"].quarantined == 1
    s = lh.run([make.line(8, 5)])
    assert (s.entities["order_items"].inserted, outcome(s)) == (1, (0, 1))
    assert silver_line(lh) == [(8, 5)]
    assert held(lh) == [("7", "1", [WAITS, "superseded"])]
    return lh, make


def test_a_correction_is_not_overwritten_by_the_row_it_replaced(tmp_path: Path) -> None:
    """The order then goes back to customer 7: the old row agrees with it, but it was
    replaced; the correction (now disagreeing) waits in quarantine, the old row is a record."""
    lh, make = waiting_correction(tmp_path)
    s = lh.run([make.order(7, status="shipped")])
    assert (outcome(s), s.entities["order_items"].rows_rechecked) == ((0, 0), 0)
    assert s.requarantined == {"order_items": 1}  # the correction disagrees with its order now
    assert silver_line(lh) == []
    assert held(lh) == [("7", "1", [WAITS, "superseded"]), ("8", "5", [WAITS])]
    # the order back to customer 8: the correction returns, the replaced row stays a record
    s = lh.run([make.order(8, status="delivered")])
    assert outcome(s) == (1, 0)
    assert silver_line(lh) == [(8, 5)]
    assert held(lh) == [("7", "1", [WAITS, "superseded"])]
    [details] = lh.sql(
        "SELECT details FROM _ops.runs WHERE rows_in > 0 ORDER BY started_at LIMIT 1 OFFSET 2"
    )["details"].to_pylist()
    assert '"superseded": 1' in details  # the run that brought the correction


@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize("order_first", [False, True])
def test_two_copies_in_one_run_the_later_one_wins(
    tmp_path: Path, order_first: bool, chunked: bool
) -> None:
    """Two files of one run with the line, the later one its correction. Their order comes
    after them (both wait) or before: the correction is in silver either way. Before, both
    waiting copies were "released" and the earlier file won by its hash."""
    make = Supplier(tmp_path / "files")
    lh = lakehouse(tmp_path / "lake", chunked=chunked)
    first = [make.products(), make.order(7)] if order_first else [make.products()]
    assert lh.run(first).status == "SUCCEEDED"
    copies = [make.line(7, 1, "order_items_a.csv", folder="r"), make.line(7, 99, folder="r")]
    s = lh.run(copies)
    assert s.files_loaded == ["order_items_a.csv", "order_items.csv"]  # by arrival
    if not order_first:
        assert outcome(s) == (0, 1)
        assert held(lh) == [
            ("7", "1", ["orphan:order_id", "superseded"]),
            ("7", "99", ["orphan:order_id"]),
        ]
        assert outcome(lh.run([make.order(7)])) == (1, 0)
    assert silver_line(lh) == [(7, 99)]
    assert [r[2] for r in held(lh)] == ([] if order_first else [["orphan:order_id", "superseded"]])


@pytest.mark.parametrize("chunked", [False, True])
def test_a_later_copy_in_the_same_run_is_never_lost(tmp_path: Path, chunked: bool) -> None:
    """The earlier copy waits, the later loads; then the order agrees with the earlier copy,
    then with the later again. Before, the earlier was released over the later, which was lost
    once the order changed back."""
    make = Supplier(tmp_path / "files")
    lh = lakehouse(tmp_path / "lake", chunked=chunked)
    lh.run([make.products(), make.order(7)])
    s = lh.run([make.line(8, 1, "order_items_a.csv", folder="r"), make.line(7, 5, folder="r")])
    assert outcome(s) == (0, 1)
    assert outcome(lh.run([make.order(8, "shipped")])) == (0, 0)
    assert silver_line(lh) == []
    assert outcome(lh.run([make.order(7, "delivered")])) == (1, 0)
    assert silver_line(lh) == [(7, 5)]
    assert held(lh) == [("8", "1", [WAITS, "superseded"])]


def test_an_unchanged_copy_sent_again_is_a_later_delivery(tmp_path: Path) -> None:
    """The line as silver holds it, sent again after a copy that waits: it changes nothing in
    silver (its lineage stays the first file's), but it replaces the waiting copy."""
    make = Supplier(tmp_path / "files")
    lh = Lakehouse(tmp_path / "lake")
    lh.run([make.products(), make.order(7)])
    lh.run([make.line(7, 5)])
    assert lh.run([make.line(8, 1)]).entities["order_items"].quarantined == 1
    s = lh.run([make.line(7, 5, blank=True)])
    assert (s.entities["order_items"].unchanged, outcome(s)) == (1, (0, 1))
    lh.run([make.order(8, "shipped")])  # agrees with the replaced copy: it stays a record
    assert lh.run([make.order(7, "delivered")]).entities["order_items"].released == 1
    assert silver_line(lh) == [(7, 5)]


def test_chunks_end_as_one_piece(tmp_path: Path) -> None:
    """The same runs with `chunk_rows = 1` (each file a chunk: the waiting rows are re-checked
    with the first only) and without: the same rows in silver and in quarantine."""
    ends = []
    for chunked in (False, True):
        lh = lakehouse(tmp_path / f"chunked_{chunked}", chunked=chunked)
        make = Supplier(tmp_path / f"files_{chunked}")
        lh.run([make.products(), make.order(7)])
        lh.run([make.line(7, 5)])
        lh.run([make.line(8, 1)])  # waits
        # one run: a change, then the line back as silver held it (a later file, other bytes)
        last = make.line(7, 5, "order_items_b.csv", folder="r", blank=True)
        s = lh.run([make.line(7, 9, "order_items_a.csv", folder="r"), last])
        assert outcome(s) == (0, 1)
        lh.run([make.order(8, "shipped")])
        ends.append((silver_line(lh), held(lh)))
    assert ends[0] == ends[1] == ([], [("8", "1", [WAITS, "superseded"]), ("7", "5", [WAITS])])


def test_a_run_killed_between_silver_and_quarantine_converges(tmp_path: Path) -> None:
    """The waiting line and its correction meet in one run, killed after its silver commit and
    before quarantine's: the next run ends where the run would have."""
    ends = []
    for killed in (False, True):
        make = Supplier(tmp_path / f"files_{killed}")
        lh = Lakehouse(tmp_path / f"lake_{killed}")
        lh.run([make.products()])
        lh.run([make.line(7, 1)])  # its order is not there yet: it waits
        files = [make.order(7, folder="r"), make.line(7, 5, "order_items_b.csv", folder="r")]
        if killed:
            paths = [str(f) for f in files]
            code = f"from lakehouse import Lakehouse; Lakehouse({lh.root.uri!r}).run({paths!r})"
            env = {**os.environ, "LAKEHOUSE_FAULT": "between_silver_and_quarantine:order_items"}
            assert subprocess.run([sys.executable, "-c", code], env=env).returncode != 0
            files = []  # the next run takes them from landing/
        s = lh.run(files)
        ends.append((outcome(s), silver_line(lh), held(lh)))
    assert ends[0] == ends[1] == ((0, 1), [(7, 5)], [("7", "1", ["superseded"])])


def test_a_row_moved_back_from_silver_is_superseded_by_a_later_copy_waiting(
    tmp_path: Path,
) -> None:
    """The line loads; a later copy of it waits for its product. The order then changes: the
    gold step's re-check moves the first copy back to quarantine, where the later one waits.
    Before, both were released together once product and order agreed, ranked by clocks and
    file hashes: the earlier copy won and the later one was in neither table."""
    make = Supplier(tmp_path / "files")
    lh = Lakehouse(tmp_path / "lake")
    lh.run([make.products(1), make.order(7)])
    lh.run(
        [make.line(7, 1, "order_items_a.csv", folder="r"), make.line(7, 2, product=2, folder="r")]
    )
    assert (silver_line(lh), held(lh)) == ([(7, 1)], [("7", "2", ["orphan:product_id"])])
    assert lh.run([make.order(9, "shipped")]).requarantined == {"order_items": 1}
    assert held(lh) == [
        ("7", "1", [WAITS, "superseded"]),
        ("7", "2", [WAITS, "orphan:product_id"]),
    ]
    s = lh.run([make.products(1, 2), make.order(7, "delivered")])
    assert outcome(s) == (1, 0)
    assert silver_line(lh) == [(7, 2)]


def test_a_parent_correction_before_or_with_a_later_copy_ends_alike(tmp_path: Path) -> None:
    """The order changes under a line in silver, and a later copy of the line (waiting: it
    names a third customer) comes in the next run, in the same run, or in the next run after
    a run killed before its gold step (where silver's line goes back to quarantine). Before,
    the last two left the first copy waiting, and it was released when the order came back."""
    ends = []
    for way in ("runs", "one run", "killed"):
        make = Supplier(tmp_path / f"files_{way}")
        lh = Lakehouse(tmp_path / f"lake_{way}")
        lh.run([make.products(), make.order(7)])
        lh.run([make.line(7, 1)])
        moved, later = make.order(8, "shipped"), make.line(9, 5)
        if way == "runs":
            lh.run([moved])
            lh.run([later])
        elif way == "one run":
            lh.run([moved, later])
        else:
            code = (
                f"from lakehouse import Lakehouse; Lakehouse({lh.root.uri!r}).run([{str(moved)!r}])"
            )
            env = {**os.environ, "LAKEHOUSE_FAULT": "after_silver:order_items"}
            assert subprocess.run([sys.executable, "-c", code], env=env).returncode != 0
            lh.run([later])  # the order file is taken from landing/ too
        lh.run([make.order(7, "delivered")])  # agrees with the first copy, not the later
        ends.append((silver_line(lh), held(lh)))
    first = ("7", "1", [WAITS, "superseded"])
    assert ends == [([], [first, ("9", "5", [WAITS])])] * 3


def test_a_clock_stepping_back_loses_nothing(tmp_path: Path) -> None:
    """The correction loads in a run whose clock is 30 minutes behind the run before (NTP, a
    second host): it is still the later delivery."""
    make = Supplier(tmp_path / "files")
    lh = Lakehouse(tmp_path / "lake")
    now = dt.datetime.now(dt.UTC)
    lh.run([make.products(), make.order(8)], now=now - dt.timedelta(hours=3))
    lh.run([make.line(7, 1)], now=now - dt.timedelta(hours=1))
    assert outcome(lh.run([make.line(8, 5)], now=now - dt.timedelta(minutes=90))) == (0, 1)
    lh.run([make.order(7, "shipped")], now=now - dt.timedelta(minutes=50))
    lh.run([make.order(8, "delivered")], now=now - dt.timedelta(minutes=40))
    assert silver_line(lh) == [(8, 5)]
    assert held(lh) == [("7", "1", [WAITS, "superseded"])]


def test_a_row_newer_than_silver_still_waits_and_is_released(tmp_path: Path) -> None:
    """The other way round: silver holds the older delivery, the waiting row is the newer
    one. It is not superseded; it is released when its order agrees."""
    make = Supplier(tmp_path / "files")
    lh = Lakehouse(tmp_path / "lake")
    assert lh.run([make.products(), make.order(7), make.line(7, 1)]).status == "SUCCEEDED"
    s = lh.run([make.line(8, 5)])
    assert (s.entities["order_items"].quarantined, silver_line(lh)) == (1, [(7, 1)])
    assert outcome(lh.run([make.order(8, status="shipped")])) == (1, 0)
    assert silver_line(lh) == [(8, 5)]
    assert held(lh) == []


def test_a_waiting_row_older_than_silver_stops_waiting(tmp_path: Path) -> None:
    """A copy with an older order time than silver's could never replace it (the newest time
    wins): the next run's re-check marks it, whenever silver's row came."""
    make = Supplier(tmp_path / "files")
    lh = Lakehouse(tmp_path / "lake")
    lh.run([make.products(), make.order(7), make.line(7, 5)])
    s = lh.run([make.line(7, 1, when="2025-04-01T08:00:00")])
    assert (s.entities["order_items"].quarantined, outcome(s)) == (1, (0, 0))
    s = lh.run([make.order(7, "shipped")])
    assert (outcome(s), s.entities["order_items"].rows_rechecked) == ((0, 1), 0)
    moved = ["parent_mismatch:order_timestamp", "superseded"]
    assert (silver_line(lh), held(lh)) == ([(7, 5)], [("7", "1", moved)])


@SPARK_MARKS[0]
@SPARK_MARKS[1]
@pytest.mark.usefixtures("spark")
def test_spark_marks_the_replaced_rows_too(tmp_path: Path) -> None:
    """Silver's newer row (the first chunk's check) and a later copy in the batch, on Spark."""
    make = Supplier(tmp_path / "files")
    lh = Lakehouse(tmp_path / "lake")
    lh.run([make.products(), make.order(8)])
    lh.run([make.line(7, 1)])  # waits
    copies = [make.line(7, 2, "order_items_a.csv", folder="r"), make.line(8, 5, folder="r")]
    s = lh.run(copies, engine="spark")
    assert outcome(s) == (0, 2)
    assert silver_line(lh) == [(8, 5)]
    assert [r[2] for r in held(lh)] == [[WAITS, "superseded"], [WAITS, "superseded"]]
    # the gold step's re-check on Spark: the line goes back, no later copy of it waits
    s = lh.run([make.order(7, "shipped")], engine="spark")
    assert (s.requarantined, silver_line(lh)) == ({"order_items": 1}, [])
    assert ("8", "5", [WAITS]) in held(lh)
