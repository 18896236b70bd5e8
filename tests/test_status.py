"""`lakehouse status`: runs, freshness vs SLA, reject rates and open alerts; non-zero exit when
an SLA is breached, so it works as a health check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lakehouse import Lakehouse
from lakehouse.cli import app
from lakehouse.errors import TerminalError
from lakehouse.orchestration import steps
from lakehouse.orchestration.definition import pipeline_definition
from lakehouse.orchestration.pipeline import run
from test_orchestration import QUIET, flaky, small_delivery


def status(root: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    r = CliRunner().invoke(app, ["status", "--root", str(root), *args], env=env)
    return r.exit_code, r.stdout, r.stderr


@pytest.fixture
def healthy(tmp_path: Path) -> Lakehouse:
    lh = Lakehouse(tmp_path / "lake")
    lh.run(small_delivery(tmp_path / "in"))
    return lh


def test_healthy_root_exits_zero_and_reports_as_json(healthy: Lakehouse) -> None:
    code, out, err = status(Path(healthy.root.uri), "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["ok"] is True and doc["breaches"] == []
    assert [r["status"] for r in doc["runs"]] == ["SUCCEEDED"]
    tables = {t["table"]: t for t in doc["tables"]}
    assert set(tables) == {"silver.orders", "silver.products", "silver.order_items"}
    assert tables["silver.orders"]["fresh"] is True
    assert tables["silver.orders"]["reject_rate"] == 0.0
    assert tables["silver.orders"]["freshness_objective_minutes"] == 1440
    assert doc["alerts"] == []


def test_table_format_lists_runs_tables_and_verdict(healthy: Lakehouse) -> None:
    code, out, _ = status(Path(healthy.root.uri))
    assert code == 0
    assert "recent runs" in out and "silver.orders" in out and "every SLA is met" in out


def test_a_stale_table_is_a_breach(healthy: Lakehouse) -> None:
    env = {"LAKEHOUSE__SLA__TABLES__ORDERS__FRESHNESS_MINUTES": "0.0001"}
    code, out, err = status(Path(healthy.root.uri), "--format", "json", env=env)
    assert code == 2
    assert json.loads(out)["breaches"][0].startswith("silver.orders is stale")
    assert err.startswith("lakehouse: SLA breached: silver.orders is stale")


def test_a_failed_last_run_is_a_breach_until_a_run_succeeds(healthy: Lakehouse) -> None:
    broken = pipeline_definition().replace_task(
        "discover", fn=flaky(steps.discover, 9, TerminalError("landing unreadable (test)"))
    )
    with pytest.raises(TerminalError):
        run(healthy.root, definition=broken, settings=QUIET)
    code, out, _ = status(Path(healthy.root.uri), "--format", "json")
    doc = json.loads(out)
    assert code == 2
    assert doc["runs"][0]["status"] == "FAILED"
    assert doc["alerts"][0]["rule"] == "run_failed"
    assert "landing unreadable" in doc["breaches"][0]
    run(healthy.root, settings=QUIET)
    assert status(Path(healthy.root.uri))[0] == 0


def test_a_root_never_loaded_is_not_healthy_a_missing_one_is_not_a_lakehouse(
    tmp_path: Path,
) -> None:
    """An empty folder (a root given one level too high, or before its first run) said "OK":
    every table counted as fresh since nothing had ever been loaded."""
    (tmp_path / "new").mkdir()
    code, out, _ = status(tmp_path / "new", "--format", "json")
    doc = json.loads(out)
    assert (code, doc["runs"], doc["ok"]) == (2, [], False)
    assert [b.split(":")[0] for b in doc["breaches"]] == [
        f"no run has loaded data under {tmp_path / 'new'} yet"
    ]
    code, out, _ = status(tmp_path / "nothing", "--format", "json")
    assert (code, out) == (1, "")  # a mistyped root: it said "ok": true (message: test_cli)
