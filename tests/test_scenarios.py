"""Scenario folders: input files per run, and the exact silver counts and quarantine expected.

tests/scenarios/<name>/input/run1, run2, ... are delivered one run after another;
expected.json states silver row counts, every quarantined row with its reasons, and every
file rejected whole. Each scenario runs here on the local engine; tests/test_conformance.py
runs every scenario on both engines and compares every table row by row (and the runs'
accounting, rejected files included), so the spark engine is held to the same expectations
without running each scenario a third time.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lakehouse import Lakehouse

SCENARIOS = sorted(
    p for p in (Path(__file__).parent / "scenarios").iterdir() if (p / "expected.json").exists()
)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_scenario(scenario: Path, tmp_path: Path) -> None:
    spec = json.loads((scenario / "expected.json").read_text())
    lh = Lakehouse(tmp_path / "lake")
    rejected: dict[str, list[str]] = {}
    for run_dir in sorted((scenario / "input").iterdir()):
        summary = lh.run([p for p in sorted(run_dir.iterdir())])
        assert summary.status == "SUCCEEDED"
        rejected.update(summary.files_rejected)
    for entity, n in spec["silver_counts"].items():
        got = lh.sql(f"SELECT count(*) AS n FROM silver.{entity}")["n"][0].as_py()
        assert got == n, f"silver.{entity}"
    for entity, rows in spec.get("silver_rows", {}).items():
        for want in rows:
            cols = ", ".join(f"CAST({c} AS VARCHAR) AS {c}" for c in want)
            got = lh.sql(
                f"SELECT {cols} FROM silver.{entity} WHERE order_id = {want['order_id']}"
            ).to_pylist()
            assert got == [{k: str(v) for k, v in want.items()}], (entity, want)
    quarantined = []
    for t in lh.tables():
        if t.name.startswith("quarantine."):
            for r in lh.sql(
                f"SELECT _source_file, _sheet, _row, _reasons FROM {t.name}"
            ).to_pylist():
                quarantined.append(
                    {
                        "file": r["_source_file"],
                        "sheet": r["_sheet"],
                        "row": r["_row"],
                        "reasons": sorted(r["_reasons"]),
                    }
                )
    key = lambda e: (e["file"], e["sheet"], e["row"])  # noqa: E731
    assert sorted(quarantined, key=key) == sorted(spec["quarantine"], key=key)
    assert rejected == spec.get("rejected_files", {})
    for f, reasons in spec.get("rejected_files", {}).items():
        reason_files = list(
            (
                lh.root.path("quarantine", "files") and Path(lh.root.path("quarantine", "files"))
            ).rglob(f"{f}.reason.json")
        )
        assert len(reason_files) == 1, f
        assert json.loads(reason_files[0].read_text())["reasons"] == reasons
