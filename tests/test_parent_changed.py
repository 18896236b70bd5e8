"""A parent corrected without all its children: the children that no longer agree leave silver.

An order moved to another day with only some of its lines sent again left the other lines in
silver on the old day, disagreeing with their order (which validation refuses on arrival), and
gold's date-sliced refreshes then drifted from a rebuild. Those lines now go back to quarantine
with `parent_mismatch` reasons and their original text, and come back when the order agrees.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
import shutil
import signal
from pathlib import Path
from typing import Any

import pytest

from conftest import business_rows
from lakehouse import Lakehouse
from lakehouse.contracts import load_contracts
from lakehouse.engines import create_engine, recheck
from lakehouse.engines.base import RunContext
from lakehouse.errors import TerminalError
from lakehouse.gold.builds import builds
from lakehouse.orchestration.definition import pipeline_definition
from lakehouse.orchestration.pipeline import copy_sources, run
from spark_fixtures import SPARK_MARKS, spark_session_fixture  # noqa: F401
from test_crash_recovery import cli
from test_gold_pipeline import assert_gold_equal, generated_days

ORDER = 90001
LINES = (900011, 900012, 900013)
MOVED_REASONS = ["parent_mismatch:order_timestamp", "parent_mismatch:date"]
ORDER_HEADER = "order_num,order_id,user_id,order_timestamp,total_amount,date,payment_method,"
ORDER_HEADER += "currency,status"
ITEM_HEADER = "id,order_id,user_id,days_since_prior_order,product_id,add_to_cart_order,"
ITEM_HEADER += "reordered,order_timestamp,date,quantity,unit_price"


def deliver(
    folder: Path, when: str, lines: tuple[int, ...], *, user: int = 7, status: str = "paid"
) -> list[Path]:
    """Order `ORDER` placed at `when` by `user` with `lines` (unpriced: they share the order's
    total, so a line on the wrong day changes revenue), as an orders and an order items file."""
    folder.mkdir(parents=True, exist_ok=True)
    day = when[:10]
    orders, items = folder / f"orders_{folder.name}.csv", folder / f"order_items_{folder.name}.csv"
    orders.write_text(f"{ORDER_HEADER}\n1,{ORDER},{user},{when},60.00,{day},card,USD,{status}\n")
    rows = [
        f"{line},{ORDER},{user},,{n + 1},{n + 1},0,{when},{day},{n + 1},"
        for n, line in enumerate(lines)
    ]
    items.write_text("\n".join([ITEM_HEADER, *rows]) + "\n")
    return [orders, items]


def other_order_fixed(days: list[list[Path]], folder: Path) -> Path:
    """The first day's first order with another payment method: a run touching that day only."""
    [source] = [p for p in days[1] if p.name.startswith("orders")]
    with source.open(newline="") as f:
        header, first = list(csv.reader(f))[:2]
    first[header.index("payment_method")] = "paypal"
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / "orders_payment_fix.csv"
    with out.open("w", newline="") as f:
        csv.writer(f).writerows([header, first])
    return out


@pytest.fixture(scope="module")
def days(tmp_path_factory: pytest.TempPathFactory) -> list[list[Path]]:
    return generated_days(tmp_path_factory.mktemp("gen"), orders=400, products=40, days=3, seed=5)


def lines_in_silver(lh: Lakehouse) -> list[tuple[int, str]]:
    rows = lh.sql(
        "SELECT id, CAST(date AS VARCHAR) AS d FROM silver.order_items "
        f"WHERE order_id = {ORDER} ORDER BY id"
    )
    return [(r["id"], r["d"]) for r in rows.to_pylist()]


def disagreeing_lines(lh: Lakehouse) -> int:
    """Silver lines whose customer, time or day is not their order's: none, ever."""
    [n] = lh.sql(
        "SELECT count(*) AS n FROM silver.order_items AS i "
        "JOIN silver.orders AS o USING (order_id) "
        "WHERE i.date <> o.date OR i.order_timestamp <> o.order_timestamp "
        "OR i.user_id <> o.user_id"
    )["n"].to_pylist()
    return int(n)


def rebuilt(lh: Lakehouse, tmp_path: Path, runs: list[list[Path]]) -> Lakehouse:
    """The same deliveries into a new lakehouse, its gold then rebuilt from silver alone."""
    full = Lakehouse(tmp_path / "full")
    for files in runs:
        assert full.run(files, refresh="all").status == "SUCCEEDED"
    shutil.rmtree(full.root.path("gold"))
    shutil.rmtree(full.root.path("_ops", "gold_builds"))
    assert full.run([], refresh="all").status == "SUCCEEDED"
    return full


def held_lines(lh: Lakehouse) -> list[dict[str, Any]]:
    return lh.sql(
        "SELECT id, date, order_timestamp, _reasons, _source_file, _row FROM "
        f"quarantine.order_items WHERE order_id = '{ORDER}' ORDER BY id"
    ).to_pylist()


def lines_not_sent_again(first: list[Path]) -> list[dict[str, Any]]:
    """The quarantine rows of `first`'s lines 2 and 3 after their order moved without them."""
    return [
        {
            "id": str(line),
            "date": "2025-04-01",  # the text the source sent
            "order_timestamp": "2025-04-01T09:30:00",
            "_reasons": MOVED_REASONS,
            "_source_file": first[1].name,
            "_row": n + 2,
        }
        for n, line in enumerate(LINES)
        if line != LINES[0]
    ]


def test_lines_not_sent_again_go_back_to_quarantine_and_gold_equals_a_rebuild(
    days: list[list[Path]], tmp_path: Path
) -> None:
    """An order moved a day later with one of its three lines sent again, then a run that
    refreshes the first day alone (which drifted: `product_days` revenue off by 20.00)."""
    first = deliver(tmp_path / "first", "2025-04-01T09:30:00", LINES)
    moved = deliver(tmp_path / "moved", "2025-04-02T09:30:00", LINES[:1])
    later = [other_order_fixed(days, tmp_path / "later")]  # refreshes 2025-04-01 alone
    runs = [[p for d in days for p in d] + first, moved, later]
    lh = Lakehouse(tmp_path / "inc")
    assert lh.run(runs[0]).status == "SUCCEEDED"
    s = lh.run(moved)
    assert s.status == "SUCCEEDED"
    assert s.requarantined == {"order_items": 2}
    assert lines_in_silver(lh) == [(LINES[0], "2025-04-02")]
    assert disagreeing_lines(lh) == 0
    assert held_lines(lh) == lines_not_sent_again(first)
    assert lh.run(later, refresh="all").status == "SUCCEEDED"  # and every budget model
    assert_gold_equal(lh, rebuilt(lh, tmp_path, runs))


@SPARK_MARKS[0]
@SPARK_MARKS[1]
@pytest.mark.usefixtures("spark")
def test_spark_takes_the_same_lines_out(days: list[list[Path]], tmp_path: Path) -> None:
    """The re-check on the spark engine (its reads of silver and bronze, its MERGEs), over the
    silver a local run left when its gold step (where the re-check runs) failed."""
    first = deliver(tmp_path / "first", "2025-04-01T09:30:00", LINES)
    lh = Lakehouse(tmp_path / "lake")
    assert lh.run([p for d in days for p in d] + first).status == "SUCCEEDED"
    copy_sources(lh.root, deliver(tmp_path / "moved", "2025-04-02T09:30:00", LINES[:1]))

    def gold_down(state: Any, **params: Any) -> None:
        raise TerminalError("gold down (test)")

    with pytest.raises(TerminalError):
        run(lh.root, definition=pipeline_definition().replace_task("gold", fn=gold_down))
    assert disagreeing_lines(lh) == 2
    spark = create_engine("spark", lh.root)
    try:
        now = dt.datetime.now(dt.UTC)
        ctx = RunContext("spark", now, (), frozenset())
        got = spark.recheck_children(load_contracts(), ctx, builds(lh.root))
    finally:
        spark.close()
    assert got.moved == {"order_items": 2}
    assert lines_in_silver(lh) == [(LINES[0], "2025-04-02")]
    assert (disagreeing_lines(lh), held_lines(lh)) == (0, lines_not_sent_again(first))


def test_the_lines_come_back_when_their_order_agrees_again(
    days: list[list[Path]], tmp_path: Path
) -> None:
    """The order given to another customer and back (an older order time would be ignored as
    an older delivery, so a customer correction is what can go back)."""
    first = deliver(tmp_path / "first", "2025-04-01T09:30:00", LINES)
    lh = Lakehouse(tmp_path / "lake")
    assert lh.run([p for d in days for p in d] + first).status == "SUCCEEDED"
    [orders, _] = deliver(tmp_path / "moved", "2025-04-01T09:30:00", (), user=8)
    assert lh.run([orders]).requarantined == {"order_items": 3}
    assert lines_in_silver(lh) == []
    reasons = lh.sql("SELECT DISTINCT _reasons FROM quarantine.order_items")["_reasons"]
    assert reasons.to_pylist() == [["parent_mismatch:user_id"]]
    # not the first file's bytes again (those would be a duplicate, loading nothing)
    [back, _] = deliver(tmp_path / "back", "2025-04-01T09:30:00", (), status="shipped")
    s = lh.run([back])
    assert (s.entities["order_items"].released, s.requarantined) == (3, {})
    assert lines_in_silver(lh) == [(line, "2025-04-01") for line in LINES]
    [n] = lh.sql("SELECT count(*) AS n FROM quarantine.order_items")["n"].to_pylist()
    assert n == 0


def test_an_order_restored_to_an_older_version_takes_out_lines_sent_since(
    days: list[list[Path]], tmp_path: Path
) -> None:
    """A RESTORE says nothing in the change feed about which orders changed: every line is
    checked against its order, and the line sent for the later day leaves silver."""
    first = deliver(tmp_path / "first", "2025-04-01T09:30:00", LINES)
    lh = Lakehouse(tmp_path / "lake")
    assert lh.run([p for d in days for p in d] + first).status == "SUCCEEDED"
    before = next(t.version for t in lh.tables() if t.name == "silver.orders")
    moved = deliver(tmp_path / "moved", "2025-04-02T09:30:00", LINES)
    assert lh.run(moved).requarantined == {}  # every line came with its order
    lh.restore("silver.orders", before)
    s = lh.run([])
    assert s.requarantined == {"order_items": 3}
    assert lines_in_silver(lh) == []
    assert disagreeing_lines(lh) == 0


def test_lines_whose_order_a_restore_took_away_go_back_to_quarantine_as_orphans(
    days: list[list[Path]], tmp_path: Path
) -> None:
    """`restore silver.orders` to a version before a day's orders left that day's lines in
    silver without their order (gold then disagreed with itself)."""
    lh = Lakehouse(tmp_path / "lake")
    assert lh.run([p for d in days[:2] for p in d]).status == "SUCCEEDED"
    before = next(t.version for t in lh.tables() if t.name == "silver.orders")
    assert lh.run(days[2]).status == "SUCCEEDED"
    later = lh.sql(
        "SELECT count(*) AS n FROM silver.order_items WHERE date = "
        "(SELECT max(date) FROM silver.order_items)"
    )["n"].to_pylist()[0]
    lh.restore("silver.orders", before)
    s = lh.run([])
    assert s.requarantined == {"order_items": later}
    [gone] = lh.sql(
        "SELECT count(*) AS n FROM silver.order_items WHERE order_id NOT IN "
        "(SELECT order_id FROM silver.orders)"
    )["n"].to_pylist()
    assert gone == 0
    reasons = lh.sql("SELECT DISTINCT _reasons FROM quarantine.order_items")["_reasons"]
    assert ["orphan:order_id"] in reasons.to_pylist()


def test_a_lakehouse_that_already_holds_such_lines_is_healed_by_a_gold_rebuild(
    days: list[list[Path]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lines left behind before this check existed (simulated: the check finding nothing) are
    found once `_ops/gold_builds` is deleted: with no build to start from, every line is
    checked."""
    first = deliver(tmp_path / "first", "2025-04-01T09:30:00", LINES)
    lh = Lakehouse(tmp_path / "lake")
    assert lh.run([p for d in days for p in d] + first).status == "SUCCEEDED"
    with monkeypatch.context() as m:
        m.setattr(recheck, "restated_parents", lambda *_: recheck.NOTHING)
        moved = deliver(tmp_path / "moved", "2025-04-02T09:30:00", LINES[:1])
        assert lh.run(moved).requarantined == {}
    assert disagreeing_lines(lh) == 2
    shutil.rmtree(lh.root.path("gold"))
    shutil.rmtree(lh.root.path("_ops", "gold_builds"))
    assert lh.run([]).requarantined == {"order_items": 2}
    assert disagreeing_lines(lh) == 0
    assert lines_in_silver(lh) == [(LINES[0], "2025-04-02")]


def corrections(
    rnd: random.Random,
    folder: Path,
    k: int,
    orders: dict[int, dict[str, Any]],
    lines: dict[int, list[int]],
    sent: set[int],
) -> list[Path]:
    """Run `k`'s files: 1-3 orders moved later or given to another customer, each with a random
    part of its lines sent again (some of those with the order's old values)."""
    picked = []
    for o in rnd.sample(sorted(orders), rnd.randint(1, 3)):
        old = dict(orders[o])
        if rnd.random() < 0.5:
            later = dt.timedelta(days=rnd.choice([0, 1]), minutes=rnd.randint(1, 30))
            orders[o]["ts"] = orders[o]["ts"] + later
        else:
            orders[o]["user"] = rnd.choice([7, 8, 9])
        some = [line for line in lines[o] if rnd.random() < 0.5]
        picked.append((o, some, {line: old for line in some if rnd.random() < 0.2}))
    return write_orders(folder / f"r{k}", picked, orders, sent)


def write_orders(
    folder: Path,
    picked: list[tuple[int, list[int], dict[int, dict[str, Any]]]],
    orders: dict[int, dict[str, Any]],
    sent: set[int],
) -> list[Path]:
    folder.mkdir(parents=True)
    order_rows, item_rows = [ORDER_HEADER], [ITEM_HEADER]
    for o, some, stale in picked:
        v = orders[o]
        order_rows.append(
            f"1,{o},{v['user']},{v['ts']:%Y-%m-%dT%H:%M:%S},{50 + o % 7}.00,"
            f"{v['ts']:%Y-%m-%d},card,USD,paid"
        )
        for n, line in enumerate(some):
            w, price = stale.get(line, v), "" if line % 2 else "3.50"
            item_rows.append(
                f"{line},{o},{w['user']},,{n + 1},{n + 1},0,{w['ts']:%Y-%m-%dT%H:%M:%S},"
                f"{w['ts']:%Y-%m-%d},1,{price}"
            )
            sent.add(line)
    out = [folder / "orders.csv", folder / "order_items.csv"]
    for path, rows in zip(out, (order_rows, item_rows), strict=True):
        path.write_text("\n".join(rows) + "\n")
    return out


def every_line_kept(lh: Lakehouse, sent: set[int]) -> bool:
    """Every line ever sent is in silver or in quarantine."""
    silver = lh.sql("SELECT id FROM silver.order_items")["id"].to_pylist()
    held = lh.sql("SELECT id FROM quarantine.order_items")["id"].to_pylist()
    return sent <= set(silver) | {int(x) for x in held}


@pytest.mark.parametrize("seed", [3])
def test_random_corrections_keep_every_line_agreeing_kept_and_gold_equal_to_a_rebuild(
    seed: int, days: list[list[Path]], tmp_path: Path
) -> None:
    rnd = random.Random(seed)
    start = dt.datetime(2025, 4, 1, 9)
    orders = {
        o: {"user": 7, "ts": start + dt.timedelta(minutes=o % 100)} for o in range(ORDER, ORDER + 5)
    }
    lines = {o: [o * 10 + i for i in range(rnd.randint(1, 4))] for o in orders}
    sent: set[int] = set()
    first = write_orders(tmp_path / "r0", [(o, lines[o], {}) for o in orders], orders, sent)
    runs = [[p for d in days for p in d] + first]
    lh = Lakehouse(tmp_path / "inc")
    assert lh.run(runs[0]).status == "SUCCEEDED"
    for k in range(1, 7):
        runs.append(corrections(rnd, tmp_path, k, orders, lines, sent))
        assert lh.run(runs[-1], refresh="all" if k == 6 else "due").status == "SUCCEEDED"
        assert (disagreeing_lines(lh), every_line_kept(lh, sent)) == (0, True), k
    assert_gold_equal(lh, rebuilt(lh, tmp_path, runs))


def sources(files: list[Path]) -> list[str]:
    return [a for f in files for a in ("--source", str(f))]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("point", "landing_emptied"),
    [
        ("after_silver:order_items", False),
        # the files taken away before the next run: it has nothing to load, and still checks
        ("after_silver:order_items", True),
        ("between_recheck_quarantine_and_silver:order_items", False),
    ],
)
def test_a_run_killed_before_the_lines_left_silver_is_converged(
    point: str, landing_emptied: bool, days: list[list[Path]], tmp_path: Path
) -> None:
    start = [p for d in days for p in d] + deliver(tmp_path / "a", "2025-04-01T09:30:00", LINES)
    moved = deliver(tmp_path / "moved", "2025-04-02T09:30:00", LINES[:1])
    whole, root = tmp_path / "clean", tmp_path / "lake"
    for files in (start, moved):
        assert cli(whole, *sources(files)).returncode == 0
    assert cli(root, *sources(start)).returncode == 0
    killed = cli(root, *sources(moved), fault=point)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    if landing_emptied:
        shutil.rmtree(root / "landing")
    assert cli(root).returncode == 0
    lh, clean = Lakehouse(root), Lakehouse(whole)
    for table in ("silver.order_items", "quarantine.order_items", "silver.orders"):
        assert business_rows(lh, table).equals(business_rows(clean, table)), table
    assert lines_in_silver(lh) == [(LINES[0], "2025-04-02")]
