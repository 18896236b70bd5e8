"""`lakehouse optimize` and `lakehouse vacuum`: output, refusals and exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lakehouse.cli import app
from lakehouse.store.root import Root
from test_maintenance import build_small_file_table

runner = CliRunner()


@pytest.fixture
def root(tmp_path: Path) -> str:
    r = tmp_path / "lake"
    build_small_file_table(Root(r), appends=12, days=2)
    return str(r)


def test_optimize_then_vacuum(root: str) -> None:
    out = runner.invoke(
        app,
        ["optimize", "silver.order_items", "--root", root, "--zorder", "product_id, order_id"],
        env={"COLUMNS": "200"},
    )
    assert out.exit_code == 0, out.output
    assert "silver.order_items" in out.output
    assert "12 → 2" in out.output and "product_id, order_id" in out.output

    again = runner.invoke(app, ["optimize", "--root", root], env={"COLUMNS": "200"})
    assert again.exit_code == 0, again.output
    assert "unchanged" in again.output  # nothing needs it any more

    dry = runner.invoke(
        app,
        ["vacuum", "--root", root, "--retention-hours", "0", "--force", "--dry-run"],
        env={"COLUMNS": "200"},
    )
    assert dry.exit_code == 0, dry.output
    assert "would remove 12 files" in dry.output

    done = runner.invoke(
        app, ["vacuum", "silver.order_items", "--root", root, "--retention-hours", "0", "--force"]
    )
    assert done.exit_code == 0, done.output
    assert "removed 12 files" in done.output
    assert len(list(Path(root).glob("silver/order_items/date=*/*.parquet"))) == 2


def test_vacuum_below_retention_is_refused_with_one_line(root: str) -> None:
    p = subprocess.run(
        [sys.executable, "-m", "lakehouse", "vacuum", "--root", root, "--retention-hours", "24"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 1
    assert p.stderr.startswith("lakehouse: error: retention 24 h is below the time-travel")
    assert "--force" in p.stderr and len(p.stderr.strip().splitlines()) == 1


def test_unknown_table_and_bad_zorder(root: str) -> None:
    missing = runner.invoke(app, ["optimize", "silver.nope", "--root", root])
    assert missing.exit_code != 0 and "does not exist" in str(missing.exception)
    bad = runner.invoke(app, ["optimize", "silver.order_items", "--root", root, "--zorder", "date"])
    assert bad.exit_code != 0 and "partition column" in str(bad.exception)
