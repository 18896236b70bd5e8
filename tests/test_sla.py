"""SLAs with a controlled clock: freshness alerts open when no data arrives within the objective
and clear when data arrives; reject-rate and duration breaches; alerts do not spam."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

from lakehouse import Lakehouse, monitoring
from lakehouse.config.loader import load
from lakehouse.config.settings import NotifySettings, Settings
from lakehouse.contracts import load_contracts
from lakehouse.monitoring.alerts import plan
from lakehouse.monitoring.sla import Finding
from lakehouse.monitoring.status import report
from lakehouse.orchestration.pipeline import run
from test_orchestration import small_delivery

T0 = dt.datetime(2025, 5, 1, tzinfo=dt.UTC)
DIRTY = Path(__file__).parent / "scenarios" / "dirty_lab" / "input" / "run1"
CONFIG = """
[sla.tables.orders]
freshness_minutes = 60

[notifiers.log]
type = "file"
"""


def notes(lh: Lakehouse) -> list[dict[str, Any]]:
    path = Path(lh.root.path("_ops", "notifications.jsonl"))
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def alerts(lh: Lakehouse) -> list[dict[str, Any]]:
    return lh.sql(
        "SELECT rule, subject, status, occurrences FROM _ops.alerts ORDER BY opened_at, rule"
    ).to_pylist()


def new_orders(src: Path, dest: Path, shift: int) -> Path:
    header, *lines = src.read_text().splitlines()
    out = [header]
    for line in lines:
        cells = line.split(",")
        cells[1] = str(int(cells[1]) + shift)
        out.append(",".join(cells))
    dest.write_text("\n".join(out) + "\n")
    return dest


def test_freshness_alert_opens_without_data_and_clears_when_data_arrives(tmp_path: Path) -> None:
    lh = Lakehouse(tmp_path / "lake")
    Path(lh.root.uri).mkdir(parents=True)
    Path(lh.root.path("lakehouse.toml")).write_text(CONFIG)
    delivery = {f.name: f for f in small_delivery(tmp_path / "in")}

    def at(minutes: int, files: list[Path] = ()) -> None:  # type: ignore[assignment]
        for f in files:
            lh.root.copy_in(f, lh.root.path("landing", f.name))
        assert run(lh.root, now=T0 + dt.timedelta(minutes=minutes)).status == "SUCCEEDED"

    at(0, list(delivery.values()))
    at(30)
    assert notes(lh) == [] and not lh.sql("SELECT * FROM _ops.alerts").num_rows
    at(61)  # an hour without orders: the objective is breached
    assert [(n["change"], n["rule"], n["subject"]) for n in notes(lh)] == [
        ("opened", "freshness", "silver.orders")
    ]
    at(90)  # still no data: the alert stays open, nobody is told twice
    assert len(notes(lh)) == 1
    assert alerts(lh) == [
        {"rule": "freshness", "subject": "silver.orders", "status": "open", "occurrences": 2}
    ]
    settings, contracts = load(lh.root), load_contracts()
    health = report(lh.root, settings, contracts, now=T0 + dt.timedelta(minutes=95))
    assert not health.ok and health.breaches[0].startswith("silver.orders is stale: 95 min")
    at(100, [new_orders(delivery["orders_late.csv"], tmp_path / "orders_2.csv", 500)])
    assert [(n["change"], n["subject"]) for n in notes(lh)][-1] == ("resolved", "silver.orders")
    assert alerts(lh)[0]["status"] == "resolved"
    assert report(lh.root, settings, contracts, now=T0 + dt.timedelta(minutes=101)).ok
    # between runs, `monitoring.check` (what `watch` does when idle) raises it again
    changes = monitoring.check(lh.root, settings, contracts, T0 + dt.timedelta(minutes=170))
    assert [(c.change, c.alert["subject"]) for c in changes] == [("opened", "silver.orders")]
    lags = lh.sql(
        "SELECT measured_at, value FROM _ops.metrics WHERE metric = 'freshness_lag_s' "
        "AND subject = 'silver.orders' ORDER BY measured_at"
    ).to_pylist()
    assert [r["value"] for r in lags] == [0, 1800, 3660, 5400, 0]


def test_reject_rate_breach_opens_per_table_and_resolves_on_a_clean_run(tmp_path: Path) -> None:
    lh = Lakehouse(tmp_path / "lake")
    quiet = Settings(notifiers=())
    for f in DIRTY.iterdir():
        lh.root.copy_in(f, lh.root.path("landing", f.name))
    run(lh.root, now=T0, settings=quiet)
    opened = {(a["rule"], a["subject"]) for a in alerts(lh) if a["status"] == "open"}
    assert opened == {("reject_rate", "silver.orders"), ("reject_rate", "silver.order_items")}
    rates = lh.sql(
        "SELECT subject, round(value, 4) AS v FROM _ops.metrics WHERE metric = 'reject_rate' "
        "ORDER BY subject"
    ).to_pylist()
    assert rates == [
        {"subject": "silver.order_items", "v": round(57 / 212, 4)},
        {"subject": "silver.orders", "v": round(11 / 41, 4)},
        {"subject": "silver.products", "v": 0.0},
    ]
    clean = Path(__file__).parent / "scenarios" / "late_parent" / "input" / "run2"
    shutil.copy(clean / "orders_late.csv", tmp_path / "orders_clean.csv")
    lh.root.copy_in(tmp_path / "orders_clean.csv", lh.root.path("landing", "orders_clean.csv"))
    run(lh.root, now=T0 + dt.timedelta(hours=1), settings=quiet)
    status = {a["subject"]: a["status"] for a in alerts(lh)}
    assert status == {"silver.orders": "resolved", "silver.order_items": "open"}


def test_a_run_longer_than_its_objective_raises_a_duration_alert(tmp_path: Path) -> None:
    lh = Lakehouse(tmp_path / "lake")
    slow = load(
        env={"LAKEHOUSE__SLA__MAX_RUN_SECONDS": "0", "LAKEHOUSE__NOTIFIERS__X__TYPE": "file"}
    )
    run(lh.root, now=T0, settings=slow)
    assert alerts(lh) == [
        {"rule": "run_duration", "subject": "pipeline", "status": "open", "occurrences": 1}
    ]
    assert notes(lh)[0]["message"].startswith("run ")


def _finding(breached: bool) -> Finding:
    return Finding("freshness", "silver.orders", breached, 1.0, 0.0, "m")


def test_alerts_repeat_only_after_repeat_minutes() -> None:
    s = Settings(notify=NotifySettings(repeat_minutes=60, resolved=False))
    changes, rows = plan([], s, [_finding(True)], T0, "r1")
    assert [c.change for c in changes] == ["opened"]
    current = rows
    for minutes, expect in ((30, []), (59, []), (61, ["repeat"]), (90, [])):
        changes, rows = plan(current, s, [_finding(True)], T0 + dt.timedelta(minutes=minutes), "r")
        assert [c.change for c in changes] == expect, minutes
        current = rows
    assert current[0]["occurrences"] == 5
    changes, rows = plan(current, s, [_finding(False)], T0 + dt.timedelta(hours=3), "r")
    assert changes == [] and rows[0]["status"] == "resolved"  # resolved = false: quietly
    assert plan([], s, [_finding(False)], T0, "r") == ([], [])
