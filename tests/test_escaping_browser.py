"""Data that looks like markup, in a real browser (Debian chromium via Playwright): the
dashboard of a lakehouse whose product is named `<!--<script>` and whose department is a link
renders, shows those names as text, and has no link built from data."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from browser_support import Console, browser, laptop_page, open_tab
from escaping_support import CLOSER, DEPARTMENT, PRODUCT, REJECTED, hostile_lake

pytestmark = [pytest.mark.browser]

LINKS = """() => Array.from(document.querySelectorAll('a'))
  .map(a => a.getAttribute('href') || a.getAttribute('xlink:href') || '')"""
TICKS = """(id) => Array.from(document.querySelectorAll('#chart-' + id + ' .ytick text'))
  .map(t => t.textContent)"""
HOVER = """([id, trace, point]) => {
  const el = document.getElementById('chart-' + id);
  Plotly.Fx.hover(el, [{curveNumber: trace, pointNumber: point}]);
  return Array.from(el.querySelectorAll('.hoverlayer text')).map(t => t.textContent).join(' ');
}"""


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Console]]:
    from lakehouse.report import write

    base = tmp_path_factory.mktemp("hostile-browser")
    out = write(hostile_lake(base).root, base / "dashboard.html")
    console = Console()
    with browser() as b, laptop_page(b, console) as p:
        p.goto(out.as_uri())
        p.wait_for_selector("body[data-ready=true]", timeout=30_000)
        open_tab(p, "products")
        yield p, console


def test_dashboard_renders_with_markup_like_names(page: tuple[Any, Console]) -> None:
    p, console = page
    assert console.errors == []
    drawn = p.evaluate(
        "() => Array.from(document.querySelectorAll('#page-products .chart'))"
        ".filter(el => el.classList.contains('js-plotly-plot')).length"
    )
    assert drawn == 8  # every chart of the products page


def test_names_are_shown_as_text_and_no_link_comes_from_data(page: tuple[Any, Console]) -> None:
    p, _ = page
    links = p.evaluate(LINKS)
    assert links and all(h.startswith("#") for h in links), links  # tabs and tables only
    assert DEPARTMENT in p.evaluate(TICKS, "departments")
    assert {f"{PRODUCT} (1)", f"{CLOSER} (2)"} <= set(p.evaluate(TICKS, "top-products"))
    legend = p.evaluate(
        "() => Array.from(document.querySelectorAll('#chart-department-trend .legendtext'))"
        ".map(t => t.textContent)"
    )
    assert DEPARTMENT in legend


def test_hover_labels_show_names_literally(page: tuple[Any, Console]) -> None:
    p, _ = page
    trend = p.evaluate("() => document.getElementById('chart-department-trend').data")
    i = next(n for n, t in enumerate(trend) if "href" in t["name"])
    assert p.evaluate(HOVER, ["department-trend", i, 0]).startswith(f"{DEPARTMENT} $")
    bars = p.evaluate("() => document.getElementById('chart-departments').data[0].y")
    j = next(n for n, y in enumerate(bars) if "href" in y)
    assert p.evaluate(HOVER, ["departments", 0, j]).startswith(f"{DEPARTMENT}: $")
    assert all(h.startswith("#") for h in p.evaluate(LINKS))  # hovering built no link


def test_the_department_filter_takes_the_name_as_a_value(page: tuple[Any, Console]) -> None:
    p, console = page
    p.select_option("#f-dept", value=DEPARTMENT)
    p.wait_for_function(
        "(d) => document.querySelector('#card-department-trend .card-title').textContent"
        ".endsWith(d)",
        arg=DEPARTMENT,
    )
    assert p.inner_text("#card-department-trend .card-title") == f"Daily revenue of {DEPARTMENT}"
    assert all(h.startswith("#") for h in p.evaluate(LINKS))  # hovering built no link
    assert console.errors == []


def test_operations_page_shows_a_rejected_file_name_as_text(page: tuple[Any, Console]) -> None:
    p, console = page
    open_tab(p, "ops")
    shown = p.evaluate(
        "() => Array.from(document.querySelectorAll('#card-quarantine td'))"
        ".map(td => td.textContent)"
    )
    assert f"source/{REJECTED}" in shown
    assert any(f"unexpected_column:{DEPARTMENT}" in cell for cell in shown)
    assert p.evaluate("() => document.querySelectorAll('img').length") == 0
    assert all(h.startswith("#") for h in p.evaluate(LINKS))
    assert console.errors == []
