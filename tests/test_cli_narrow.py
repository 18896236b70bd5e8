"""Every table the CLI prints is readable at 80 columns, the way `gh` and `kubectl` print them:
one line per row, names never wrapped nor cut, free text cut with an ellipsis, the
lowest-priority columns left out when even that does not fit. JSON and CSV do not depend on
the terminal at all."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lakehouse import Lakehouse
from lakehouse.cli import app, layout
from lakehouse.cli.data import _first_sentence
from lakehouse.store import zones

SAMPLE = Path(__file__).parent.parent / "sample-data"
NARROW, WIDE = 80, 200


@pytest.fixture(autouse=True)
def _keep_logging() -> Iterator[None]:
    """The commands configure the `lakehouse` logger for a process of their own: undo that."""
    log = logging.getLogger("lakehouse")
    handlers, propagate, level = list(log.handlers), log.propagate, log.level
    yield
    log.handlers[:], log.propagate, log.level = handlers, propagate, level


def cli(width: int, *args: str) -> str:
    r = CliRunner().invoke(app, list(args), env={"COLUMNS": str(width)})
    assert r.exit_code == 0, (r.stdout, r.stderr)
    return r.stdout


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A root built from the bundled sample data (quarantined rows and rejected files too),
    and the run summary the CLI printed for it at 80 columns."""
    root = str(tmp_path_factory.mktemp("narrow") / "lake")
    log = logging.getLogger("lakehouse")
    handlers, propagate, level = list(log.handlers), log.propagate, log.level
    try:
        summary = cli(NARROW, "run", "--root", root, "--source", str(SAMPLE))
    finally:
        log.handlers[:], log.propagate, log.level = handlers, propagate, level
    return root, summary


def tables_json(root: str) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = json.loads(
        cli(WIDE, "tables", "--root", root, "--format", "json")
    )
    return rows


def body(out: str) -> list[str]:
    """The rows of a table: the lines between its vertical rules."""
    return [line for line in out.splitlines() if line.startswith("│")]


def cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip("│").split("│")]


def assert_fits(out: str, width: int = NARROW) -> None:
    long = [line for line in out.splitlines() if len(line) > width]
    assert not long, "\n".join(long)


COMMANDS = [
    ("tables",),
    ("status",),
    ("describe", "silver.orders"),
    ("describe", "silver.order_items"),
    ("describe", "gold.product_performance"),
    ("history", "silver.orders"),
    ("history", "quarantine.order_items"),
    ("sql", "SELECT * FROM silver.orders ORDER BY order_id LIMIT 5"),
    ("sql", "SELECT _source_file, _row, _reasons, order_id, date FROM quarantine.orders LIMIT 5"),
    ("lineage", "gold.product_performance", "--kind", "all"),
    ("pipeline", "show"),
    ("vacuum", "--dry-run"),
]


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_every_table_fits_80_columns_one_line_per_row(
    lake: tuple[str, str], args: tuple[str, ...]
) -> None:
    root = [] if args[0] == "pipeline" else ["--root", lake[0]]
    out = cli(NARROW, *args, *root)
    assert_fits(out)
    for line in body(out):  # every cell of every row on this line, none empty in column 1
        assert cells(line)[0], f"a row continues on a second line:\n{out}"


def test_the_run_summary_fits_80_columns(lake: tuple[str, str]) -> None:
    summary = lake[1]
    assert_fits(summary)
    assert [cells(line)[0] for line in body(summary)] == ["orders", "products", "order_items"]


def test_tables_at_80_columns_names_whole_descriptions_cut(lake: tuple[str, str]) -> None:
    root = lake[0]
    expected = tables_json(root)
    out = cli(NARROW, "tables", "--root", root)
    rows = [cells(line) for line in body(out)]
    assert [r[0] for r in rows] == [t["table"] for t in expected]  # whole, one line each
    for row, t in zip(rows, expected, strict=True):
        summary, shown = _first_sentence(str(t["description"])), row[-1]
        assert shown == summary or (shown.endswith("…") and summary.startswith(shown[:-1]))
        assert row[1] == f"{t['rows']:,}"  # rows stay; version, files, last update go first
    assert "not shown at this width: version, files, last_update" in " ".join(out.split())


def test_tables_at_200_columns_show_every_column_and_description(lake: tuple[str, str]) -> None:
    root = lake[0]
    expected = tables_json(root)
    out = cli(WIDE, "tables", "--root", root)
    assert_fits(out, WIDE)
    assert "not shown" not in out
    rows = [cells(line) for line in body(out)]
    assert [r[0] for r in rows] == [t["table"] for t in expected]
    for row, t in zip(rows, expected, strict=True):
        assert row[-1] == _first_sentence(str(t["description"]))
        assert row[1:4] == [f"{t['rows']:,}", str(t["version"]), str(t["files"])]


def test_describe_keeps_column_names_and_types_whole(lake: tuple[str, str]) -> None:
    root = lake[0]
    contract = Lakehouse(root).contracts["order_items"]
    for width in (NARROW, WIDE):
        out = cli(width, "describe", "silver.order_items", "--root", root)
        rows = [cells(line) for line in body(out)]
        n = len(contract.columns)  # the contract's columns, then the lineage silver keeps
        assert [r[:2] for r in rows[:n]] == [[c.name, c.type] for c in contract.columns]
        assert [r[0] for r in rows[n:]] == list(zones.LINEAGE_NAMES)
    wide = [cells(line)[-1] for line in body(out)]  # at 200 the short descriptions are whole
    short = [c.description for c in contract.columns if len(c.description) <= 60]
    assert short and all(d in wide for d in short)


def test_history_keeps_run_ids_whole(lake: tuple[str, str]) -> None:
    root = lake[0]
    versions = json.loads(cli(WIDE, "history", "silver.orders", "--root", root, "--format", "json"))
    out = cli(NARROW, "history", "silver.orders", "--root", root)
    run_ids = [v["run_id"] for v in versions if v["run_id"]]
    assert run_ids and all(re.search(rf"│ {re.escape(r)} +│", out) for r in run_ids)


@pytest.mark.parametrize(
    "args",
    [
        ("tables", "--format", "json"),
        ("tables", "--format", "csv"),
        ("history", "silver.orders", "--format", "json"),
        ("sql", "--format", "json", "SELECT * FROM quarantine.orders ORDER BY _row"),
        ("sql", "--format", "csv", "SELECT * FROM gold.product_performance"),
        ("lineage", "gold.product_performance", "--format", "json"),
    ],
    ids=" ".join,
)
def test_json_and_csv_do_not_depend_on_the_width(
    lake: tuple[str, str], args: tuple[str, ...]
) -> None:
    root = ["--root", lake[0]]
    narrow, wide = cli(NARROW, *args, *root), cli(WIDE, *args, *root)
    assert narrow == wide
    if "json" in args:
        json.loads(narrow)


def test_a_name_wider_than_the_screen_is_printed_whole() -> None:
    from rich.console import Console

    name = "gold." + "x" * 60
    con = Console(width=40, record=True, file=io.StringIO())
    cols = (layout.name("table"), layout.value("rows", drop=1), layout.text("description"))
    layout.show(con, cols, [(name, "1", "a description of some length")])
    lines = con.export_text().splitlines()
    assert any(f"│ {name} │" in line for line in lines)
    assert con.width == 40  # the console is left as it was


def test_status_with_a_failed_run_and_an_open_alert_fits_80_columns(tmp_path: Path) -> None:
    from lakehouse.errors import TerminalError
    from lakehouse.orchestration import steps
    from lakehouse.orchestration.definition import pipeline_definition
    from lakehouse.orchestration.pipeline import run
    from test_orchestration import QUIET, flaky, small_delivery

    lh = Lakehouse(tmp_path / "lake")
    lh.run(small_delivery(tmp_path / "in"))
    reason = "landing unreadable (test): the object store answered 503 Slow Down three times"
    broken = pipeline_definition().replace_task(
        "discover", fn=flaky(steps.discover, 9, TerminalError(reason))
    )
    with pytest.raises(TerminalError):
        run(lh.root, definition=broken, settings=QUIET)
    shown = {}
    for width in (NARROW, WIDE):
        r = CliRunner().invoke(app, ["status", "--root", lh.root.uri], env={"COLUMNS": str(width)})
        assert r.exit_code == 2, r.stderr  # the failed run is a breach
        assert_fits(r.stdout, width)
        shown[width] = [cells(line) for line in body(r.stdout)]
    failed = [row for row in shown[NARROW] if "FAILED" in row]
    assert len(failed) == 1 and failed[0][-1].endswith("…")  # the error, cut, on one line
    assert f"TerminalError: {reason}".startswith(failed[0][-1][:-1])
    alerts = [row for row in shown[NARROW] if row[0] == "run_failed"]
    assert len(alerts) == 1 and alerts[0][-1].endswith("…")
    assert all(row[0] for row in shown[NARROW])  # no row continues on a second line
    assert any(f"TerminalError: {reason}" in row for row in shown[WIDE])  # whole at 200
