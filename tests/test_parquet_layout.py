"""How bronze, silver and quarantine files are written: compressed, with statistics on the
columns that reads filter on, and `_sheet` plain.

`_sheet` is '' on every row of a file that is not a workbook; delta-rs spends as long on the
dictionary and statistics of such a column as on the rest of a silver write
(`lakehouse.store.delta.PLAIN_COLUMNS`). Giving delta-rs any writer property without a codec
writes UNCOMPRESSED files, which these tests would catch.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
from deltalake import DeltaTable

from conftest import LAB
from lakehouse import Lakehouse
from lakehouse.maintenance import MaintenanceSettings, optimize_table

ZONES = ("bronze", "silver", "quarantine")


def delivery(dest: Path) -> Path:
    """Five products and one whose key is not a number (quarantined)."""
    dest.mkdir(parents=True)
    lines = (LAB / "products.csv").read_text().splitlines()[:6]
    (dest / "products.csv").write_text("\n".join([*lines, "x9,4,Books,Bad key"]) + "\n")
    return dest


def files_of(lh: Lakehouse, zone: str) -> list[Path]:
    table = DeltaTable(lh.root.table_uri(zone, "products"))
    return [Path(u.removeprefix("file://")) for u in table.file_uris()]


def test_row_zones_are_snappy_with_statistics_but_sheet_plain(tmp_path: Path) -> None:
    lh = Lakehouse(tmp_path / "lake")
    summary = lh.run([delivery(tmp_path / "in")])
    assert summary.status == "SUCCEEDED" and summary.rows_quarantined == 1
    for zone in ZONES:
        files = files_of(lh, zone)
        assert files, zone
        for path in files:
            meta = pq.ParquetFile(path).metadata
            columns = {
                meta.row_group(0).column(i).path_in_schema: meta.row_group(0).column(i)
                for i in range(meta.num_columns)
            }
            assert {c.compression for c in columns.values()} == {"SNAPPY"}, (zone, path)
            sheet = columns["_sheet"]
            assert not sheet.has_dictionary_page and not sheet.is_stats_set, (zone, path)
            for name in ("_run_id", "_file_sha256", "_source_file"):
                assert columns[name].is_stats_set, (zone, name)
        # the Delta log keeps min/max of the lineage the duplicate-key check filters on
        actions = DeltaTable(lh.root.table_uri(zone, "products")).get_add_actions(flatten=True)
        assert actions.column("min._run_id").to_pylist() == [summary.run_id] * len(files)
    assert lh.sql("SELECT DISTINCT _sheet FROM silver.products")["_sheet"].to_pylist() == [""]


def test_optimize_rewrites_with_zstd_and_keeps_sheet_plain(tmp_path: Path) -> None:
    lh = Lakehouse(tmp_path / "lake")
    for i in range(3):  # three small files to compact
        src = tmp_path / f"in{i}"
        src.mkdir()
        lines = (LAB / "products.csv").read_text().splitlines()
        (src / "products.csv").write_text("\n".join([lines[0], *lines[1 + 5 * i : 6 + 5 * i]]))
        assert lh.run([src / "products.csv"]).status == "SUCCEEDED"
    assert len(files_of(lh, "silver")) == 3
    settings = MaintenanceSettings(min_small_files=2)
    result = optimize_table(lh.root, "silver.products", run_id="t", settings=settings)
    assert result.files_after == 1
    [path] = files_of(lh, "silver")
    meta = pq.ParquetFile(path).metadata
    columns = {
        meta.row_group(0).column(i).path_in_schema: meta.row_group(0).column(i)
        for i in range(meta.num_columns)
    }
    assert {c.compression for c in columns.values()} == {"ZSTD"}
    assert not columns["_sheet"].has_dictionary_page and not columns["_sheet"].is_stats_set
    assert lh.sql("SELECT count(*) AS n FROM silver.products")["n"].to_pylist() == [15]
