"""The benchmark scripts run against the code they measure: a model change that breaks one is
caught here, not on the next benchmark day (`bench_floor` once stopped when catalog_summary
started to read gold.product_days)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable

from lakehouse import Lakehouse
from lakehouse.generate import generate

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def rows(path: Path) -> list[dict[str, Any]]:
    table = DeltaTable(str(path)).to_pyarrow_table()
    return sorted(table.to_pylist(), key=lambda r: [repr(r[c]) for c in table.column_names])


def same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


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
        floor = rows(tmp_path / "floor" / "gold" / model)
        ours = rows(tmp_path / "lake" / "gold" / model)
        assert len(floor) == len(ours) > 0, model
        for f, o in zip(floor, ours, strict=True):
            assert f.keys() == o.keys(), model
            assert all(same(f[k], o[k]) for k in f), (model, f, o)
