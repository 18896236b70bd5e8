"""One writer per root, proven: a lock holder paused past `stale_seconds` and taken over makes
no commit when it resumes (fencing at commit time), and duplicate silver keys — from a writer
of before fencing — are repaired by the next run or by `lakehouse repair`, never left stuck."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from deltalake import DeltaTable, write_deltalake
from typer.testing import CliRunner

from lakehouse import Lakehouse
from lakehouse.cli import app
from lakehouse.orchestration import pipeline
from lakehouse.store.delta import open_table
from lakehouse.store.root import Root
from lakehouse.store.tables import list_tables
from test_orchestration import small_delivery

PRODUCTS = Path(__file__).parent / "scenarios" / "late_parent" / "input" / "run1" / "products.csv"
STALE_S = 2.0


def stopped(pid: int) -> bool:
    with open(f"/proc/{pid}/stat", "rb") as f:
        return f.read().rsplit(b")", 1)[1].split()[0] == b"T"


def commits_by_run(root: Root, run_id: str) -> dict[str, list[dict[str, object]]]:
    """Every table's commits that carry `run_id`."""
    found: dict[str, list[dict[str, object]]] = {}
    for name in list_tables(root):
        zone, table = name.split(".", 1)
        for c in open_table(root, zone, table).history():
            if c.get("lakehouse.run_id") == run_id:
                found.setdefault(name, []).append(c)
    return found


def silver_keys(root: Root) -> tuple[int, int]:
    t = open_table(root, "silver", "products").to_pyarrow_table(columns=["product_id"])
    return t.num_rows, len(pc.unique(t["product_id"]))


def paused_run(tmp_path: Path, point: str) -> tuple[Path, list[Path], subprocess.Popen[str]]:
    """A run of a small delivery stopped (SIGSTOP) at `point`, on a root whose lock goes stale
    after `STALE_S`: (root, delivery, process)."""
    root = tmp_path / "lake"
    root.mkdir()
    (root / "lakehouse.toml").write_text(
        f"[lock]\nstale_seconds = {STALE_S}\nheartbeat_seconds = 0.2\n"
    )
    delivery = small_delivery(tmp_path / "in")
    paused = subprocess.Popen(
        [sys.executable, "-m", "lakehouse", "run", "--root", str(root), "--no-summary",
         "--source", str(tmp_path / "in")],
        env={**os.environ, "LAKEHOUSE_PAUSE": point},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not stopped(paused.pid):
        if paused.poll() is not None or time.monotonic() > deadline:
            os.kill(paused.pid, signal.SIGKILL)
            raise AssertionError(f"the run never reached {point}: {paused.communicate()}")
        time.sleep(0.05)
    return root, delivery, paused


@pytest.mark.slow
@pytest.mark.parametrize(
    "point",
    [
        "before_silver_append:products",  # its snapshot of silver.products read, lease checked
        "before_gold_write:sales_daily",  # lease checked; the gold table does not exist yet
    ],
)
def test_a_paused_holder_that_was_taken_over_commits_nothing_when_it_resumes(
    tmp_path: Path, point: str
) -> None:
    root, delivery, paused = paused_run(tmp_path, point)
    try:
        # paused right before a commit, after its checks: another run waits for the lock to
        # go stale, takes over and processes the same landed files
        takeover = dt.datetime.now(dt.UTC)
        taker = pipeline.run(Root(root))
        assert taker.status == "SUCCEEDED"
        if point.startswith("before_silver_append"):
            assert taker.entities["products"].inserted == 1000
    finally:
        os.kill(paused.pid, signal.SIGCONT)
    _, err = paused.communicate(timeout=120)

    assert paused.returncode == 1, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("lakehouse: error: ") and "commits nothing more" in last, err
    lake = Root(root)
    runs = Lakehouse(root).sql("SELECT run_id, status, error FROM _ops.runs").to_pylist()
    [stalled] = [r for r in runs if r["run_id"] != taker.run_id]
    # zero commits by the resumed run after the takeover, in any table
    late = {
        table: [(c["version"], c["lakehouse.operation"]) for c in commits if _at(c) >= takeover]
        for table, commits in commits_by_run(lake, stalled["run_id"]).items()
    }
    assert {t: v for t, v in late.items() if v} == {}
    assert silver_keys(lake) == (1000, 1000)
    assert sorted(r["status"] for r in runs) == ["FAILED", "SUCCEEDED"]
    assert stalled["error"].startswith(f"abandoned: pid {paused.pid} ")
    # the storage refused it: every table carries the taker's fencing epoch
    fenced = {
        json.loads(c["lakehouse.writer_epoch"])
        for c in open_table(lake, "silver", "products").history()
        if c.get("lakehouse.operation") == "fence"
    }
    assert len(fenced) == 1
    assert sorted(p.name for p in (root / "archive").rglob("*.csv")) == sorted(
        p.name for p in delivery
    )
    # and the root goes on: the next run finds nothing new and succeeds
    assert pipeline.run(lake).status == "SUCCEEDED"


@pytest.mark.slow
def test_a_repair_that_takes_the_lock_over_fences_the_paused_run_too(tmp_path: Path) -> None:
    """Only a run stamped its epoch into the tables when it took a stale lock over: a run
    paused before its append, taken over by `lakehouse repair`, still committed its rows when it
    resumed (and then said it had lost the lock)."""
    root, _, paused = paused_run(tmp_path, "before_silver_append:products")
    try:
        takeover = dt.datetime.now(dt.UTC)
        repair = subprocess.run(
            [sys.executable, "-m", "lakehouse", "repair", "--root", str(root)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert repair.returncode == 0, repair.stderr
    finally:
        os.kill(paused.pid, signal.SIGCONT)
    _, err = paused.communicate(timeout=120)
    assert paused.returncode == 1 and "commits nothing more" in err, err
    lake = Root(root)
    [stalled] = Lakehouse(root).sql("SELECT run_id FROM _ops.runs").to_pylist()
    late = {
        table: [c["version"] for c in commits if _at(c) >= takeover]
        for table, commits in commits_by_run(lake, stalled["run_id"]).items()
    }
    assert {t: v for t, v in late.items() if v} == {}
    assert pipeline.run(lake).status == "SUCCEEDED"  # the files it left load now
    assert silver_keys(lake) == (1000, 1000)


def test_status_tells_a_stopped_run_from_a_killed_one(tmp_path: Path) -> None:
    """A run stopped past its lease on this host is alive, not abandoned: `status` says so and
    how to resume it; once the process is killed, the same run is ABANDONED."""

    def state() -> tuple[int, dict[str, object], str]:
        r = CliRunner().invoke(app, ["status", "--root", str(root), "--format", "json"])
        doc = json.loads(r.stdout)
        [run] = doc["runs"]
        return r.exit_code, run, doc["breaches"][0]

    root, _, paused = paused_run(tmp_path, "before_silver_append:products")
    try:
        time.sleep(STALE_S + 0.5)  # its lease ran out: a next run could take the lock over
        code, run, breach = state()
        assert (code, run["status"]) == (2, "STALLED")
        assert f"(pid {paused.pid} on " in breach and "is alive but stopped" in breach
        assert f"kill -CONT {paused.pid}" in breach
    finally:
        os.kill(paused.pid, signal.SIGKILL)
    paused.wait(timeout=60)
    code, run, breach = state()
    assert (code, run["status"]) == (2, "ABANDONED")
    assert "no live process runs it" in breach


def _at(commit: dict[str, object]) -> dt.datetime:
    ts = commit["timestamp"]
    assert isinstance(ts, int)
    return dt.datetime.fromtimestamp(ts / 1000, dt.UTC)


def craft_duplicates(root: Root, ids: list[int]) -> None:
    """What a writer of before fencing left: second, older rows for existing keys, appended
    straight to silver with delta-rs."""
    table = open_table(root, "silver", "products")
    rows = table.to_pyarrow_table(filters=[("product_id", "in", ids)])
    older = rows.set_column(
        rows.schema.get_field_index("product_name"),
        "product_name",
        pa.array([f"stale {i}" for i in rows["product_id"].to_pylist()]),
    ).set_column(
        rows.schema.get_field_index("_ingested_at"),
        "_ingested_at",
        pc.subtract(rows["_ingested_at"], pa.scalar(dt.timedelta(days=1))),
    )
    write_deltalake(table, older, mode="append")


def test_duplicate_keys_are_repaired_by_the_next_run_and_recorded(tmp_path: Path) -> None:
    lh = Lakehouse(tmp_path / "lake")
    assert lh.run([PRODUCTS]).status == "SUCCEEDED"
    total, _ = silver_keys(lh.root)
    craft_duplicates(lh.root, [1, 2, 3])
    assert silver_keys(lh.root) == (total + 3, total)
    changed = tmp_path / "products_fix.csv"
    lines = PRODUCTS.read_text().splitlines()
    assert lines[1].startswith("1,")
    changed.write_text("\n".join([lines[0], lines[1].replace("Product_1", "Renamed_1")]) + "\n")

    summary = lh.run([changed])

    assert summary.status == "SUCCEEDED"
    assert summary.entities["products"].updated == 1
    assert silver_keys(lh.root) == (total, total)
    names = lh.sql(
        "SELECT product_id, product_name FROM silver.products WHERE product_id <= 3 ORDER BY 1"
    ).to_pylist()
    assert [r["product_name"] for r in names] == [
        "Renamed_1_Store",
        *(p["product_name"] for p in _csv_rows(PRODUCTS)[1:3]),
    ]
    [repair] = [
        c
        for c in open_table(lh.root, "silver", "products").history()
        if c.get("lakehouse.operation") == "repair"
    ]
    assert repair["lakehouse.run_id"] == summary.run_id
    assert (repair["lakehouse.duplicate_keys"], repair["lakehouse.rows_removed"]) == ("3", "3")
    [shown] = [h for h in lh.history("silver.products") if h["step"] == "repair"]
    assert (shown["rows_added"], shown["rows_deleted"]) == (3, 3)  # it said 3 added, none gone


def test_lakehouse_repair_keeps_the_newest_row_of_each_key_and_says_what_it_removed(
    tmp_path: Path,
) -> None:
    from lakehouse.cli import app

    lh = Lakehouse(tmp_path / "lake")
    assert lh.run([PRODUCTS]).status == "SUCCEEDED"
    total, _ = silver_keys(lh.root)
    craft_duplicates(lh.root, [5, 7])
    before = DeltaTable(lh.root.table_uri("silver", "products")).version()

    out = CliRunner().invoke(app, ["repair", "--root", str(lh.root.uri)])

    assert out.exit_code == 0, out.output
    assert "silver.products: 2 duplicate keys, 2 rows removed" in out.output
    assert "silver.order_items" not in out.output  # absent tables are not mentioned
    assert silver_keys(lh.root) == (total, total)
    stale = lh.sql("SELECT count(*) AS n FROM silver.products WHERE product_name LIKE 'stale%'")
    assert stale.to_pylist() == [{"n": 0}]
    assert DeltaTable(lh.root.table_uri("silver", "products")).version() == before + 1
    again = CliRunner().invoke(app, ["repair", "--root", str(lh.root.uri)])
    assert again.exit_code == 0 and "no duplicate keys" in again.output


def _csv_rows(path: Path) -> list[dict[str, str]]:
    import csv

    with path.open() as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("written_by", [None, "this run"])
def test_duplicate_keys_are_found_alike_by_duckdb_and_by_pyarrow(
    tmp_path: Path, written_by: str | None
) -> None:
    """The check after each silver commit reads a local table with DuckDB's Parquet reader and
    any other with pyarrow: both find the same keys and counts, composite keys too."""
    from lakehouse.orchestration.repair import duplicate_keys

    path = str(tmp_path / "t")
    rows = pa.table(
        {
            "order_id": pa.array([1, 1, 2, 2, 2, 3, 4, 4], pa.int64()),
            "line": pa.array([1, 1, 1, 1, 1, 1, 1, 2], pa.int64()),
            "_run_id": ["old", "this run", "old", "old", "old", "this run", "old", "this run"],
        }
    )
    write_deltalake(path, rows)
    table = DeltaTable(path)
    for keys in (["order_id"], ["order_id", "line"]):
        order = [(k, "ascending") for k in keys]
        by_duckdb = duplicate_keys(table, path, keys, written_by).sort_by(order)
        by_pyarrow = duplicate_keys(table, None, keys, written_by).sort_by(order)
        assert by_duckdb.equals(by_pyarrow.cast(by_duckdb.schema)), keys
        expected = {
            (None, 1): {(1,): 2, (2,): 3, (4,): 2},
            ("this run", 1): {(1,): 2, (4,): 2},
            (None, 2): {(1, 1): 2, (2, 1): 3},
            ("this run", 2): {(1, 1): 2},
        }[(written_by, len(keys))]
        got = {tuple(r[k] for k in keys): r["n"] for r in by_duckdb.to_pylist()}
        assert got == expected


def test_the_check_after_a_first_load_reads_every_key(tmp_path: Path) -> None:
    """When the table holds no more rows than the run wrote, the check after its commit reads
    every key in one pass (`written_rows`); otherwise only the keys of the run's rows. Here the
    duplicates carry the first load's run id too, so the run's keys hold them either way; a run
    that wrote none of them finds them only by reading every key."""
    from lakehouse.contracts import contract_for
    from lakehouse.orchestration.repair import repair_entity, row_count

    lh = Lakehouse(tmp_path / "lake")
    assert lh.run([PRODUCTS]).status == "SUCCEEDED"
    total, _ = silver_keys(lh.root)
    craft_duplicates(lh.root, [4, 9])
    rows = row_count(open_table(lh.root, "silver", "products"))
    assert rows == total + 2
    contract = contract_for("products")
    untouched = repair_entity(lh.root, contract, "r", written_by="other", written_rows=total)
    assert (untouched.keys, untouched.version) == (0, None)  # the other run's keys: none
    whole = repair_entity(lh.root, contract, "r", written_by="other", written_rows=rows)
    assert (whole.keys, whole.rows_removed) == (2, 2)
    assert silver_keys(lh.root) == (total, total)
