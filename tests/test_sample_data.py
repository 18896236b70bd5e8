"""The bundled demo data is exactly what the generator writes for its documented arguments."""

from __future__ import annotations

from pathlib import Path

from lakehouse.generate import generate

SAMPLE = Path(__file__).parent.parent / "sample-data"
# the arguments `make sample-data` uses; change both together
ARGS = {"orders": 3000, "products": 300, "days": 30, "seed": 42, "fmt": "xlsx", "dirty_rate": 0.01}


def test_sample_data_is_reproducible(tmp_path: Path) -> None:
    generate(tmp_path, **ARGS)  # type: ignore[arg-type]
    ours = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    bundled = {p.name: p.read_bytes() for p in SAMPLE.iterdir()}
    assert sorted(ours) == sorted(bundled)
    for name in ours:
        assert ours[name] == bundled[name], name
