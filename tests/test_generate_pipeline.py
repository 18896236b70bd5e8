"""Generated dirty data through the real pipeline: quarantine equals the manifest, row for row."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lakehouse import Lakehouse
from lakehouse.generate import generate


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "jsonl", "parquet"])
def test_quarantine_matches_dirty_manifest(fmt: str, tmp_path: Path) -> None:
    out = tmp_path / "gen"
    result = generate(out, orders=400, products=60, days=5, seed=7, fmt=fmt, dirty_rate=0.02)
    assert result.manifest is not None
    manifest = json.loads(result.manifest.read_text())
    lh = Lakehouse(tmp_path / "lake")
    summary = lh.run([out])
    assert summary.status == "SUCCEEDED"
    got = []
    for entity in ("products", "orders", "order_items"):
        for r in lh.sql(
            f"SELECT _source_file, _sheet, _row, _reasons FROM quarantine.{entity}"
        ).to_pylist():
            got.append(
                {
                    "entity": entity,
                    "file": r["_source_file"].removeprefix("gen/"),
                    "sheet": r["_sheet"],
                    "row": r["_row"],
                    "reasons": sorted(r["_reasons"]),
                }
            )
    key = lambda r: (r["entity"], r["file"], r["sheet"], r["row"])  # noqa: E731
    assert sorted(got, key=key) == sorted(manifest["rows"], key=key)
    rejected = {f.removeprefix("gen/"): sorted(r) for f, r in summary.files_rejected.items()}
    assert rejected == {f["file"]: sorted(f["reasons"]) for f in manifest["files"]}
    counts = {
        e: lh.sql(f"SELECT count(*) AS n FROM silver.{e}")["n"][0].as_py()
        for e in ("products", "orders", "order_items")
    }
    assert counts == {
        "products": result.products,
        "orders": result.orders,
        "order_items": result.order_items,
    }
