"""Notifiers: a webhook against a real HTTP server on 127.0.0.1 (retries on 5xx), a JSON-lines
file, the console; a permanently failing run is FAILED, leaves the tables as they were and
notifies each notifier exactly once — and a failure that continues does not notify again."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from lakehouse import Lakehouse
from lakehouse.config.loader import load
from lakehouse.config.settings import NotifierSettings, Secret, Settings
from lakehouse.errors import TerminalError
from lakehouse.monitoring.alerts import AlertChange
from lakehouse.monitoring.notifiers import WebhookNotifier, dispatch
from lakehouse.orchestration import steps
from lakehouse.orchestration.definition import pipeline_definition
from lakehouse.orchestration.pipeline import run
from lakehouse.store.root import Root
from test_orchestration import flaky, small_delivery


class Hook(ThreadingHTTPServer):
    """Records each POST; answers `statuses` in turn, then 200."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.received: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.statuses: list[int] = []
        self.attempts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


class _Handler(BaseHTTPRequestHandler):
    server: Hook

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.attempts += 1
        status = self.server.statuses.pop(0) if self.server.statuses else 200
        if status == 200:
            self.server.received.append(json.loads(body))
            self.server.headers.append(dict(self.headers))
        self.send_response(status)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[Hook]:
    server = Hook()
    t = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    t.start()
    yield server
    server.shutdown()
    server.server_close()


def change() -> AlertChange:
    now = dt.datetime(2025, 5, 1, tzinfo=dt.UTC)
    return AlertChange(
        "opened",
        {
            "alert_id": "a1",
            "rule": "run_failed",
            "subject": "pipeline",
            "severity": "critical",
            "status": "open",
            "message": "run failed: boom",
            "value": 1.0,
            "threshold": 0.0,
            "run_id": "r1",
            "opened_at": now,
            "last_seen_at": now,
        },
    )


def webhook(hook: Hook, **kw: Any) -> NotifierSettings:
    return NotifierSettings("hook", "webhook", url=Secret(hook.url), backoff_seconds=0.01, **kw)


def test_webhook_retries_server_errors_then_delivers_once(hook: Hook, tmp_path: Path) -> None:
    hook.statuses = [503, 500]
    s = webhook(hook, headers={"Authorization": Secret("Bearer tok")})
    assert dispatch([WebhookNotifier(s)], [change()], Root(tmp_path)) == 1
    assert hook.attempts == 3 and len(hook.received) == 1
    assert hook.received[0]["rule"] == "run_failed"
    assert hook.received[0]["text"].startswith("[lakehouse critical] opened: run_failed")
    assert hook.headers[0]["Authorization"] == "Bearer tok"


def test_webhook_gives_up_on_client_errors_without_raising(hook: Hook, tmp_path: Path) -> None:
    hook.statuses = [400]
    assert dispatch([WebhookNotifier(webhook(hook))], [change()], Root(tmp_path)) == 0
    assert hook.attempts == 1  # a 4xx will not get better by retrying


def test_webhook_retries_are_bounded(hook: Hook, tmp_path: Path) -> None:
    hook.statuses = [503] * 10
    assert dispatch([WebhookNotifier(webhook(hook, retries=2))], [change()], Root(tmp_path)) == 0
    assert hook.attempts == 3


def config_for(hook: Hook) -> str:
    return f"""
[notifiers.console]
type = "console"
[notifiers.file]
type = "file"
[notifiers.hook]
type = "webhook"
url = "{hook.url}"
backoff_seconds = 0.01
"""


def versions(lh: Lakehouse) -> dict[str, int]:
    return {t.name: t.version for t in lh.tables() if not t.name.startswith("_ops")}


def test_permanent_failure_is_recorded_leaves_tables_and_notifies_each_once(
    hook: Hook, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lh = Lakehouse(tmp_path / "lake")
    Path(lh.root.uri).mkdir(parents=True)
    Path(lh.root.path("lakehouse.toml")).write_text(config_for(hook))
    delivery = {f.name: f for f in small_delivery(tmp_path / "in")}
    lh.run([delivery.pop("products.csv")])  # tables exist before the failure
    before = versions(lh)
    capsys.readouterr()
    broken = pipeline_definition().replace_task(
        "bronze", fn=flaky(steps.bronze, 99, TerminalError("orders.toml: bad column type"))
    )
    for f in delivery.values():
        lh.root.copy_in(f, lh.root.path("landing", f.name))
    for _ in range(2):  # the same failure twice: the second is not news
        with pytest.raises(TerminalError, match="bad column type"):
            run(lh.root, definition=broken)
    assert versions(lh) == before
    runs = lh.sql("SELECT status, error FROM _ops.runs ORDER BY started_at").to_pylist()
    assert [r["status"] for r in runs] == ["SUCCEEDED", "FAILED", "FAILED"]
    assert runs[1]["error"] == "TerminalError: orders.toml: bad column type"
    assert len(hook.received) == 1, [(m["rule"], m["message"]) for m in hook.received]
    assert hook.received[0]["rule"] == "run_failed"
    assert "bad column type" in hook.received[0]["message"]
    lines = Path(lh.root.path("_ops", "notifications.jsonl")).read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["change"] == "opened"
    console = [x for x in capsys.readouterr().err.splitlines() if x.startswith("[lakehouse")]
    assert len(console) == 1 and "run_failed" in console[0]
    alert = lh.sql("SELECT status, occurrences FROM _ops.alerts").to_pylist()
    assert alert == [{"status": "open", "occurrences": 2}]
    # fixed: the next run succeeds and the alert is resolved (and that is notified)
    assert run(lh.root).status == "SUCCEEDED"
    assert [m["change"] for m in hook.received] == ["opened", "resolved"]
    assert lh.sql("SELECT status FROM _ops.alerts").to_pylist() == [{"status": "resolved"}]


def test_the_file_notifier_path_is_below_the_root_or_absolute(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "alerts.jsonl"
    env = {"LAKEHOUSE__NOTIFIERS__F__TYPE": "file", "LAKEHOUSE__NOTIFIERS__F__PATH": str(target)}
    lh = Lakehouse(tmp_path / "lake")
    with pytest.raises(TerminalError):
        run(lh.root, settings=load(env=env), definition=_failing())
    assert json.loads(target.read_text())["rule"] == "run_failed"


def _failing() -> Any:
    return pipeline_definition().replace_task(
        "discover", fn=flaky(steps.discover, 99, TerminalError("x"))
    )


def test_a_broken_notifier_does_not_hide_the_failure(tmp_path: Path) -> None:
    lh = Lakehouse(tmp_path / "lake")
    dead = NotifierSettings(
        "dead", "webhook", url=Secret("http://127.0.0.1:9/x"), retries=0, timeout_seconds=1
    )
    good = NotifierSettings("f", "file")
    with pytest.raises(TerminalError):
        run(lh.root, settings=Settings(notifiers=(dead, good)), definition=_failing())
    assert Path(lh.root.path("_ops", "notifications.jsonl")).exists()
