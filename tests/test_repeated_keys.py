"""Keys repeated across the files of one run: silver keeps the newest row of each, and the run
counts exactly what it inserted, updated and left (the valid rows are a view over the checked
rows, and their count follows from the repeated keys: `engines.flow._merge_silver`).

The expectation is computed here in Python, independently of the SQL: per key, the newest
`order_timestamp` wins, then the later file of the run."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pyarrow as pa
from deltalake import DeltaTable

from lakehouse import Lakehouse
from lakehouse.contracts import contract_for
from lakehouse.engines.sql import newest_per_key_sql, repeated_keys_sql
from lakehouse.store.query import new_connection

HEADER = "order_num,order_id,user_id,order_timestamp,total_amount,date,payment_method\n"
T0 = dt.datetime(2025, 4, 1, 8)
NOW = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)

Row = tuple[int, int, dt.datetime, str]  # order_id, user_id, order_timestamp, total_amount


def files(folder: Path, seed: int, keys: range, n_files: int, rows: int) -> list[list[Row]]:
    """`n_files` orders CSVs in `folder` (named in delivery order), each of `rows` orders drawn
    from `keys`: most keys come in several files, at distinct times (no tie to break)."""
    rng = random.Random(seed)
    folder.mkdir(parents=True)
    used: set[tuple[int, dt.datetime]] = set()
    out = []
    for n in range(n_files):
        part: list[Row] = []
        for order_id in rng.sample(keys, rows):
            when = T0 + dt.timedelta(minutes=rng.randrange(10_000))
            while (order_id, when) in used:
                when += dt.timedelta(seconds=1)
            used.add((order_id, when))
            amount = f"{rng.randrange(100, 99_999) / 100:.2f}"
            part.append((order_id, order_id % 7 + 1, when, amount))
        lines = [
            f"1,{o},{u},{t:%Y-%m-%dT%H:%M:%S},{amount},{t:%Y-%m-%d},card\n"
            for o, u, t, amount in part
        ]
        (folder / f"orders_{n}.csv").write_text(HEADER + "".join(lines))
        out.append(part)
    return out


def newest(parts: list[list[Row]]) -> dict[int, tuple[dt.datetime, str]]:
    best: dict[int, tuple[dt.datetime, int, str]] = {}
    for seq, part in enumerate(parts):
        for order_id, _, when, amount in part:
            if order_id not in best or (when, seq) > best[order_id][:2]:
                best[order_id] = (when, seq, amount)
    return {k: (w, a) for k, (w, _, a) in best.items()}


def silver_orders(root: Path) -> dict[int, tuple[dt.datetime, str]]:
    t = DeltaTable(str(root / "silver" / "orders")).to_pyarrow_table(
        columns=["order_id", "order_timestamp", "total_amount"]
    )
    assert t.num_rows == len(set(t["order_id"].to_pylist()))  # one row per key
    return {
        r["order_id"]: (r["order_timestamp"].replace(tzinfo=None), f"{r['total_amount']:.2f}")
        for r in t.to_pylist()
    }


def test_a_first_load_keeps_the_newest_row_of_each_key_and_counts_it_once(
    tmp_path: Path,
) -> None:
    parts = files(tmp_path / "first", seed=1, keys=range(1, 301), n_files=4, rows=200)
    s = Lakehouse(tmp_path / "lake").run([tmp_path / "first"], now=NOW)
    expected = newest(parts)
    assert silver_orders(tmp_path / "lake") == expected
    orders = s.entities["orders"]
    assert (orders.rows_in, orders.valid, orders.quarantined) == (800, 800, 0)
    assert (orders.inserted, orders.updated) == (len(expected), 0)
    assert orders.unchanged == 800 - len(expected)


def test_a_later_run_counts_new_and_changed_keys_among_repeats(tmp_path: Path) -> None:
    """Run 2's three files repeat keys among themselves and of run 1, and bring new ones."""
    first = files(tmp_path / "first", seed=2, keys=range(1, 201), n_files=2, rows=150)
    lake = Lakehouse(tmp_path / "lake")
    lake.run([tmp_path / "first"], now=NOW)
    before = newest(first)
    second = files(tmp_path / "second", seed=3, keys=range(101, 401), n_files=3, rows=120)
    s = lake.run([tmp_path / "second"], now=NOW)
    after = newest(second)
    expected = {**before, **{k: v for k, v in after.items() if k not in before or v > before[k]}}
    assert silver_orders(tmp_path / "lake") == expected
    orders = s.entities["orders"]
    new = [k for k in after if k not in before]
    changed = [k for k in after if k in before and after[k] > before[k]]
    assert (orders.valid, orders.inserted, orders.updated) == (360, len(new), len(changed))
    assert orders.unchanged == 360 - len(new) - len(changed)


def test_a_view_over_the_kept_repeated_keys_gives_the_rows_of_the_whole_statement() -> None:
    """`newest_per_key_sql` given the repeated keys as a relation gives the same rows as
    grouping them itself; `__n` counts each repeated key's rows."""
    contract = contract_for("orders")
    rng = random.Random(4)
    rows = pa.table(
        {
            "order_id": [rng.randrange(1, 60) for _ in range(200)],
            "user_id": list(range(200)),  # tells the rows apart
            "order_timestamp": [T0 + dt.timedelta(minutes=i) for i in range(200)],
            "_seq": [rng.randrange(3) for _ in range(200)],
            "_ingested_at": [T0] * 200,
            "_file_sha256": ["a" * 64] * 200,
        }
    )
    columns = ["order_id", "user_id", "order_timestamp"]
    con = new_connection()
    try:
        con.register("v", rows)
        con.execute(f"CREATE TEMP TABLE r AS {repeated_keys_sql(contract, 'SELECT * FROM v')}")
        kept = con.sql(newest_per_key_sql(contract, "SELECT * FROM v", columns, repeated="r"))
        whole = con.sql(newest_per_key_sql(contract, "SELECT * FROM v", columns))
        got, want = kept.to_arrow_table(), whole.to_arrow_table()
        [(extra,)] = con.execute("SELECT sum(__n - 1) FROM r").fetchall()
    finally:
        con.close()
    assert sorted(got.to_pylist(), key=str) == sorted(want.to_pylist(), key=str)
    distinct = len(set(rows["order_id"].to_pylist()))
    assert got.num_rows == distinct == 200 - extra
