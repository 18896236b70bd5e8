"""The package's data (contracts, gold models) load from wherever the package is imported from:
a zip on `sys.path` (zipimport) and the built wheel, not only a source checkout. Each is
imported in a fresh, isolated interpreter (`python -I`) with the archive first on `sys.path`."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "lakehouse"

PROBE = """
import dataclasses, json, sys
sys.path.insert(0, sys.argv[1])
import lakehouse
from lakehouse.contracts import load_contracts
from lakehouse.contracts.loader import contract_files, packaged_contracts
from lakehouse.gold.model import all_models, models_dir
print(json.dumps({
    "origin": lakehouse.__file__,
    "contract_files": {f.name: f.read_text(encoding="utf-8")
                       for f in contract_files(packaged_contracts())},
    "contracts": {k: repr(v) for k, v in load_contracts().items()},
    "model_files": {f.name: f.read_text(encoding="utf-8")
                    for f in models_dir().iterdir() if f.name.endswith(".sql")},
    "models": {k: repr(dataclasses.replace(m, path="")) for k, m in all_models().items()},
}))
"""


def _source_tree() -> dict[str, object]:
    from dataclasses import replace

    from lakehouse.contracts import load_contracts
    from lakehouse.gold.model import all_models

    contracts = PACKAGE / "contracts"
    return {
        "contract_files": {p.name: p.read_text("utf-8") for p in contracts.glob("*.toml")},
        "contracts": {k: repr(v) for k, v in load_contracts(str(contracts)).items()},
        "model_files": {
            p.name: p.read_text("utf-8") for p in (PACKAGE / "gold" / "models").glob("*.sql")
        },
        "models": {k: repr(replace(m, path="")) for k, m in all_models().items()},
    }


def _probe(archive: Path) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-I", "-c", PROBE, str(archive)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    found: dict[str, object] = json.loads(done.stdout)
    assert str(found.pop("origin")).startswith(str(archive)), "imported from elsewhere"
    return found


def _zip_of_package(dest: Path) -> Path:
    archive = dest / "lakehouse.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in sorted(PACKAGE.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                z.write(path, path.relative_to(PACKAGE.parent).as_posix())
    return archive


def test_contracts_and_gold_models_load_from_a_zip_of_the_package(tmp_path: Path) -> None:
    found = _probe(_zip_of_package(tmp_path))
    expected = _source_tree()
    assert len(expected["contract_files"]) == 3  # type: ignore[arg-type]
    assert len(expected["model_files"]) >= 5  # type: ignore[arg-type]
    assert found == expected


@pytest.mark.slow
def test_contracts_and_gold_models_load_from_the_built_wheel(tmp_path: Path) -> None:
    # as infra/lakehouse_stack/artifacts.py builds the wheel the Glue job installs
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(tmp_path), str(REPO)]
    subprocess.run(pip, check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("lakehouse-*.whl")
    assert _probe(wheel) == _source_tree()
