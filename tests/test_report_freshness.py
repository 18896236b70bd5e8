"""Gold freshness on the dashboard: each gold model with a staleness budget, its as-of time, its
state (current, behind, past budget), minutes behind and budget, drawn in the report file; on
the served page the rows follow `/api/state` between reloads."""

from __future__ import annotations

import datetime as dt
import html
import re
import shutil
import threading
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from browser_support import Console, browser, laptop_page, screenshot
from lakehouse import Lakehouse
from lakehouse.generate import generate
from lakehouse.gold import list_models
from lakehouse.report import build
from lakehouse.report.ops_page import gold_title

T0 = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
MIN = dt.timedelta(minutes=1)
BUDGET = sorted(f"gold.{m.name}" for m in list_models() if m.freshness == "budget")
EVERY_RUN = sorted(f"gold.{m.name}" for m in list_models() if m.freshness == "every run")
# order_value_distribution is refreshed by every run (a budget of 0); customer_segments may lag 8
# minutes; the others the default 15
MIXED = """
[gold.models.order_value_distribution]
staleness_minutes = 0

[gold.models.customer_segments]
staleness_minutes = 8
"""


def lake_behind(dest: Path, first: dt.datetime, config: str) -> Lakehouse:
    """Two runs, at `first` and 5 minutes later with the last day's orders: the second leaves
    the budget models behind silver (those with a budget of 0 excepted)."""
    src = dest / "gen"
    generate(src, orders=200, products=30, days=3, seed=5, fmt="csv")
    files = sorted(src.glob("*.csv"))
    last = max(p.stem.rsplit("_", 1)[-1] for p in files if not p.name.startswith("products"))
    later = [p for p in files if p.stem.endswith(last) and not p.name.startswith("products")]
    (dest / "lake").mkdir()
    (dest / "lake" / "lakehouse.toml").write_text(config)
    lh = Lakehouse(dest / "lake")
    lh.run([p for p in files if p not in later], now=first)
    lh.run(later, now=first + 5 * MIN)
    return lh


class GoldCard(HTMLParser):
    """The gold freshness card as a browser reads it: title, rows (key and cell texts), note."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.rows: dict[str, list[str]] = {}
        self.note = ""
        self._in: str | None = None
        self._row: list[str] | None = None
        card = re.search(r'<article[^>]* id="card-gold-freshness".*?</article>', page, re.S)
        assert card is not None, "no gold freshness card"
        self.feed(card[0])

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "h3":
            self._in = "title"
        elif tag == "tr" and a.get("data-key") is not None:
            self._row = self.rows.setdefault(a["data-key"] or "", [])
        elif tag == "td" and self._row is not None:
            self._row.append("")
            self._in = "cell"
        elif tag == "p" and a.get("id") == "gold-every-run":
            self._in = "note"

    def handle_endtag(self, tag: str) -> None:
        if tag in ("h3", "td", "p"):
            self._in = None
        elif tag == "tr":
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._in == "title":
            self.title += data
        elif self._in == "cell" and self._row is not None:
            self._row[-1] += data
        elif self._in == "note":
            self.note += data


def tile(page: str, name: str) -> tuple[str, str]:
    """A tile of the operations page: its value and its note, as text."""
    found = re.search(
        rf'data-tile="{name}">.*?class="tile-value">(.*?)</div><div class="tile-sub">(.*?)</div>',
        page,
        re.S,
    )
    assert found is not None, name
    return re.sub(r"<[^>]+>", "", found[1]).strip(), html.unescape(found[2])


def silver_objectives(lh: Lakehouse, now: dt.datetime) -> list[bool]:
    """Whether each silver table with a freshness objective is fresh, as `lakehouse status`
    reports it."""
    from lakehouse.config.loader import load
    from lakehouse.contracts import load_contracts
    from lakehouse.monitoring.status import report

    return [t.fresh for t in report(lh.root, load(lh.root), load_contracts(None), now=now).tables]


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lakehouse:
    return lake_behind(tmp_path_factory.mktemp("gold-fresh"), T0, MIXED)


def test_report_draws_each_budget_model_with_its_state_minutes_and_budget(lake: Lakehouse) -> None:
    card = GoldCard(build(lake.root, now=T0 + 10 * MIN))
    behind = ["gold.cohort_retention", "2026-12-01 12:00 UTC", "• behind", "10.0", "15"]
    expected = {t: [t, *behind[1:]] for t in BUDGET}
    expected["gold.order_value_distribution"] = [
        "gold.order_value_distribution",
        "2026-12-01 12:05 UTC",  # rebuilt by the second run: its budget is 0
        "✓ current",
        "0.0",
        "0",
    ]
    expected["gold.customer_segments"] = [
        "gold.customer_segments",
        "2026-12-01 12:00 UTC",
        "✗ past budget",  # 10 minutes behind, 8 allowed
        "10.0",
        "8",
    ]
    assert list(card.rows) == BUDGET  # by name, every-run models not listed
    assert card.rows == expected
    assert card.title == (
        f"Gold freshness: 1 of {len(BUDGET)} budget models are past their staleness budget: "
        "gold.customer_segments"
    )
    assert card.note == (
        f"Every-run models ({len(EVERY_RUN)}, not listed) are rebuilt by each run that changes "
        "what they read: current when a run ends."
    )

    silver = silver_objectives(lake, T0 + 10 * MIN)
    assert silver and all(silver)  # so the one stale table is gold.customer_segments
    stale = tile(build(lake.root, now=T0 + 10 * MIN), "stale")
    assert stale == ("✗ 1", f"of {len(silver) + len(BUDGET)} with a freshness objective or budget")

    six = GoldCard(build(lake.root, now=T0 + 6 * MIN)).rows  # segments still within its 8 minutes
    assert six["gold.customer_segments"][2:] == ["• behind", "6.0", "8"]
    assert [t for t, r in six.items() if r[2] == "• behind"] == [
        t for t in BUDGET if t != "gold.order_value_distribution"
    ]
    assert GoldCard(build(lake.root, now=T0 + 6 * MIN)).title == (
        f"Gold freshness: {len(BUDGET) - 1} of {len(BUDGET)} budget models are behind silver, "
        "within their budget"
    )


def test_once_a_run_catches_them_up_every_budget_model_is_current(
    lake: Lakehouse, tmp_path: Path
) -> None:
    shutil.copytree(lake.root.uri, tmp_path / "lake")
    lh = Lakehouse(tmp_path / "lake")
    lh.run([], now=T0 + 16 * MIN)  # every budget is spent: the run rebuilds them all
    card = GoldCard(build(lh.root, now=T0 + 17 * MIN))
    assert {t: r[1:4] for t, r in card.rows.items()} == {
        t: ["2026-12-01 12:16 UTC", "✓ current", "0.0"] for t in BUDGET
    }
    assert card.title == f"Gold freshness: all {len(BUDGET)} budget models are current"


def test_a_root_without_gold_builds_says_so(tmp_path: Path) -> None:
    page = build(tmp_path / "nothing-here")
    article = re.search(r'<article[^>]* id="card-gold-freshness".*?</article>', page, re.S)
    assert article is not None
    assert "Gold freshness: no gold build yet" in article[0] and "<tr data-key" not in article[0]


# --- the served page: rows follow /api/state between reloads ---------------------------------
ROWS = """() => Array.from(document.querySelectorAll('#card-gold-freshness tbody tr'))
  .map(tr => [tr.dataset.key, tr.querySelector('.badge').className,
              ...Array.from(tr.cells).map(td => td.textContent)])"""


@pytest.fixture
def served_behind(tmp_path: Path) -> Iterator[tuple[str, Lakehouse]]:
    """Budget models behind silver by an hour (wall clock), with a budget of 1000 minutes,
    served on 127.0.0.1 and polled every half second."""
    from lakehouse.report.server import make_server

    now = dt.datetime.now(dt.UTC)
    lh = lake_behind(tmp_path, now - 60 * MIN, "[gold]\nstaleness_minutes = 1000\n")
    server = make_server(lh.root, 0, refresh_seconds=0.5)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host!s}:{port}/", lh
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def minutes(text: str) -> float:
    return float(text.replace(",", ""))


@pytest.mark.browser
def test_served_page_follows_gold_freshness_from_api_state(
    served_behind: tuple[str, Lakehouse],
) -> None:
    url, lh = served_behind
    console = Console()
    with browser() as b, laptop_page(b, console) as page:
        page.goto(url + "#ops")
        page.wait_for_selector("body[data-ready=true]")
        rows: list[list[Any]] = page.evaluate(ROWS)
        assert [r[0] for r in rows] == BUDGET
        for key, cls, name, _, state, behind, budget in rows:
            assert (name, cls, state, budget) == (key, "badge info", "• behind", "1,000")
            assert 60 <= minutes(behind) < 70
        page.evaluate("() => { window.notReloaded = true; }")

        # the budget changes, no table does: the page is not reloaded, the next poll redraws
        Path(lh.root.uri, "lakehouse.toml").write_text(
            "[gold]\nstaleness_minutes = 1000\n\n[gold.models.customer_segments]\n"
            "staleness_minutes = 30\n"
        )
        page.wait_for_function(
            """() => document.querySelector(
                '#card-gold-freshness tr[data-key="gold.customer_segments"] .badge'
            ).textContent.endsWith('past budget')""",
            timeout=30_000,
        )
        assert page.evaluate("() => window.notReloaded") is True
        after = {r[0]: r for r in page.evaluate(ROWS)}
        pairs = after.pop("gold.customer_segments")
        assert pairs[1:3] == ["badge bad", "gold.customer_segments"]
        assert (pairs[4], pairs[6]) == ("✗ past budget", "30")
        assert 60 <= minutes(pairs[5]) < 70
        assert {r[4] for r in after.values()} == {"• behind"}
        title = page.inner_text("#card-gold-freshness .card-title")
        states = [
            {"table": t, "state": "past budget" if t == "gold.customer_segments" else "behind"}
            for t in BUDGET
        ]
        assert title == gold_title(states)
        assert title.endswith("past their staleness budget: gold.customer_segments")
        page.locator("#card-gold-freshness").scroll_into_view_if_needed()
        screenshot(page, "serve-ops-gold-freshness")
    assert console.errors == []
