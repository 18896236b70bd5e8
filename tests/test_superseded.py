"""A row waiting in quarantine that a later delivery of its key replaced stops waiting.

A line waits in quarantine for its order to agree. The supplier then sends the line again,
corrected, and it loads. Before, the old row kept waiting: when the order later came to agree
with it, it was released over the correction (same order time: the later row wins ties), and
the correction was in neither silver nor quarantine. Now a waiting row whose key silver holds
from a later delivery (or with a newer recency) is `superseded`: it stays in quarantine as a
record, with that reason added, and is never released.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lakehouse import Lakehouse
from spark_fixtures import SPARK_MARKS, spark_session_fixture  # noqa: F401
from test_gold_pipeline import generated_days
from test_parent_changed import ITEM_HEADER, ORDER, ORDER_HEADER

WHEN = "2025-04-01T09:30:00"
LINE = 900011


@pytest.fixture(scope="module")
def days(tmp_path_factory: pytest.TempPathFactory) -> list[list[Path]]:
    return generated_days(tmp_path_factory.mktemp("gen"), orders=400, products=40, days=3, seed=5)


def order(folder: Path, user: int, status: str = "paid") -> Path:
    """Order `ORDER` at `WHEN` for `user` (`status` makes a re-send new bytes)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"orders_{folder.name}.csv"
    path.write_text(f"{ORDER_HEADER}\n1,{ORDER},{user},{WHEN},60.00,2025-04-01,card,USD,{status}\n")
    return path


def line(folder: Path, user: int, quantity: int) -> Path:
    """Line `LINE` of `ORDER` at `WHEN` for `user`, `quantity` of product 1."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"order_items_{folder.name}.csv"
    row = f"{LINE},{ORDER},{user},,1,1,0,{WHEN},2025-04-01,{quantity},"
    path.write_text(f"{ITEM_HEADER}\n{row}\n")
    return path


def another_order(folder: Path, order_id: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "orders.csv"
    path.write_text(f"{ORDER_HEADER}\n1,{order_id},3,{WHEN},10.00,2025-04-01,card,USD,paid\n")
    return path


def silver_line(lh: Lakehouse) -> list[tuple[int, int]]:
    rows = lh.sql(f"SELECT user_id, quantity FROM silver.order_items WHERE id = {LINE}")
    return [(r["user_id"], r["quantity"]) for r in rows.to_pylist()]


def held(lh: Lakehouse) -> list[tuple[str, str, list[str]]]:
    """(user, quantity, reasons) of each quarantined version of `LINE`, by quantity."""
    rows = lh.sql(
        "SELECT user_id, quantity, _reasons FROM quarantine.order_items "
        f"WHERE id = '{LINE}' ORDER BY quantity"
    )
    return [(r["user_id"], r["quantity"], r["_reasons"]) for r in rows.to_pylist()]


def waiting_correction(days: list[list[Path]], tmp_path: Path) -> Lakehouse:
    """The line sent for customer 7 while its order says 8 (it waits), then sent again for 8
    with quantity 5 (it loads)."""
    lh = Lakehouse(tmp_path / "lake")
    assert lh.run([p for d in days for p in d] + [order(tmp_path / "o1", 8)]).status == "SUCCEEDED"
    s = lh.run([line(tmp_path / "l1", 7, 1)])
    assert s.entities["order_items"].quarantined == 1
    assert lh.run([line(tmp_path / "l2", 8, 5)]).entities["order_items"].inserted == 1
    assert silver_line(lh) == [(8, 5)]
    return lh


def test_a_correction_is_not_overwritten_by_the_row_it_replaced(
    days: list[list[Path]], tmp_path: Path
) -> None:
    """The order then goes back to customer 7: the old row agrees with it, but it was
    replaced; the correction (now disagreeing) waits in quarantine, the old row is a record."""
    lh = waiting_correction(days, tmp_path)
    s = lh.run([order(tmp_path / "o2", 7, status="shipped")])
    items = s.entities["order_items"]
    assert (items.released, items.superseded, items.rows_rechecked) == (0, 1, 0)
    assert s.requarantined == {"order_items": 1}  # the correction disagrees with its order now
    assert silver_line(lh) == []
    assert held(lh) == [
        ("7", "1", ["parent_mismatch:user_id", "superseded"]),
        ("8", "5", ["parent_mismatch:user_id"]),
    ]
    # the order back to customer 8: the correction returns, the replaced row stays a record
    s = lh.run([order(tmp_path / "o3", 8, status="delivered")])
    assert (s.entities["order_items"].released, s.entities["order_items"].superseded) == (1, 0)
    assert silver_line(lh) == [(8, 5)]
    assert held(lh) == [("7", "1", ["parent_mismatch:user_id", "superseded"])]


def test_a_replaced_row_stops_waiting_on_the_next_run(
    days: list[list[Path]], tmp_path: Path
) -> None:
    """The next run that loads anything (a run with nothing landed skips silver) marks it,
    once: it is not re-checked (nor counted) again."""
    lh = waiting_correction(days, tmp_path)
    assert held(lh) == [("7", "1", ["parent_mismatch:user_id"])]
    first, second = (
        lh.run([another_order(tmp_path / f"other{n}", ORDER + 1 + n)]).entities["order_items"]
        for n in range(2)
    )
    assert (first.superseded, first.rows_rechecked) == (1, 0)
    assert (second.superseded, second.rows_rechecked) == (0, 0)
    assert held(lh) == [("7", "1", ["parent_mismatch:user_id", "superseded"])]
    assert silver_line(lh) == [(8, 5)]
    [row] = lh.sql("SELECT details FROM _ops.runs ORDER BY started_at DESC LIMIT 1 OFFSET 1")[
        "details"
    ].to_pylist()
    assert '"superseded": 1' in row


def test_a_row_newer_than_silver_still_waits_and_is_released(
    days: list[list[Path]], tmp_path: Path
) -> None:
    """The other way round: silver holds the older delivery, the waiting row is the newer
    one. It is not superseded; it is released when its order agrees."""
    lh = Lakehouse(tmp_path / "lake")
    first = [order(tmp_path / "o1", 7), line(tmp_path / "l1", 7, 1)]
    assert lh.run([p for d in days for p in d] + first).status == "SUCCEEDED"
    s = lh.run([line(tmp_path / "l2", 8, 5)])
    assert (s.entities["order_items"].quarantined, silver_line(lh)) == (1, [(7, 1)])
    s = lh.run([order(tmp_path / "o2", 8, status="shipped")])
    items: Any = s.entities["order_items"]
    assert (items.released, items.superseded) == (1, 0)
    assert silver_line(lh) == [(8, 5)]
    assert held(lh) == []


@SPARK_MARKS[0]
@SPARK_MARKS[1]
@pytest.mark.usefixtures("spark")
def test_spark_marks_the_replaced_row_too(days: list[list[Path]], tmp_path: Path) -> None:
    lh = waiting_correction(days, tmp_path)
    s = lh.run([order(tmp_path / "o2", 7, status="shipped")], engine="spark")
    assert (s.entities["order_items"].released, s.entities["order_items"].superseded) == (0, 1)
    assert silver_line(lh) == []
    assert [r[2] for r in held(lh)] == [
        ["parent_mismatch:user_id", "superseded"],
        ["parent_mismatch:user_id"],
    ]
