"""The benchmark scripts run against the code they measure: a model change that breaks one is
caught here, not on the next benchmark day (`bench_floor` once stopped when catalog_summary
started to read gold.product_days)."""

from __future__ import annotations

from pathlib import Path

import pytest
from deltalake import DeltaTable

from gold_oracle import compare
from lakehouse import Lakehouse
from lakehouse.generate import generate

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_the_floor_computes_the_lakehouse_s_numbers_for_clean_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bench_floor's five gold models, computed by the floor (no validation) from clean
    generated files, equal the lakehouse's own tables for the same files: the floor does the
    same work, only less of it."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import bench_floor

    source = tmp_path / "delivery"
    generate(source, orders=400, products=60, days=4, seed=7, fmt="parquet")
    bench_floor.floor(str(source), str(tmp_path / "floor"), str(tmp_path / "floor.json"))
    lake = Lakehouse(tmp_path / "lake")
    assert lake.run([source]).status == "SUCCEEDED"
    for model in bench_floor.GOLD:
        floor = DeltaTable(str(tmp_path / "floor" / "gold" / model)).to_pyarrow_table()
        ours = lake.sql(f"SELECT * FROM gold.{model}").to_pylist()
        assert floor.num_rows == len(ours) > 0, model
        assert compare(model, floor, ours) == [], model
