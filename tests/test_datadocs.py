"""`lakehouse docs`: one offline page with every table by zone, columns, checks, lineage and
state; searchable in a real browser (Debian chromium); hostile names never execute."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from browser_support import Console, browser, laptop_page
from lakehouse.contracts.loader import packaged_contracts
from lakehouse.datadocs import write
from lakehouse.gold.model import list_models, models_dir
from lakehouse.store.root import Root

HOSTILE = '</script><img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
HOSTILE_NAME = '"><svg onload=window.__pwned=3>'


@pytest.fixture(scope="module")
def built(two_orders_lake: Path) -> Path:
    return write(Root(str(two_orders_lake)), two_orders_lake.parent / "docs.html")


def test_page_documents_definitions_and_state(built: Path) -> None:
    html = built.read_text()
    assert "<script src" not in html and "http://" not in html.replace("http://www.w3", "")
    silver = html.split('data-table="silver.orders"')[1].split("</section>")[0]
    assert "rows <b>2</b>" not in silver  # one valid row, one quarantined
    assert "rows <b>1</b>" in silver and "Delta version <b>1</b>" in silver
    assert "partitioned by <b>date</b>" in silver
    assert "one of card, paypal, apple_pay" in silver
    assert "reject rate 50.0% (limit 5.0%)" in silver
    assert "staleness" in silver and "1,440 min objective" in silver
    gold = html.split('data-table="gold.product_performance"')[1].split("</section>")[0]
    assert "SQL of the model" in gold and "FROM gold.product_days AS d" in gold
    assert "one row per product in silver.products" in gold
    assert "min objective (from silver." in gold  # as fresh as the silver it reads


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with browser() as b:
        yield b


@pytest.fixture(scope="module")
def page(built: Path, chromium: Any) -> Iterator[tuple[Any, Console]]:
    console = Console()
    with laptop_page(chromium, console) as p:
        p.goto(built.as_uri())
        p.wait_for_selector("body[data-ready=true]", timeout=30_000)
        yield p, console


VISIBLE_TABLES = (
    "() => Array.from(document.querySelectorAll('section.tbl:not([hidden])'))"
    ".map(s => s.dataset.table)"
)


@pytest.mark.browser
def test_filter_finds_a_column_and_shows_its_upstream(page: tuple[Any, Console]) -> None:
    p, console = page
    assert console.errors == []
    assert all(u.startswith("file://") for u in console.requests)  # nothing fetched
    # 3 landing, 3 bronze, 3 silver, 3 quarantine, the manifest; then every gold table
    assert len(p.evaluate(VISIBLE_TABLES)) == 13 + len(list_models())
    p.fill("#filter", "product_performance revenue_rank")
    assert p.evaluate(VISIBLE_TABLES) == ["gold.product_performance"]
    rows = p.locator('[data-table="gold.product_performance"] tr[data-column]:visible')
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.column)") == [
        "revenue_rank",
        "department_revenue_rank",
    ]
    p.fill("#filter", "gold.product_performance")
    revenue = p.locator('[data-table="gold.product_performance"] tr[data-column="revenue"]')
    assert revenue.locator("td.upstream > ul.refs li").all_inner_texts() == [
        "gold.product_days.revenue"
    ]
    revenue.locator("td.upstream summary").click()
    upstream = revenue.locator("td.upstream details li").all_inner_texts()
    assert {"silver.order_items.unit_price", "silver.order_items.quantity"} <= set(upstream)
    assert p.locator("#count").inner_text() != "0 tables"


@pytest.mark.browser
def test_hostile_names_and_descriptions_stay_text(tmp_path: Path, chromium: Any) -> None:
    cdir = tmp_path / "contracts"
    shutil.copytree(
        str(packaged_contracts()), cdir, ignore=shutil.ignore_patterns("*.py", "__pycache__")
    )
    toml = (cdir / "orders.toml").read_text()
    toml = toml.replace('description = "Customer orders:', f'description = "{_toml(HOSTILE)}')
    toml += (
        f'\n[[columns]]\nname = "{_toml(HOSTILE_NAME)}"\ntype = "string"\nrequired = false\n'
        f'description = "{_toml(HOSTILE)}"\n'
    )
    (cdir / "orders.toml").write_text(toml)
    mdir = tmp_path / "models"
    shutil.copytree(models_dir(), mdir)
    sql = (mdir / "sales_daily.sql").read_text()
    sql = sql.replace('name = "sales_daily"', f'name = "sales_daily"\n# {HOSTILE}', 1)
    sql = sql.replace("*/", f"*/\n-- {HOSTILE}", 1)
    (mdir / "sales_daily.sql").write_text(sql)
    out = write(Root(str(tmp_path / "empty")), tmp_path / "docs.html", str(cdir), mdir)
    html = out.read_text()
    assert "<img" not in html and "<svg" not in html and html.count("<script>") == 1
    console = Console()
    with laptop_page(chromium, console) as p:
        p.goto(out.as_uri())
        p.wait_for_selector("body[data-ready=true]", timeout=30_000)
        assert p.evaluate("() => window.__pwned === undefined")
        assert p.evaluate("() => document.querySelectorAll('img, svg').length") == 0
        orders = p.locator('[data-table="silver.orders"]')
        assert HOSTILE in orders.locator("p").first.inner_text()
        assert orders.locator(f"tr[data-column='{_css(HOSTILE_NAME)}']").count() == 1
        assert HOSTILE in p.locator('[data-table="gold.sales_daily"] pre.sql').text_content()
        p.fill("#filter", HOSTILE)
        assert p.evaluate("() => window.__pwned === undefined")
    assert console.errors == []


def _toml(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _css(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")
