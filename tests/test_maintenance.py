"""Optimize and vacuum on the local engine (issue 10 acceptance): after 200 small appends,
optimize keeps every row, reduces the files to the target, keeps old versions readable until
vacuum retention passes, and never disturbs a reader holding an older snapshot."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from lakehouse import Lakehouse
from lakehouse.contracts import contract_for
from lakehouse.contracts.loader import packaged_contracts
from lakehouse.errors import TerminalError
from lakehouse.maintenance import (
    MaintenanceSettings,
    RetentionRefused,
    optimize_table,
    optimize_tables,
    plan_for,
    table_health,
    vacuum_table,
    vacuum_tables,
)
from lakehouse.store import zones
from lakehouse.store.delta import CDF, ensure_table
from lakehouse.store.query import connect
from lakehouse.store.root import Root

TABLE = "silver.order_items"
DATES = [dt.date(2025, 4, 1) + dt.timedelta(days=d) for d in range(4)]
APPENDS = 200
ROWS_PER_APPEND = 40
ZORDER = ("product_id", "order_id")  # what contracts/order_items.toml will declare
# small enough that 200 appends are "small files", big enough for one file per partition
SETTINGS = MaintenanceSettings(target_file_size=4 * 1024 * 1024, min_small_files=5)


def silver_items(n: int, *, seed: int, first_id: int = 1, day: int | None = None) -> pa.Table:
    """`n` silver-shaped order lines on DATES[day] (default: spread over DATES), valid values
    and lineage filled in."""
    contract = contract_for("order_items")
    rng = np.random.default_rng(seed)
    ids = np.arange(first_id, first_id + n, dtype=np.int64)
    day = rng.integers(0, len(DATES), n) if day is None else np.full(n, day)
    dates = pa.array([DATES[i] for i in day], pa.date32())
    seconds = rng.integers(0, 86_400, n)
    epoch = np.array([(DATES[i] - dt.date(1970, 1, 1)).days * 86_400 for i in day])
    ts = pa.array((epoch + seconds) * 1_000_000, pa.int64()).cast(zones.TS)
    columns = {
        "id": ids,
        "order_id": ids // 4 + 1,
        "user_id": rng.integers(1, 300, n),
        "days_since_prior_order": pa.nulls(n, pa.int64()),
        "product_id": rng.integers(1, 500, n),
        "add_to_cart_order": ids % 4 + 1,
        "reordered": rng.integers(0, 2, n),
        "order_timestamp": ts,
        "date": dates,
        "quantity": rng.integers(1, 5, n),
        "unit_price": pa.array(np.round(rng.uniform(1, 50, n), 2)).cast(pa.decimal128(12, 2)),
        "_source_file": pa.array([f"items-{seed}.csv"] * n),
        "_sheet": pa.array([""] * n),
        "_row": ids - first_id + 2,
        "_file_sha256": pa.array([f"{seed:064x}"] * n),
        "_run_id": pa.array([f"run-{seed}"] * n),
        "_ingested_at": pa.array([dt.datetime(2025, 4, 5, tzinfo=dt.UTC)] * n, zones.TS),
    }
    return pa.table(columns).cast(zones.silver_schema(contract))


def build_small_file_table(root: Root, appends: int = APPENDS, days: int = len(DATES)) -> None:
    """A silver.order_items table written by `appends` small appends in time order over the
    first `days` DATES (one new file per append)."""
    contract = contract_for("order_items")
    table = ensure_table(
        root,
        "silver",
        "order_items",
        zones.silver_schema(contract),
        partition_by=contract.partition_by,
        configuration=CDF,
    )
    for i in range(appends):  # batches in time order, like a day of small deliveries
        day = i * days // appends
        batch = silver_items(ROWS_PER_APPEND, seed=i, first_id=1 + i * ROWS_PER_APPEND, day=day)
        write_deltalake(table, batch, mode="append")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("small_files") / "lake"
    build_small_file_table(Root(base))
    return base


@pytest.fixture
def lake(template: Path, tmp_path: Path) -> Lakehouse:
    shutil.copytree(template, tmp_path / "lake")
    return Lakehouse(tmp_path / "lake")


def rows(lh: Lakehouse, as_of: int | None = None) -> pa.Table:
    """The table's contents (every column), sorted by the key: compared row by row."""
    table = DeltaTable(lh.root.table_uri("silver", "order_items"), version=as_of)
    return table.to_pyarrow_table().sort_by("id")


def live_files(lh: Lakehouse) -> int:
    return len(DeltaTable(lh.root.table_uri("silver", "order_items")).file_uris())


def test_optimize_keeps_every_row_and_reduces_files_to_the_target(lake: Lakehouse) -> None:
    before = rows(lake)
    files_before = live_files(lake)
    assert before.num_rows == APPENDS * ROWS_PER_APPEND
    assert files_before == APPENDS  # one small file per append

    r = optimize_table(lake.root, TABLE, run_id="test-run", settings=SETTINGS, zorder=ZORDER)

    assert rows(lake).equals(before)  # identical, row by row (every column, lineage included)
    assert r.files_before == files_before
    assert r.files_after == live_files(lake) == len(DATES)  # each partition under the target
    assert r.files_removed == files_before
    assert r.zorder_by == ZORDER
    assert len(r.versions) == 1  # one ordinary Delta commit for all partitions
    commit = DeltaTable(lake.root.table_uri("silver", "order_items")).history(1)[0]
    assert commit["operation"] == "OPTIMIZE"
    assert commit["lakehouse.run_id"] == "test-run"
    assert commit["lakehouse.zorder_by"] == '["product_id", "order_id"]'


def test_optimize_twice_does_nothing_the_second_time(lake: Lakehouse) -> None:
    optimize_table(lake.root, TABLE, run_id="a", settings=SETTINGS, zorder=ZORDER)
    version = lake.tables()[0].version
    again = optimize_table(lake.root, TABLE, run_id="b", settings=SETTINGS, zorder=ZORDER)
    assert again.skipped and again.partitions == []
    assert lake.tables()[0].version == version


def test_only_partitions_with_many_small_files_are_rewritten(lake: Lakehouse) -> None:
    optimize_table(lake.root, TABLE, run_id="a", settings=SETTINGS, zorder=ZORDER)
    table = DeltaTable(lake.root.table_uri("silver", "order_items"))
    for i in range(6):  # six new small files in one partition only
        batch = silver_items(10, seed=1000 + i, first_id=10**6 + i * 10, day=0)
        write_deltalake(table, batch, mode="append")
    plan = plan_for(lake.root, TABLE, settings=SETTINGS, zorder=ZORDER)
    assert [p.label for p in plan.partitions] == [f"date={DATES[0]}"]
    r = optimize_table(lake.root, TABLE, run_id="b", settings=SETTINGS, zorder=ZORDER)
    assert r.partitions == [f"date={DATES[0]}"]
    assert r.files_after == len(DATES)


def test_time_travel_reads_pre_optimize_versions_until_retention_passes(lake: Lakehouse) -> None:
    before = rows(lake)
    pre = lake.tables()[0].version
    optimize_table(lake.root, TABLE, run_id="opt", settings=SETTINGS, zorder=ZORDER)

    # within retention: vacuum deletes nothing and the old version still reads
    kept = vacuum_table(lake.root, TABLE, run_id="vac", settings=SETTINGS)
    assert kept.files_removed == 0 and kept.bytes_removed == 0
    assert rows(lake, as_of=pre).equals(before)
    q = f"SELECT * FROM {TABLE} ORDER BY id"
    assert lake.sql(q, as_of=pre).equals(lake.sql(q))  # `lakehouse sql --as-of` too

    # retention passed (simulated: delta-rs uses the wall clock, so retention 0 stands in for
    # "the compacted files were removed more than the retention ago")
    gone = vacuum_table(
        lake.root, TABLE, run_id="vac2", settings=SETTINGS, retention_hours=0, force=True
    )
    assert gone.files_removed == APPENDS  # every small file the optimize replaced
    assert gone.bytes_removed > 0
    assert rows(lake).equals(before)  # the current version is whole
    with pytest.raises(Exception, match=r"(?i)not found|no such file"):
        rows(lake, as_of=pre)


def test_vacuum_below_the_time_travel_promise_is_refused(lake: Lakehouse) -> None:
    optimize_table(lake.root, TABLE, run_id="opt", settings=SETTINGS, zorder=ZORDER)
    files = sorted(p.name for p in Path(lake.root.uri).rglob("*.parquet"))
    with pytest.raises(RetentionRefused, match="168 h"):
        vacuum_table(lake.root, TABLE, run_id="v", settings=SETTINGS, retention_hours=24)
    with pytest.raises(RetentionRefused):
        vacuum_tables(lake.root, [TABLE], retention_hours=0)
    # a configured retention is held to the same promise where it is set (it failed every
    # run's maintenance step, after the run's data was in)
    with pytest.raises(TerminalError, match="retention_hours = 1 is refused; must be between 168"):
        MaintenanceSettings(retention_hours=1)
    assert sorted(p.name for p in Path(lake.root.uri).rglob("*.parquet")) == files


def test_dry_run_counts_without_deleting(lake: Lakehouse) -> None:
    optimize_table(lake.root, TABLE, run_id="opt", settings=SETTINGS, zorder=ZORDER)
    data = sorted(Path(lake.root.uri).glob("silver/order_items/date=*/*.parquet"))
    dry = vacuum_table(
        lake.root, TABLE, run_id="v", settings=SETTINGS, retention_hours=0, force=True, dry_run=True
    )
    assert dry.files_removed == len(data) - len(DATES)
    assert dry.bytes_removed == sum(p.stat().st_size for p in data) - sum(
        a["size_bytes"]
        for a in pa.table(
            DeltaTable(lake.root.table_uri("silver", "order_items")).get_add_actions()
        ).to_pylist()
    )
    assert sorted(Path(lake.root.uri).glob("silver/order_items/date=*/*.parquet")) == data


def test_a_reader_holding_an_old_snapshot_completes_during_optimize(lake: Lakehouse) -> None:
    uri = lake.root.table_uri("silver", "order_items")
    expected = rows(lake)
    old = DeltaTable(uri)  # loaded before optimize
    batches = old.to_pyarrow_dataset().to_batches(batch_size=100)
    first = [next(batches) for _ in range(3)]  # the read is under way ...
    con = connect(lake.root, [TABLE])

    optimize_table(lake.root, TABLE, run_id="opt", settings=SETTINGS, zorder=ZORDER)

    rest = list(batches)  # ... and completes on the files of its snapshot
    seen = pa.Table.from_batches(first + rest).sort_by("id")
    assert seen.equals(expected)
    # a query connection opened before optimize still answers from its snapshot
    assert con.execute(f"SELECT count(*) FROM {TABLE}").fetchone() == (expected.num_rows,)
    assert old.version() < DeltaTable(uri).version()


def test_optimize_all_tables_uses_the_contract_zorder(lake: Lakehouse, tmp_path: Path) -> None:
    contracts = tmp_path / "contracts"
    shutil.copytree(
        str(packaged_contracts()), contracts, ignore=shutil.ignore_patterns("*.py", "__py*")
    )
    toml = contracts / "order_items.toml"  # the shipped contract says ["product_id"]
    text = "\n".join(
        'zorder = ["product_id", "order_id"]' if line.startswith("zorder =") else line
        for line in toml.read_text().splitlines()
    )
    toml.write_text(text + "\n")
    results = optimize_tables(
        lake.root, settings=SETTINGS, contracts_dir=str(contracts), run_id="all-1"
    )
    assert [(r.table, r.zorder_by) for r in results] == [(TABLE, ZORDER)]
    health = table_health(lake.root, TABLE, SETTINGS)
    assert health["zorder_by"] == list(ZORDER)
    assert health["files"] == len(DATES)
    assert health["last_optimize"]["run_id"] == "all-1"
    logged = lake.sql('SELECT "table", action, files_after FROM _ops.maintenance').to_pylist()
    assert logged == [{"table": TABLE, "action": "optimize", "files_after": len(DATES)}]


def test_table_health(lake: Lakehouse) -> None:
    h = table_health(lake.root, TABLE, SETTINGS)
    assert h["files"] == APPENDS and h["last_optimize"] is None and h["zorder_by"] == []
    assert h["partitions"] == len(DATES) and h["partitions_needing_optimize"] == len(DATES)
    optimize_table(lake.root, TABLE, run_id="opt-1", settings=SETTINGS, zorder=ZORDER)
    vacuum_table(lake.root, TABLE, run_id="vac-1", settings=SETTINGS, retention_hours=0, force=True)
    h = table_health(lake.root, TABLE, SETTINGS)
    assert h["files"] == len(DATES)
    assert h["avg_file_bytes"] == h["size_bytes"] // len(DATES)
    assert h["version"] == h["versions_retained"] - 1
    assert h["last_optimize"]["run_id"] == "opt-1"
    assert h["last_vacuum"]["run_id"] == "vac-1"
    assert h["last_vacuum"]["metrics"]["numDeletedFiles"] >= APPENDS
    # a vacuum with nothing to delete commits nothing to the table: `describe` said "never"
    vacuum_tables(lake.root, [TABLE])  # 168 h: nothing is that old
    again = table_health(lake.root, TABLE, SETTINGS)["last_vacuum"]
    assert again["operation"] == "VACUUM (nothing to delete)"
    assert again["timestamp"] > h["last_vacuum"]["timestamp"]
    assert h["zorder_by"] == list(ZORDER)
    assert h["partitions_needing_optimize"] == 0


def test_full_vacuum_removes_files_no_version_references(lake: Lakehouse) -> None:
    base = Path(lake.root.uri) / "silver" / "order_items"
    stray = base / f"date={DATES[0]}" / "part-left-by-a-failed-write.parquet"
    stray.write_bytes(b"x" * 100)
    old = dt.datetime.now().timestamp() - 10 * 86_400  # older than the retention
    os.utime(stray, (old, old))
    lite = vacuum_table(lake.root, TABLE, run_id="v", settings=SETTINGS, dry_run=True)
    assert lite.files_removed == 0  # the log does not know the file
    full = vacuum_table(lake.root, TABLE, run_id="v", settings=SETTINGS, full=True)
    assert (full.files_removed, full.bytes_removed) == (1, 100)
    assert not stray.exists() and rows(lake).num_rows == APPENDS * ROWS_PER_APPEND
