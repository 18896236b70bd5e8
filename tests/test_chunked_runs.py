"""A run bigger than `pipeline.chunk_rows` is written to bronze as it is read and validated and
merged chunk by chunk; its tables and counts equal those of the same run done in one piece.
Chunks on the spark engine: tests/test_conformance.py (the late_parent pair)."""

from __future__ import annotations

import dataclasses
import hashlib
import tempfile
from pathlib import Path

import pyarrow as pa
from deltalake import DeltaTable

from lakehouse.config.settings import PipelineSettings, Settings
from lakehouse.generate import generate
from lakehouse.orchestration.pipeline import copy_sources, run
from lakehouse.orchestration.state import RunSummary
from lakehouse.store.query import run_sql
from lakehouse.store.root import Root

WHOLE = Settings(notifiers=())
CHUNKED = dataclasses.replace(WHOLE, pipeline=PipelineSettings(chunk_rows=150))
SCENARIOS = Path(__file__).parent / "scenarios"
# differ between any two runs by design: the run id and the clock
RUN_COLUMNS = ("_run_id", "_ingested_at", "_quarantined_at")
TABLES = [
    f"{z}.{e}" for z in ("silver", "quarantine") for e in ("products", "orders", "order_items")
]


def load(root: Root, deliveries: list[list[Path]], settings: Settings) -> list[RunSummary]:
    out = []
    for files in deliveries:
        copy_sources(root, files)
        out.append(run(root, settings=settings))
    return out


def contents(root: Root, table: str) -> pa.Table | None:
    zone, name = table.split(".")
    if not Path(root.table_uri(zone, name)).exists():
        return None
    columns = run_sql(root, f"SELECT * FROM {table} LIMIT 0").column_names
    keep = ", ".join(f'"{c}"' for c in columns if c not in RUN_COLUMNS)
    return run_sql(root, f"SELECT {keep} FROM {table} ORDER BY ALL")


def counts(summary: RunSummary) -> dict[str, tuple[int, int, int, int, dict[str, int]]]:
    return {
        e: (r.rows_in, r.rows_rechecked, r.valid, r.quarantined, r.reasons)
        for e, r in summary.entities.items()
    }


def assert_same(
    tmp_path: Path, deliveries: list[list[Path]], chunked_settings: Settings = CHUNKED
) -> list[RunSummary]:
    whole, chunked = Root(tmp_path / "whole"), Root(tmp_path / "chunked")
    expected = load(whole, deliveries, WHOLE)
    got = load(chunked, deliveries, chunked_settings)
    for a, b in zip(expected, got, strict=True):
        assert b.status == a.status == "SUCCEEDED"
        assert counts(b) == counts(a)
        assert b.files_rejected == a.files_rejected
    for table in TABLES:
        assert contents(chunked, table) == contents(whole, table), table
    return got


def test_generated_dirty_days_in_chunks_equal_one_piece(tmp_path: Path) -> None:
    out = tmp_path / "gen"
    generate(out, orders=400, products=60, days=5, seed=11, fmt="csv", dirty_rate=0.03)
    (summary,) = assert_same(tmp_path, [[out]])
    leftovers = list(Path(tempfile.gettempdir()).glob(f"lakehouse-{summary.run_id}-*"))
    assert leftovers == []  # the chunks' scratch files went with the run
    items = summary.entities["order_items"]
    assert items.rows_in > 3 * CHUNKED.pipeline.chunk_rows  # it really ran in several chunks
    bronze = DeltaTable(Root(tmp_path / "chunked").table_uri("bronze", "order_items"))
    assert len(bronze.history()) > 3  # one append per flushed chunk, plus the table's creation
    assert items.valid == items.inserted + items.updated + items.unchanged


def split_late_parent(tmp_path: Path) -> list[list[Path]]:
    """Run 1: products and 35 lines whose orders have not arrived (they wait in quarantine).
    Run 2: the orders and the other 60 lines in two files of 30."""
    source = SCENARIOS / "late_parent" / "input"
    header, *lines = (source / "run1" / "order_items_early.csv").read_text().splitlines(True)
    parts = tmp_path / "in"
    parts.mkdir()
    deliveries: list[list[Path]] = [
        [source / "run1" / "products.csv"],
        [source / "run2" / "orders_late.csv"],
    ]
    for n, (lo, hi) in enumerate([(0, 35), (35, 65), (65, 95)]):
        f = parts / f"order_items_part{n}.csv"
        f.write_text(header + "".join(lines[lo:hi]))
        deliveries[min(n, 1)].append(f)
    return deliveries


def bronze_appends(root: Root, entity: str) -> int:
    history = DeltaTable(root.table_uri("bronze", entity)).history()
    return sum(1 for c in history if c.get("operationParameters", {}).get("mode") == "Append")


def test_waiting_children_are_rechecked_once_when_chunked(tmp_path: Path) -> None:
    """At `chunk_rows` 40 run 2's lines are two chunks of 30: the 35 waiting lines are
    re-checked with the first chunk only."""
    small = dataclasses.replace(WHOLE, pipeline=PipelineSettings(chunk_rows=40))
    _, second = assert_same(tmp_path, split_late_parent(tmp_path), small)
    items = second.entities["order_items"]
    assert (items.rows_in, items.rows_rechecked, items.released) == (60, 35, 35)
    assert (items.valid, items.quarantined, items.inserted) == (95, 0, 95)
    assert bronze_appends(Root(tmp_path / "chunked"), "order_items") == 3  # 35 | 30 | 30


def test_every_row_keeps_its_own_files_lineage_as_text(tmp_path: Path) -> None:
    """Runs hold the per-file lineage text dictionary-encoded (`zones.bronze_batch_schema`):
    with several files in each chunk and the chunks in scratch files, every bronze row still
    names its own file and hash, and the tables store that lineage as plain text."""
    out = tmp_path / "gen"
    generate(out, orders=300, products=40, days=6, seed=3, fmt="csv")
    root = Root(tmp_path / "lake")
    (summary,) = load(root, [[out]], CHUNKED)
    assert summary.entities["order_items"].rows_in > 3 * CHUNKED.pipeline.chunk_rows
    files = {p.name: p for p in out.iterdir()}
    rows = run_sql(
        root,
        "SELECT _source_file, _file_sha256, _sheet, _run_id, count(*) AS n FROM bronze.order_items "
        "GROUP BY ALL ORDER BY ALL",
    ).to_pylist()
    names = sorted(n for n in files if n.startswith("order_items"))
    assert len(names) > 3 and [Path(r["_source_file"]).name for r in rows] == names
    for r in rows:
        f = files[Path(r["_source_file"]).name]
        assert r["_file_sha256"] == hashlib.sha256(f.read_bytes()).hexdigest()
        assert r["n"] == len(f.read_text().splitlines()) - 1  # every data line, once
        assert (r["_sheet"], r["_run_id"]) == ("", summary.run_id)
    for zone in ("bronze", "silver", "quarantine"):
        schema = pa.schema(DeltaTable(root.table_uri(zone, "order_items")).schema().to_arrow())
        for name in ("_source_file", "_sheet", "_file_sha256", "_run_id"):
            assert schema.field(name).type in (pa.string(), pa.large_string()), (zone, name)
