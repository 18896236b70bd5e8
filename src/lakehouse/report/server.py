"""`lakehouse serve`: the dashboard live on 127.0.0.1, read-only.

Routes (GET and HEAD only; anything else is 405): `/` the dashboard, `/api/state` the tables'
fingerprint as JSON (the page polls it and reloads when a run lands) with each budget gold
model's freshness (`gold`: as of, minutes behind, budget), `/healthz`. A request
whose Host header is not one of the server's own names (127.0.0.1, localhost or [::1] with its
port) is refused with 421: a web page whose DNS name is re-pointed to 127.0.0.1 (DNS
rebinding) would otherwise read the dashboard from the user's browser. The page is
rebuilt when the fingerprint changed or the cached page is older than `MAX_AGE_SECONDS`; at
most one build runs at a time. Nothing here writes to the lakehouse.
"""

from __future__ import annotations

import errno
import json
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from lakehouse.errors import TerminalError
from lakehouse.report import MAX_AGE_SECONDS, REFRESH_SECONDS
from lakehouse.report.live import gold_freshness, state
from lakehouse.store.root import Root

HOST = "127.0.0.1"  # never another interface: the dashboard has no authentication
OWN_NAMES = (HOST, "localhost", "[::1]")


def own_hosts(port: int) -> frozenset[str]:
    """The Host header values this server answers to on `port` (browsers omit port 80)."""
    names = [f"{n}:{port}" for n in OWN_NAMES]
    return frozenset(names + list(OWN_NAMES) if port == 80 else names)


class Dashboard:
    """The cached live page of one root."""

    def __init__(
        self,
        root: Root,
        build: Callable[[Root], str] | None = None,
        refresh_seconds: float = REFRESH_SECONDS,
    ) -> None:
        self.root = root
        self._build = build or (lambda r: _build_live(r, refresh_seconds))
        self._lock = threading.Lock()
        self._page: bytes | None = None
        self._fingerprint: str | None = None
        self._built_at = 0.0

    def state(self) -> dict[str, Any]:
        return state(self.root)

    def page(self) -> bytes:
        current = str(self.state()["fingerprint"])
        with self._lock:
            fresh = time.monotonic() - self._built_at < MAX_AGE_SECONDS
            if self._page is None or current != self._fingerprint or not fresh:
                self._page = self._build(self.root).encode("utf-8")
                self._fingerprint = current
                self._built_at = time.monotonic()
            return self._page


def _build_live(root: Root, refresh_seconds: float) -> str:
    from lakehouse.report import build

    return build(root, live=True, refresh_seconds=refresh_seconds)


def api_state(dashboard: Dashboard) -> dict[str, Any]:
    """`/api/state`: the fingerprint, and each budget gold model's freshness. A gold part that
    cannot be read (a typo in lakehouse.toml) is `gold_error`, and the fingerprint still
    answers: a 500 here made open pages reload every few seconds."""
    try:
        gold: dict[str, Any] = {"gold": gold_freshness(dashboard.root)}
    except Exception as exc:  # the page shows it; the live reload keeps working
        gold = {"gold": None, "error": f"{type(exc).__name__}: {exc}".splitlines()[0]}
    return {**dashboard.state(), **gold}


def make_handler(dashboard: Dashboard) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "lakehouse-dashboard"
        sys_version = ""

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Referrer-Policy", "no-referrer")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, status: int, value: object) -> None:
            self._send(status, json.dumps(value).encode(), "application/json")

        def _foreign_host(self) -> bool:
            """Answer 421 (and say so) when the Host header is not one of our names."""
            host = (self.headers.get("Host") or "").strip().lower()
            port = int(self.connection.getsockname()[1])  # the port this client connected to
            if host in own_hosts(port):
                return False
            self._json(
                HTTPStatus.MISDIRECTED_REQUEST,
                {"error": f"this server answers only as http://{HOST}:{port}/ or localhost"},
            )
            return True

        def do_GET(self) -> None:
            if self._foreign_host():
                return
            path = self.path.split("?", 1)[0]
            try:
                if path in ("/", "/index.html"):
                    self._send(HTTPStatus.OK, dashboard.page(), "text/html; charset=utf-8")
                elif path == "/api/state":
                    self._json(HTTPStatus.OK, api_state(dashboard))
                elif path == "/healthz":
                    self._json(HTTPStatus.OK, {"ok": True})
                else:
                    self._json(HTTPStatus.NOT_FOUND, {"error": f"no page at {path}"})
            except (BrokenPipeError, ConnectionResetError):
                pass  # the browser went away (navigated or reloaded) mid-answer
            except Exception as exc:  # one bad build must not stop the server
                self._json(
                    HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"{type(exc).__name__}: {exc}"}
                )

        do_HEAD = do_GET

        def _refuse(self) -> None:
            if self._foreign_host():
                return
            self.send_response(HTTPStatus.METHOD_NOT_ALLOWED)
            self.send_header("Allow", "GET, HEAD")
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse

        def __getattr__(self, name: str) -> Any:
            """Any other method (TRACE, PROPFIND, ...) is refused the same way: the Host
            check, then 405 (the standard library answered 501 before checking the Host)."""
            if name.startswith("do_"):
                return self._refuse
            raise AttributeError(name)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet; errors reach the page as JSON

    return Handler


def make_server(
    root: Root, port: int = 8765, *, refresh_seconds: float = REFRESH_SECONDS
) -> ThreadingHTTPServer:
    """A server bound to 127.0.0.1:`port` (0 = any free port); call `serve_forever()`."""
    dashboard = Dashboard(root, refresh_seconds=refresh_seconds)
    try:
        server = ThreadingHTTPServer((HOST, port), make_handler(dashboard))
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        raise TerminalError(
            f"port {port} on {HOST} is in use; choose another --port (0 = any free port)"
        ) from exc
    server.daemon_threads = True
    return server


def serve(root: Root, port: int = 8765, ready: Callable[[str], None] | None = None) -> None:
    """Serve until interrupted; `ready(url)` is called once the socket listens."""
    server = make_server(root, port)
    host, bound = server.server_address[:2]
    if ready:
        ready(f"http://{host!s}:{bound}/")
    try:
        server.serve_forever()
    finally:
        server.server_close()
