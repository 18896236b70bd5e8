"""The dashboard in a real browser (Debian chromium via Playwright): the report file and the
served dashboard render every chart with data, show gold's numbers, follow the filters, and log
no console errors. Screenshots go to test-artifacts/."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from browser_support import (
    Console,
    browser,
    chart_stats,
    laptop_page,
    open_tab,
    screenshot,
    shared_dir,
    shared_lake,
    skip_reason,
)
from lakehouse import Lakehouse
from lakehouse.report import fmt

pytestmark = [pytest.mark.browser]


def test_browser_is_installed() -> None:
    assert skip_reason() is None, f"{skip_reason()} — `make test` installs it"


TABS = ("sales", "products", "customers", "ops")


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_lake(shared_dir(tmp_path_factory))


@pytest.fixture(scope="module")
def report_file(lake: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from lakehouse.report import write

    return write(lake, tmp_path_factory.mktemp("report") / "dashboard.html")


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with browser() as b:
        yield b


def one(lh: Lakehouse, sql: str) -> Any:
    return lh.sql(sql).to_pylist()[0]


def assert_every_chart_has_data(page: Any, tab: str) -> int:
    stats = chart_stats(page)
    assert stats, f"no charts on {tab}"
    for s in stats:
        assert s["plotted"], f"{tab}/{s['id']} was not drawn"
        assert s["traces"] > 0 and s["points"] > 0, f"{tab}/{s['id']} has no data: {s}"
        assert s["marks"] > 0, f"{tab}/{s['id']} drew nothing: {s}"
        assert s["width"] > 300, f"{tab}/{s['id']} is squeezed: {s}"
    return len(stats)


def text(page: Any, selector: str) -> str:
    value: str = page.inner_text(selector)
    return value.strip()


def test_report_file_renders_every_chart_with_gold_numbers(
    chromium: Any, report_file: Path, lake: Path
) -> None:
    lh = Lakehouse(lake)
    m = fmt.Money("USD")
    console = Console()
    with laptop_page(chromium, console) as page:
        page.goto(report_file.as_uri())
        page.wait_for_selector("body[data-ready=true]")
        charts = 0
        for tab in TABS:
            open_tab(page, tab)
            charts += assert_every_chart_has_data(page, tab)
            screenshot(page, f"report-{tab}")
            screenshot(page, f"report-{tab}-full", full_page=True)
        assert charts >= 20
        assert not page.query_selector_all(".note"), "a note says data is missing"

        sales = one(lh, "SELECT SUM(revenue) AS r, SUM(orders) AS o FROM gold.sales_daily")
        open_tab(page, "sales")
        assert text(page, '[data-kpi="revenue"] .tile-value') == m(sales["r"])
        assert text(page, '[data-kpi="orders"] .tile-value') == fmt.number(sales["o"])
        p50 = one(lh, "SELECT p50 FROM gold.order_value_distribution LIMIT 1")["p50"]
        assert m(p50) in text(page, "#card-order-values .stats")

        open_tab(page, "products")
        best = one(lh, "SELECT product_name FROM gold.product_performance WHERE revenue_rank = 1")
        assert best["product_name"] in text(page, "#card-top-products .card-title")

        open_tab(page, "customers")
        rate = one(lh, "SELECT repeat_customer_rate AS r FROM gold.repeat_purchase LIMIT 1")["r"]
        assert text(page, "#card-repeat .card-title").startswith(fmt.pct(rate))

        open_tab(page, "ops")
        runs = one(lh, "SELECT COUNT(*) AS n FROM _ops.runs")["n"]
        assert f"of {runs}" in text(page, '[data-tile="runs-ok"] .tile-value')
    assert console.errors == []
    assert all(u.startswith(("file:", "data:")) for u in console.requests), console.requests


def test_filters_change_charts_and_tiles(chromium: Any, report_file: Path, lake: Path) -> None:
    lh = Lakehouse(lake)
    m = fmt.Money("USD")
    console = Console()
    with laptop_page(chromium, console) as page:
        page.goto(report_file.as_uri())
        page.wait_for_selector("body[data-ready=true]")
        lo, hi = "2025-04-15", "2025-04-28"  # the 14 days before are in the data too
        page.fill("#f-from", lo)
        page.dispatch_event("#f-from", "change")
        page.fill("#f-to", hi)
        page.dispatch_event("#f-to", "change")
        week = one(
            lh,
            f"SELECT SUM(revenue) AS r FROM gold.sales_daily WHERE date BETWEEN '{lo}' AND '{hi}'",
        )
        assert text(page, '[data-kpi="revenue"] .tile-value') == m(week["r"])
        assert "vs previous 14 days" in text(page, '[data-kpi="revenue"] .tile-sub')
        page.click('[data-grain="day"]')
        days = page.evaluate(
            "() => document.getElementById('chart-sales-trend').layout.xaxis.range"
        )
        assert days[0][:10] == "2025-04-14" and days[1][:10] == "2025-04-28"  # half a day of margin
        screenshot(page, "report-sales-filtered")

        open_tab(page, "products")
        dept = one(lh, "SELECT department FROM gold.department_sales GROUP BY 1 ORDER BY 1")
        page.select_option("#f-dept", dept["department"])
        best = one(
            lh,
            "SELECT product_name FROM gold.product_performance WHERE department = "
            f"'{dept['department']}' ORDER BY department_revenue_rank, product_id LIMIT 1",
        )
        assert best["product_name"] in text(page, "#card-top-products .card-title")
        assert dept["department"] in text(page, "#card-department-trend .card-title")
        assert_every_chart_has_data(page, "products")
        screenshot(page, "report-products-department")

        open_tab(page, "ops")
        page.click("#card-quarantine details.drill summary")
        rows = page.query_selector_all("#card-quarantine details.drill[open] tbody tr")
        assert 1 <= len(rows) <= 5
        page.select_option("#history-select", "silver.orders")
        assert page.is_visible('[data-history="silver.orders"] table')
        screenshot(page, "report-ops-drilldown")
    assert console.errors == []


@pytest.fixture
def served_copy(lake: Path, tmp_path: Path) -> Iterator[tuple[str, Lakehouse]]:
    """A private copy of the lakehouse served on 127.0.0.1 (a free port), stopped afterwards."""
    from lakehouse.report.server import make_server

    root = tmp_path / "lake"
    shutil.copytree(lake, root)
    server = make_server(Lakehouse(root).root, 0, refresh_seconds=0.5)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host!s}:{port}/", Lakehouse(root)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_served_dashboard_renders_and_reloads_when_a_run_lands(
    chromium: Any, served_copy: tuple[str, Lakehouse]
) -> None:
    url, lh = served_copy
    console = Console()
    with laptop_page(chromium, console) as page:
        page.goto(url + "#ops")
        page.wait_for_selector("body[data-ready=true]")
        assert page.is_visible("#live")
        assert_every_chart_has_data(page, "ops")
        before = text(page, '[data-tile="runs-ok"] .tile-value')
        fingerprint = page.evaluate(
            "() => JSON.parse(document.getElementById('lakehouse-data').textContent).fingerprint"
        )
        lh.run([])  # a new run lands: the page must notice and reload
        page.wait_for_function(
            """(old) => {
                const el = document.getElementById('lakehouse-data');
                return el && document.body.dataset.ready === 'true'
                    && JSON.parse(el.textContent).fingerprint !== old;
            }""",
            arg=fingerprint,
            timeout=30_000,
        )
        assert page.evaluate("() => location.hash") == "#ops"
        after = text(page, '[data-tile="runs-ok"] .tile-value')
        assert before != after and after.endswith("of 3")
        screenshot(page, "serve-ops-after-run")
        open_tab(page, "sales")
        assert_every_chart_has_data(page, "sales")
        screenshot(page, "serve-sales")
    assert console.errors == []
    assert all(u.startswith(url) or u.startswith("data:") for u in console.requests)
