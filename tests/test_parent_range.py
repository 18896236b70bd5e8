"""Lines look up only the orders within their batch's range of order ids (`parent_rows_sql`):
the range is computed from the batch's text exactly as validation types it, so no line that
has its parent is called an orphan. The extremes of each batch are the hard cases: a padded
id ('\u00a07\u3000'), a signed or zero-padded one ('+150', '0200'), a line waiting in quarantine
since an earlier run (the batch's greatest id), a typed Parquet id, and a real orphan."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import DeltaTable

from lakehouse import Lakehouse

NOW = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
T0 = dt.datetime(2025, 4, 1, 8)
ITEMS_HEADER = (
    "id,order_id,user_id,days_since_prior_order,product_id,add_to_cart_order,reordered,"
    "order_timestamp,date,quantity,unit_price\n"
)


def order(o: int) -> tuple[int, dt.datetime]:
    """(user, time) of order `o`."""
    return o % 7 + 1, T0 + dt.timedelta(minutes=o)


def orders_csv(ids: range | list[int]) -> str:
    lines = ["order_num,order_id,user_id,order_timestamp,total_amount,date"]
    for o in ids:
        user, at = order(o)
        lines.append(f"1,{o},{user},{at:%Y-%m-%dT%H:%M:%S},10.00,{at:%Y-%m-%d}")
    return "\n".join(lines) + "\n"


def item(line_id: int, order_text: str, o: int) -> str:
    """A line of order `o` whose order_id is written as `order_text`."""
    user, at = order(o)
    return f"{line_id},{order_text},{user},3,1,1,0,{at:%Y-%m-%dT%H:%M:%S},{at:%Y-%m-%d},1,2.50\n"


def deliver(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def reasons(root: Path) -> dict[int, list[str]]:
    rows = DeltaTable(str(root / "quarantine" / "order_items")).to_pyarrow_table().to_pylist()
    return {int(r["id"]): sorted(r["_reasons"]) for r in rows}


def silver_lines(root: Path) -> set[int]:
    t = DeltaTable(str(root / "silver" / "order_items")).to_pyarrow_table(columns=["id"])
    return set(t["id"].to_pylist())


def test_lines_find_their_orders_at_the_edges_of_their_batch_s_range(tmp_path: Path) -> None:
    lake = Lakehouse(tmp_path / "lake")
    first = deliver(
        tmp_path / "run1",
        {
            "products.csv": "product_id,department_id,department,product_name\n1,1,Books,A\n",
            "orders.csv": orders_csv([o for o in range(1, 301) if o != 250]),
            "order_items.csv": ITEMS_HEADER
            + "".join(item(o, str(o), o) for o in range(1, 301) if o != 250)
            + item(1000, "1000", 1000),  # its order comes in run 2: it waits in quarantine
        },
    )
    s1 = lake.run([first], now=NOW)
    assert s1.entities["order_items"].quarantined == 1
    assert reasons(tmp_path / "lake") == {1000: ["orphan:order_id"]}

    second = deliver(
        tmp_path / "run2",
        {
            "orders.csv": orders_csv([301, 1000]),
            "order_items.csv": ITEMS_HEADER
            + item(2001, "\u00a07\u3000", 7)  # the batch's least id, padded with Unicode spaces
            + item(2002, "+150", 150)
            + item(2003, "0200", 200)
            + item(2004, "250", 250)  # no such order
            + item(2005, "301", 301),  # the greatest id of the new lines; the waiting line's is
        },
    )
    s2 = lake.run([second], now=NOW)
    items = s2.entities["order_items"]
    assert (items.rows_in, items.rows_rechecked, items.released) == (5, 1, 1)
    assert (items.valid, items.quarantined) == (5, 1)
    assert reasons(tmp_path / "lake") == {2004: ["orphan:order_id"]}
    assert {1000, 2001, 2002, 2003, 2005} <= silver_lines(tmp_path / "lake")

    third = tmp_path / "run3"
    third.mkdir()
    users, stamps = zip(*(order(o) for o in (2, 299)), strict=True)
    pq.write_table(  # typed ids: validation casts them (`Batch.canonical`), the range too
        pa.table(
            {
                "id": pa.array([3001, 3002], pa.int64()),
                "order_id": pa.array([2, 299], pa.int64()),
                "user_id": pa.array(users, pa.int64()),
                "days_since_prior_order": pa.array([3, 3], pa.int64()),
                "product_id": pa.array([1, 1], pa.int64()),
                "add_to_cart_order": pa.array([1, 1], pa.int64()),
                "reordered": pa.array([0, 0], pa.int64()),
                "order_timestamp": [f"{t:%Y-%m-%dT%H:%M:%S}" for t in stamps],
                "date": [f"{t:%Y-%m-%d}" for t in stamps],
                "quantity": pa.array([1, 1], pa.int64()),
                "unit_price": pa.array([Decimal("2.50")] * 2, pa.decimal128(12, 2)),
            }
        ),
        third / "order_items.parquet",
    )
    s3 = lake.run([third], now=NOW)
    items = s3.entities["order_items"]  # line 2004 waits still: re-checked, still an orphan
    assert (items.rows_in, items.rows_rechecked, items.valid, items.quarantined) == (2, 1, 2, 1)
    assert {3001, 3002} <= silver_lines(tmp_path / "lake")
