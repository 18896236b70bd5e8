"""The dashboard on a damaged, hostile or empty root: names are never SQL, one unreadable table
is a note, an empty root is not called fresh, errors do not reload open pages, and the
server and the report file refuse what they cannot do (found by an adversarial pass)."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from browser_support import shared_dir, shared_lake
from lakehouse.errors import TerminalError
from lakehouse.report import build, write
from lakehouse.report.cards import ALL, variant_key
from lakehouse.report.data import Source
from lakehouse.report.ops_data import operations
from lakehouse.report.server import make_server
from lakehouse.store.root import Root


@pytest.fixture(scope="session")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_lake(shared_dir(tmp_path_factory))


@pytest.fixture
def copy(lake: Path, tmp_path: Path) -> Path:
    """A copy of the report lake this test may damage."""
    out = tmp_path / "lake"
    shutil.copytree(lake, out)
    return out


def quarantined(root: Path) -> dict[str, int]:
    src = Source(Root(str(root)))
    try:
        return operations(src).quarantine_rows
    finally:
        src.close()


def test_a_table_folder_named_like_sql_is_a_name_never_a_statement(
    copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder under quarantine/ was pasted into the dashboard's SQL: one named
    `orders; COPY (...) TO 'pwned.csv'; ...` wrote a file on every `GET /`, and a backup copy
    named `products-old` made the page say nothing was in quarantine."""
    before = quarantined(copy)
    shutil.copytree(copy / "quarantine" / "orders", copy / "quarantine" / "orders-old")
    evil = "orders; COPY (SELECT 42 AS x) TO 'pwned.csv'; SELECT 1 AS n"
    shutil.copytree(copy / "quarantine" / "orders", copy / "quarantine" / evil)
    monkeypatch.chdir(tmp_path)
    page = build(Root(str(copy)))
    assert not (tmp_path / "pwned.csv").exists()
    assert "ParserException" not in page
    rows = quarantined(copy)
    assert rows == {**before, "orders-old": before["orders"], evil: before["orders"]}


def test_one_unreadable_gold_table_is_named_and_the_rest_of_the_page_is_built(
    copy: Path,
) -> None:
    """A gold table with a data file gone failed the whole dashboard (report exit 1, `/` 500),
    its operations page included."""
    [data] = sorted((copy / "gold" / "department_sales").rglob("*.parquet"))[:1]
    data.unlink()
    page = build(Root(str(copy)))
    assert "1 of " in page and "tables could not be read: gold.department_sales" in page
    assert 'id="kpis"' in page  # the other gold tables are charted


def test_an_empty_root_is_not_called_fresh(tmp_path: Path) -> None:
    """A root given one folder too high said every silver table was within its objective."""
    (tmp_path / "empty").mkdir()
    page = build(Root(str(tmp_path / "empty")))
    assert "No run has loaded data under this root yet: no table is fresh" in page
    assert "within their freshness objective" not in page


def test_the_all_departments_key_is_no_department_s_name() -> None:
    """It was "*": a department named "*" showed every department's charts."""
    assert variant_key(grain="day", dept=ALL) != variant_key(grain="day", dept="*")
    assert ALL == ""  # a department is required, and empty text is no value


def test_report_refuses_a_folder_as_its_file_and_leaves_nothing(lake: Path, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    with pytest.raises(TerminalError, match="is a folder: give the page a file name"):
        write(Root(str(lake)), tmp_path / "out")
    assert sorted(os.listdir(tmp_path)) == ["out"]  # no out.tmp of 5 MB left behind


@pytest.fixture
def served(copy: Path) -> Iterator[tuple[int, Path]]:
    server = make_server(Root(str(copy)), 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1]), copy
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def ask(port: int, method: str, path: str, host: str | None = None) -> tuple[int, bytes]:
    con = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        con.request(method, path, headers={"Host": host or f"127.0.0.1:{port}"})
        answer = con.getresponse()
        return answer.status, answer.read()
    finally:
        con.close()


def test_a_settings_typo_is_an_error_in_the_state_not_new_data(
    served: tuple[int, Path],
) -> None:
    """`/api/state` answered 500 without a fingerprint, which open pages took for new data:
    they reloaded every few seconds for as long as the typo stayed."""
    port, root = served
    code, body = ask(port, "GET", "/api/state")
    fingerprint = json.loads(body)["fingerprint"]
    (root / "lakehouse.toml").write_text('[gold]\nstaleness_minutes = "fifteen"\n')
    code, body = ask(port, "GET", "/api/state")
    state = json.loads(body)
    assert (code, state["fingerprint"], state["gold"]) == (200, fingerprint, None)
    assert state["error"].startswith("ConfigError") and "fifteen" in state["error"]


@pytest.mark.parametrize("method", ["TRACE", "PROPFIND", "FOO"])
def test_every_other_method_is_checked_for_its_host_then_refused(
    served: tuple[int, Path], method: str
) -> None:
    """They got the standard library's 501 page, before the Host check."""
    port, _ = served
    assert ask(port, method, "/", host="evil.example")[0] == 421
    assert ask(port, method, "/")[0] == 405
