"""Data is never taken for code: every sink escapes what it shows (HTML, JSON in HTML, plotly
labels, the terminal)."""

from __future__ import annotations

import html
import http.client
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from escaping_support import CLOSER, DEPARTMENT, PRODUCT, hostile_lake
from lakehouse.report import build
from lakehouse.report.charts import figure
from lakehouse.report.markup import script_json

SCENARIO = Path(__file__).parent / "scenarios" / "corrections" / "input" / "run1"
LINK = "\x1b]8;;mailto:a@b\x07x\x1b]8;;\x07"  # a terminal hyperlink, shown as "x"


class Page(HTMLParser):
    """What a browser would see of the page: anchors, option texts, the data script's text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []
        self.options: list[str] = []
        self.data_script: str | None = None
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "a":
            self.hrefs.append(a.get("href") or "")
        elif tag == "option":
            self._in = "option"
            self.options.append("")
        elif tag == "script" and a.get("id") == "lakehouse-data":
            self._in = "data"
            self.data_script = ""

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "option":
            self.options[-1] += data
        elif self._in == "data":
            self.data_script = (self.data_script or "") + data


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> str:
    return build(hostile_lake(tmp_path_factory.mktemp("hostile")).root)


def _strings(value: Any, key: str = "") -> list[tuple[str, str]]:
    """Every (key, string) pair in a figure."""
    if isinstance(value, str):
        return [(key, value)]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _strings(v, k)]
    if isinstance(value, list):
        return [p for v in value for p in _strings(v, key)]
    return []


def test_embedded_json_cannot_end_or_bend_its_script_and_reads_back_exactly(page: str) -> None:
    parsed = Page()
    parsed.feed(page)
    text = parsed.data_script
    assert text is not None
    # `</script` ends the element, `<!--` and `<script` change the parser's state: with no `<`
    # at all the browser sees exactly the JSON we wrote
    assert "<" not in text and ">" not in text and "&" not in text
    data = json.loads(text)
    assert DEPARTMENT in data["charts"]["departments"]["variants"]  # a variant key, exact
    shown = {html.unescape(s) for _, s in _strings(data["charts"]["top-products"])}
    assert f"{PRODUCT} (1)" in shown and f"{CLOSER} (2)" in shown


def test_chart_text_is_escaped_for_plotly_and_no_data_is_in_a_template(page: str) -> None:
    parsed = Page()
    parsed.feed(page)
    data = json.loads(parsed.data_script or "")
    pairs = [p for spec in data["charts"].values() for p in _strings(spec["variants"])]
    texts = [s for k, s in pairs if not k.endswith("template")]
    assert not [s for s in texts if "<" in s or ">" in s]  # plotly renders tags, so none
    assert html.escape(DEPARTMENT, quote=False) in texts  # the department, as a label
    templates = [s for k, s in pairs if k.endswith("template")]
    for needle in ("http://x", "script", "bold"):
        assert not [t for t in templates if needle in t]


def test_page_html_has_no_link_or_tag_from_data(page: str) -> None:
    parsed = Page()
    parsed.feed(page)
    assert parsed.hrefs and all(h.startswith("#") for h in parsed.hrefs)  # the page's own tabs
    assert DEPARTMENT in parsed.options  # shown as text in the department filter
    body = page.split('id="lakehouse-data"')[0]
    for raw in (PRODUCT, DEPARTMENT, CLOSER):
        assert raw not in body


class Rows(HTMLParser):
    """Every table row's data-key and cell texts, every tag, and the card title's text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[tuple[str | None, list[str]]] = []
        self.tags: list[str] = []
        self.title = ""
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "tr":
            self.rows.append((dict(attrs).get("data-key"), []))
        elif tag == "td":
            self.rows[-1][1].append("")
            self._in = "td"
        elif tag == "h3":
            self._in = "h3"

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "td":
            self.rows[-1][1][-1] += data
        elif self._in == "h3":
            self.title += data


def test_gold_freshness_shows_model_names_as_text() -> None:
    """The gold freshness card: names in its title, cells and row keys (which the served page's
    script matches against `/api/state`) are text, read back exactly."""
    import datetime as dt

    from lakehouse.report.ops_data import Operations
    from lakehouse.report.ops_page import gold_card
    from lakehouse.report.page import card_html

    now = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)
    names = [PRODUCT, DEPARTMENT, CLOSER]
    o = Operations(
        now,
        gold=[
            {
                "table": n,
                "as_of": now,
                "state": "past budget",
                "staleness_minutes": 20.0,
                "budget_minutes": 15.0,
            }
            for n in names
        ],
        gold_every_run=[CLOSER],
    )
    text = card_html(gold_card(o))
    for raw in names:
        assert raw not in text
    parsed = Rows()
    parsed.feed(text)
    assert set(parsed.tags) <= {"article", "header", "h3", "p", "div", "table", "thead", "tbody",
                                "tr", "th", "td", "code", "span"}  # fmt: skip
    assert [(k, cells[0]) for k, cells in parsed.rows if k is not None] == [(n, n) for n in names]
    assert parsed.title.endswith(f"past their staleness budget: {', '.join(names)}")


def test_figure_escapes_every_string_but_its_templates() -> None:
    fig = figure(
        [{"type": "bar", "name": "a&b", "y": [DEPARTMENT], "hovertemplate": "%{y}<br>%{x}"}],
        {"annotations": [{"text": "<b>x</b>"}]},
    )
    trace = fig["data"][0]
    assert trace["y"] == ['&lt;a href="http://x"&gt;d&lt;/a&gt;'] and trace["name"] == "a&amp;b"
    assert trace["hovertemplate"] == "%{y}<br>%{x}"
    assert fig["layout"]["annotations"] == [{"text": "&lt;b&gt;x&lt;/b&gt;"}]


def test_a_text_log_line_is_one_event_whatever_its_fields_hold() -> None:
    """`LAKEHOUSE_LOG=text`: a field quoting a file name with a line break and an escape
    sequence stays on its event's line, and no control character reaches the terminal."""
    import logging

    from lakehouse.log import _TextFormatter

    record = logging.LogRecord("lakehouse", logging.WARNING, "", 0, "file_rejected", None, None)
    record.fields = {"file": "a\x1b[2J.csv\nerror   run_failed run_id=forged", "rows": 3}
    line = _TextFormatter().format(record)
    assert line == (
        "warning file_rejected file=a\\x1b[2J.csv\\nerror   run_failed run_id=forged rows=3"
    )


def test_script_json_escapes_markup_and_line_separators() -> None:
    text = json.dumps({"k": "</script><!--<script>&\u2028\u2029"}, ensure_ascii=False)
    safe = script_json(text)
    assert (
        safe == '{"k": "\\u003c/script\\u003e\\u003c!--\\u003cscript\\u003e\\u0026\\u2028\\u2029"}'
    )
    assert json.loads(safe) == json.loads(text)


# --- the terminal ------------------------------------------------------------------------------
def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}  # no wrapping: names are checked on one line
    return subprocess.run(
        [sys.executable, "-m", "lakehouse", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_run_summary_prints_markup_like_names_literally_and_exits_0(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "orders[").mkdir(parents=True)
    shutil.copy(SCENARIO / "orders_day1.csv", src / "orders[" / "x].csv")  # orders[/x].csv
    (src / "orders[" / "x]_bad.csv").write_text("order_num,order_id,[/x]\n1,2,3\n")
    (src / "products.csv").write_text("product_id,department_id,department,product_name,[bold]\n")
    (src / f"orders{LINK}.csv").write_text("order_num,order_id,[/y]\n1,2,3\n")
    root = str(tmp_path / "lake")
    p = _cli("run", "--root", root, "--source", str(src))
    assert p.returncode == 0, p.stderr
    assert "SUCCEEDED" in p.stdout
    assert "  rejected src/orders[/x]_bad.csv: unreadable_file\n" in p.stdout
    assert "  rejected src/products.csv: unexpected_column:[bold]\n" in p.stdout
    # a terminal hyperlink (OSC 8) in a file name is shown as text, not sent to the terminal
    assert "  rejected src/orders\\x1b]8;;mailto:a@b\\x07x\\x1b]8;;\\x07.csv: " in p.stdout
    assert "\x1b" not in p.stdout

    q = _cli(
        "sql",
        "--root",
        root,
        "SELECT '[/x] :smile:' AS \"[bold]\", _source_file FROM silver.orders LIMIT 1",
    )
    assert q.returncode == 0, q.stderr
    assert "[bold]" in q.stdout and "[/x] :smile:" in q.stdout and "src/orders[/x].csv" in q.stdout

    q = _cli("sql", "--root", root, "SELECT chr(27) || '[2J' || chr(8238) AS c")
    assert q.returncode == 0 and "\\x1b[2J\\u202e" in q.stdout and "\x1b" not in q.stdout
    e = _cli("describe", "--root", root, "silver.x\x1b[2J")
    assert e.returncode == 1 and "silver.x\\x1b[2J" in e.stderr and "\x1b" not in e.stderr


def test_a_line_break_in_data_cannot_print_a_line_of_its_own(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file name, a header or a value holding a line break is shown on its own line with the
    break written as `\\n`: data cannot print a line that reads like the program's ("root:
    ...", "files loaded: ..."), and one row of a table stays one line."""
    from lakehouse.glue import main
    from lakehouse.monitoring.notifiers import ConsoleNotifier

    forged = "\nfiles loaded: 9, rejected: 0, already seen: 0\nroot: s3://forged"
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(SCENARIO / "orders_day1.csv", src / "orders_day1.csv")
    bad_orders = "order_num,order_id,user_id,order_timestamp,total_amount,date,bad\n"
    (src / f"orders_x{forged.replace('/', '_')}.csv").write_text(bad_orders)
    header = forged.replace("\n", "\u2028", 1)  # a line separator first
    bad_products = f'product_id,department_id,department,product_name,"{header}"\n'
    (src / "products_h.csv").write_text(bad_products)
    root = str(tmp_path / "lake")
    p = _cli("run", "--root", root, "--source", str(src))
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert [x for x in lines if x.startswith(("files loaded", "root:"))] == [
        "files loaded: 1, rejected: 2, already seen: 0",
        f"root: {root}",
    ]
    assert [x for x in lines if x.startswith("  rejected")] == [
        "  rejected src/orders_x\\nfiles loaded: 9, rejected: 0, already seen: 0\\nroot: "
        "s3:__forged.csv: unexpected_column:bad",
        # the header's line separator is trimmed as whitespace; its newline is shown
        "  rejected src/products_h.csv: unexpected_column:files loaded: 9, rejected: 0, already "
        "seen: 0\\nroot: s3://forged",
    ]

    q = _cli("sql", "--root", root, "SELECT file FROM _ops.files WHERE status = 'rejected'")
    assert q.returncode == 0, q.stderr
    assert not [x for x in q.stdout.splitlines() if "root:" in x and "\\n" not in x], q.stdout

    ConsoleNotifier("console").send(
        {"severity": "warning", "change": "opened", "rule": "r", "subject": "s", "message": forged}
    )
    with pytest.raises(SystemExit):
        main(["job.py", "--root", root, "--step", f"x\x1b[2J{forged}"])
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 2 and "\x1b" not in err, err
    assert err.count("\\nroot: s3://forged") == 2, err


# --- serve: only its own host names ------------------------------------------------------------
@pytest.fixture
def server_port(tmp_path: Path) -> Iterator[int]:
    from lakehouse.report.server import make_server
    from lakehouse.store.root import Root

    server = make_server(Root(str(tmp_path / "lake")), 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _ask(port: int, host: str | None, path: str = "/healthz", method: str = "GET") -> int:
    con = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        con.putrequest(method, path, skip_host=True)
        if host is not None:
            con.putheader("Host", host)
        con.endheaders()
        return con.getresponse().status
    finally:
        con.close()


def test_serve_answers_only_its_own_host_names(server_port: int) -> None:
    p = server_port
    for own in (f"127.0.0.1:{p}", f"localhost:{p}", f"LocalHost:{p}", f"[::1]:{p}"):
        assert _ask(p, own) == 200, own
    for foreign in (f"rebound.example:{p}", "rebound.example", f"127.0.0.1:{p + 1}", "", None):
        assert _ask(p, foreign) == 421, foreign  # DNS rebinding: a foreign name, same socket
        assert _ask(p, foreign, "/api/state") == 421, foreign
    assert _ask(p, f"rebound.example:{p}", "/", "POST") == 421
    assert _ask(p, f"127.0.0.1:{p}", "/", "POST") == 405
