"""Where alerts go: console (stderr), a JSON-lines file, an HTTP webhook, an SNS topic.

Each notifier gets every alert change once (`alerts.plan` de-duplicates). A notifier that
cannot deliver after its retries is logged and skipped: a broken webhook never fails a run or
hides a failure from the other notifiers.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from lakehouse.log import event
from lakehouse.printable import one_line

if TYPE_CHECKING:
    from lakehouse.config.settings import NotifierSettings, Settings
    from lakehouse.monitoring.alerts import AlertChange
    from lakehouse.store.root import Root


class Notifier(Protocol):
    name: str

    def send(self, message: dict[str, Any]) -> None: ...


def message(change: AlertChange, root: Root) -> dict[str, Any]:
    a = change.alert
    return {
        "source": "lakehouse",
        "root": root.uri,
        "change": change.change,
        "alert_id": a["alert_id"],
        "rule": a["rule"],
        "subject": a["subject"],
        "severity": a["severity"],
        "status": a["status"],
        "message": a["message"],
        "value": a["value"],
        "threshold": a["threshold"],
        "run_id": a["run_id"],
        "opened_at": _iso(a["opened_at"]),
        "at": _iso(a["last_seen_at"]),
    }


def headline(m: dict[str, Any]) -> str:
    return f"[lakehouse {m['severity']}] {m['change']}: {m['rule']} {m['subject']}"


def _iso(v: Any) -> Any:
    return v.isoformat() if isinstance(v, dt.datetime) else v


class ConsoleNotifier:
    def __init__(self, name: str) -> None:
        self.name = name

    def send(self, message: dict[str, Any]) -> None:
        sys.stderr.write(one_line(f"{headline(message)} — {message['message']}") + "\n")
        sys.stderr.flush()


class FileNotifier:
    """Appends one JSON object per line (local file; relative paths are below a local root)."""

    def __init__(self, name: str, path: Path) -> None:
        self.name = name
        self.path = path

    def send(self, message: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(message, default=str) + "\n")


def _retrying(
    attempts: int, pause: float, call: Callable[[], None], retry_if: type[Exception]
) -> None:
    for n in range(attempts + 1):
        try:
            call()
            return
        except retry_if:
            if n == attempts:
                raise
            time.sleep(pause * 2**n)


class _Transient(Exception):
    pass


class WebhookNotifier:
    """POST the message as JSON; retries connection errors, 429 and 5xx with backoff."""

    def __init__(self, s: NotifierSettings) -> None:
        assert s.url is not None
        self.name = s.name
        self._url = s.url
        self._headers = dict(s.headers)
        self.timeout = s.timeout_seconds
        self.retries = s.retries
        self.backoff = s.backoff_seconds

    def send(self, message: dict[str, Any]) -> None:
        body = json.dumps({**message, "text": f"{headline(message)} — {message['message']}"})
        headers = {"Content-Type": "application/json", "User-Agent": "lakehouse"}
        headers.update({k: v.reveal() for k, v in self._headers.items()})

        def post() -> None:
            req = urllib.request.Request(
                self._url.reveal(), data=body.encode(), headers=headers, method="POST"
            )
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    resp.read()
            except urllib.error.HTTPError as exc:
                if exc.code == 429 or exc.code >= 500:
                    raise _Transient(f"HTTP {exc.code}") from exc
                raise RuntimeError(f"webhook {self.name}: HTTP {exc.code} {exc.reason}") from exc
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                raise _Transient(str(exc)) from exc

        _retrying(self.retries, self.backoff, post, _Transient)


class SnsNotifier:
    """Publish to an SNS topic (boto3; credentials and region from the environment)."""

    def __init__(self, s: NotifierSettings) -> None:
        import boto3

        kwargs: dict[str, Any] = {}
        if s.region:
            kwargs["region_name"] = s.region
        if s.endpoint_url:
            kwargs["endpoint_url"] = s.endpoint_url
        self.name = s.name
        self.topic_arn = s.topic_arn
        self.client = boto3.client("sns", **kwargs)
        self.retries = s.retries
        self.backoff = s.backoff_seconds

    def send(self, message: dict[str, Any]) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        def publish() -> None:
            try:
                self.client.publish(
                    TopicArn=self.topic_arn,
                    Subject=headline(message)[:100],
                    Message=json.dumps(message, default=str),
                    MessageAttributes={
                        "rule": {"DataType": "String", "StringValue": message["rule"]},
                        "severity": {"DataType": "String", "StringValue": message["severity"]},
                    },
                )
            except ClientError as exc:
                code = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
                if code == 429 or code >= 500:
                    raise _Transient(str(exc)) from exc
                raise
            except BotoCoreError as exc:
                raise _Transient(str(exc)) from exc

        _retrying(self.retries, self.backoff, publish, _Transient)


def build(settings: Settings, root: Root) -> list[Notifier]:
    out: list[Notifier] = []
    for s in settings.notifiers:
        if s.type == "console":
            out.append(ConsoleNotifier(s.name))
        elif s.type == "file":
            path = Path(s.path)
            if not path.is_absolute():
                if not root.is_local:
                    from lakehouse.config.loader import ConfigError

                    raise ConfigError(
                        f"notifiers.{s.name}.path must be absolute for a non-local root"
                    )
                path = Path(root.path(s.path))
            out.append(FileNotifier(s.name, path))
        elif s.type == "webhook":
            out.append(WebhookNotifier(s))
        else:
            out.append(SnsNotifier(s))
    return out


def dispatch(notifiers: list[Notifier], changes: list[AlertChange], root: Root) -> int:
    """Send each change to each notifier; returns deliveries made. Never raises."""
    sent = 0
    for change in changes:
        msg = message(change, root)
        for n in notifiers:
            try:
                n.send(msg)
                sent += 1
            except Exception as exc:
                event("notify_failed", notifier=n.name, alert=msg["alert_id"], error=repr(exc))
    return sent
