"""The dashboard without a browser: number formats, findings, data reads, the HTML file, the
live server and the CLI commands."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from browser_support import shared_dir, shared_lake
from lakehouse import Lakehouse
from lakehouse.report import build, fmt
from lakehouse.report.charts import validate
from lakehouse.report.charts_customers import week_one_retention
from lakehouse.report.charts_payments import payment_cards
from lakehouse.report.charts_sales import trend_title
from lakehouse.report.data import Analytics, Source, analytics, latest_complete, pareto
from lakehouse.report.ops_data import operations

UTC = dt.UTC


@pytest.fixture(scope="session")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_lake(shared_dir(tmp_path_factory))


# --- formats -----------------------------------------------------------------------------------
def test_money_keeps_cents_below_ten_thousand_and_groups_thousands() -> None:
    usd = fmt.Money("USD")
    assert usd(1234.5) == "$1,234.50"
    assert usd(476_083.2) == "$476,083"
    assert usd(-12.3) == "-$12.30"
    assert usd(None) == fmt.DASH
    assert fmt.Money(None)(99.999) == "100.00"
    assert fmt.Money("EUR")(5) == "€5.00"
    assert fmt.Money("SEK")(5) == "SEK 5.00"


def test_numbers_percentages_and_changes_read_like_prose() -> None:
    assert fmt.number(1234567) == "1,234,567"
    assert fmt.number(6.94, 1) == "6.9"
    assert fmt.pct(0.1234) == "12 %"
    assert fmt.pct(0.0512) == "5.1 %"
    assert fmt.pct(0.05) == "5 %"
    assert fmt.signed_pct(0.066) == "+6.6 %"
    assert fmt.signed_pct(-0.25) == f"{fmt.MINUS}25 %"
    assert fmt.signed_pct(0.001) == "±0 %"
    assert fmt.compact(12_345, "$") == "$12.3k"
    assert fmt.compact(4_560_000) == "4.6M"
    assert fmt.size(1_234_567) == "1.2 MB"


def test_change_phrase_states_the_direction() -> None:
    assert fmt.change_phrase("Revenue", 0.12, "week") == "Revenue grew 12 % week over week"
    assert fmt.change_phrase("Revenue", -0.041, "month") == "Revenue fell 4.1 % month over month"
    assert fmt.change_phrase("Orders", 0.001, "day") == "Orders held steady day over day"
    assert "no earlier week" in fmt.change_phrase("Revenue", None, "week")


def test_durations_dates_and_ages() -> None:
    assert fmt.duration(0.84) == "0.8 s"
    assert fmt.duration(185) == "3 min 5 s"
    assert fmt.duration(7440) == "2 h 4 min"
    assert fmt.day(dt.date(2025, 4, 1)) == "1 Apr 2025"
    now = dt.datetime(2025, 4, 2, 12, tzinfo=UTC)
    assert fmt.ago(now - dt.timedelta(minutes=5), now) == "5 min ago"
    assert fmt.ago(None, now) == "never"
    assert fmt.label("cash_on_delivery") == "Cash on delivery"
    assert fmt.weekday(7) == "Sunday"


# --- findings ----------------------------------------------------------------------------------
def _week(start: str, days: int, revenue: float, prev: float | None) -> dict[str, object]:
    return {
        "period": dt.date.fromisoformat(start),
        "days": days,
        "revenue": revenue,
        "orders": 10,
        "aov": revenue / 10,
        "prev_revenue": prev,
        "prev_orders": 10 if prev else None,
        "orders_change_rate": 0.0 if prev else None,
        "revenue_change_rate": (revenue - prev) / prev if prev else None,
    }


def test_trend_compares_the_newest_complete_period() -> None:
    rows = [
        _week("2025-04-07", 7, 100.0, None),
        _week("2025-04-14", 7, 112.0, 100.0),
        _week("2025-04-21", 3, 20.0, 112.0),  # still running: not the headline
    ]
    assert latest_complete(rows, "week") == rows[1]
    title, sub = trend_title(rows, "week", fmt.Money("USD"))
    assert title == "Revenue grew 12 % week over week"
    assert sub.startswith("Week of 14 Apr 2025: $112.00 vs $100.00 the week before")
    rows[2]["days"] = 7
    assert latest_complete(rows, "week") == rows[2]


def test_pareto_finds_the_share_of_products_behind_80_percent_of_units() -> None:
    xs, ys, at80 = pareto([50, 30, 10, 5, 5])
    assert at80 == pytest.approx(0.4)  # 50 + 30 = 80 of 100 units from 2 of 5 products
    assert xs[-1] == 1 and ys[-1] == 1
    assert pareto([0, 0]) == ([], [], None)


def test_week_one_retention_weights_by_cohort_size_and_skips_the_newest_week() -> None:
    w = [dt.date(2025, 4, 7) + dt.timedelta(days=7 * i) for i in range(3)]
    rows = [
        {"cohort_week": w[0], "week_offset": 0, "activity_week": w[0], "cohort_size": 10,
         "active_customers": 10},
        {"cohort_week": w[0], "week_offset": 1, "activity_week": w[1], "cohort_size": 10,
         "active_customers": 5},
        {"cohort_week": w[1], "week_offset": 0, "activity_week": w[1], "cohort_size": 30,
         "active_customers": 30},
        {"cohort_week": w[2], "week_offset": 0, "activity_week": w[2], "cohort_size": 99,
         "active_customers": 99},
    ]  # fmt: skip
    # cohorts 0 (5 of 10 back) and 1 (0 of 30 back) have had a week 1; cohort 2 has not
    assert week_one_retention(rows) == pytest.approx(5 / 40)


def test_payments_without_methods_show_a_note_not_charts() -> None:
    a = Analytics(payments=[{"payment_method": "unknown", "orders": 7500, "revenue": 1.0}])
    cards = payment_cards(a, fmt.Money(None))
    assert len(cards) == 1 and cards[0].chart is None
    assert "7,500 orders count as 'unknown'" in (cards[0].note or "")


# --- data read from a lakehouse ---------------------------------------------------------------
def test_analytics_and_operations_read_the_lakehouse(lake: Path) -> None:
    src = Source(lake)
    try:
        a = analytics(src)
        o = operations(src)
        one = src.rows
        assert a.currency == "USD"
        gold_units = one("SELECT SUM(units) AS n FROM gold.product_performance")[0]["n"]
        assert sum(a.product_units or []) == gold_units
        for grain in ("day", "week", "month"):
            rows = (a.department_sales or {})[grain]
            total = one("SELECT SUM(revenue) AS r FROM gold.department_sales")[0]["r"]
            assert sum(r["revenue"] for r in rows) == pytest.approx(total)
        assert len(o.runs) == one("SELECT COUNT(*) AS n FROM _ops.runs")[0]["n"] == 2
        assert not o.notes, o.notes
        for entity, held in o.quarantine_rows.items():
            assert held == one(f"SELECT COUNT(*) AS n FROM quarantine.{entity}")[0]["n"]
        counted = {f"{q['entity']}|{q['reason']}" for q in o.quarantine}
        assert set(o.examples) == counted
        for k, examples in o.examples.items():
            assert 1 <= len(examples) <= 5
            assert all(k.split("|")[1] in e["_all_reasons"] for e in examples)
    finally:
        src.close()


# --- the HTML file -----------------------------------------------------------------------------
def _external_refs(page: str) -> list[str]:
    return re.findall(r"""(?:src|href)\s*=\s*["']((?:https?:)?//[^"']+)""", page)


def test_report_is_one_offline_file_with_plotly_inlined_once(lake: Path, tmp_path: Path) -> None:
    from plotly.offline import get_plotlyjs

    out = tmp_path / "report.html"
    p = subprocess.run(
        [sys.executable, "-m", "lakehouse", "report", "--root", str(lake), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    assert str(out) in p.stdout
    page = out.read_text(encoding="utf-8")
    plotly_js = get_plotlyjs()
    assert page.count(plotly_js[:200]) == 1
    ours = page.replace(plotly_js, "")  # plotly.js itself mentions map tile servers it never uses
    assert _external_refs(ours) == []
    assert (
        "<script src" not in ours and "@import" not in ours and '<link rel="stylesheet' not in ours
    )
    data = json.loads(re.search(r'id="lakehouse-data">(.*?)</script>', page, re.S)[1])  # type: ignore[index]
    assert data["live"] is False
    assert {"sales-trend", "top-products", "cohorts", "runs", "quarantine"} <= set(data["charts"])
    for chart_id, spec in data["charts"].items():  # every figure fits plotly's schema
        for variant, figure in spec["variants"].items():
            try:
                validate(figure)
            except ValueError as exc:
                pytest.fail(f"{chart_id} [{variant}] is not a valid plotly figure: {exc}")


def test_a_root_without_gold_shows_notes_not_errors(tmp_path: Path) -> None:
    empty = build(tmp_path / "nothing-here")
    assert empty.count("No analytics yet") == 3 and "No runs yet" in empty
    from lakehouse.generate import generate

    generate(tmp_path / "src", orders=40, days=3, products=20, fmt="csv")
    lh = Lakehouse(tmp_path / "silver-only")
    lh.run([tmp_path / "src"])
    shutil.rmtree(Path(lh.root.uri) / "gold")  # e.g. a root written before gold existed
    shutil.rmtree(Path(lh.root.uri) / "_ops" / "gold_builds")
    assert not any(t.name.startswith("gold.") for t in lh.tables())
    page = build(lh.root)
    assert "No analytics yet" in page and 'id="kpis"' not in page
    assert "succeeded" in page


# --- the live server ---------------------------------------------------------------------------
@pytest.fixture
def served(lake: Path) -> Iterator[str]:
    from lakehouse.report.server import make_server

    server = make_server(Lakehouse(lake).root, 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host!s}:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _status(url: str, method: str = "GET") -> tuple[int, bytes]:
    req = urllib.request.Request(url, method=method, data=b"x" if method != "GET" else None)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_server_listens_on_loopback_and_only_reads(served: str) -> None:
    assert served.startswith("http://127.0.0.1:")
    code, body = _status(served + "/")
    assert code == 200 and b'"live":true' in body
    code, body = _status(served + "/api/state")
    state = json.loads(body)
    assert code == 200 and len(state["fingerprint"]) == 16 and "_ops.runs" in state["tables"]
    pairs = state["gold"]["gold.customer_segments"]  # freshness of the budget models, as in status
    assert pairs["budget_minutes"] == 15 and isinstance(pairs["as_of"], str)
    assert set(pairs) == {"as_of", "behind", "staleness_minutes", "budget_minutes", "within_budget"}
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        assert _status(served + "/", method)[0] == 405
    assert _status(served + "/api/run", "POST")[0] == 405
    assert _status(served + "/nope")[0] == 404
