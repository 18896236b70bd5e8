"""A fault-injecting TCP proxy on 127.0.0.1 for storage tests (in front of the moto server).

It passes HTTP/1.1 traffic through and, on command, injects the faults an S3 client meets in
production: an *outage* (live connections reset, new ones refused or reset for N seconds), a
*cut* of every live connection, and *error answers* (503 SlowDown throttling, 500) for the
next N requests. Requests are parsed on the way in (head, then a Content-Length or chunked
body), so a fault can be timed to the Nth request (`on_request`). Clients do not pipeline, so a
request arriving on a connection means the previous answer was delivered: an error answer
can be written in its place.

Bounded and owned: `with FaultProxy(host, port) as proxy:` starts the threads and stops them
(and closes every socket) when the block ends.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable
from types import TracebackType

ERRORS = {
    503: (
        "Service Unavailable",
        b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>SlowDown</Code>"
        b"<Message>Please reduce your request rate.</Message></Error>",
    ),
    500: (
        "Internal Server Error",
        b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>InternalError</Code>"
        b"<Message>We encountered an internal error. Please try again.</Message></Error>",
    ),
}


class FaultProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.requests = 0  # requests seen (passed through or answered with an error)
        self.errors_sent = 0
        self.refused = 0  # connections reset at accept during an outage
        self.outages = 0
        self.cuts = 0
        self._lock = threading.Lock()
        self._live: set[socket.socket] = set()
        self._upstreams: set[socket.socket] = set()  # of `_live`: the proxy's side to upstream
        self._outage_until = 0.0
        self._outage_kind = "refuse"
        self._fail: list[int] = []  # status codes for the next requests
        self._triggers: list[tuple[int, Callable[[], None]]] = []
        self._stop = threading.Event()
        self._listener = self._listen(0)
        self.port = self._listener.getsockname()[1]
        self._threads: list[threading.Thread] = []

    # --- control ------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def outage(self, seconds: float, kind: str = "refuse") -> None:
        """Reset every live connection; for `seconds`, new connections are refused (`refuse`:
        nothing listens on the port) or accepted and reset at once (`reset`)."""
        with self._lock:
            self._outage_until = time.monotonic() + seconds
            self._outage_kind = kind
            self.outages += 1
        self.cut()
        if kind == "refuse":
            self._close_listener()

    def restore(self) -> None:
        """End an outage now: connections are accepted and passed through again."""
        with self._lock:
            self._outage_until = 0.0

    def cut(self) -> None:
        """Reset every live connection (TCP RST) — a network cut mid-transfer."""
        with self._lock:
            live, self._live = self._live, set()
            upstreams, self._upstreams = self._upstreams, set()
            self.cuts += 1
        # clients first: an upstream reset first wakes its pump, which shuts the client down
        # in order (FIN) before the client's own reset; the client then read an orderly end
        for s in sorted(live, key=lambda s: s in upstreams):
            _reset(s)

    def fail_next(self, count: int, status: int = 503) -> None:
        """Answer the next `count` requests with `status` (503 SlowDown or 500) instead of S3."""
        with self._lock:
            self._fail.extend([status] * count)

    def on_request(self, n: int, action: Callable[[], None]) -> None:
        """Call `action` when the `n`th request (counted from now) arrives, before it is sent."""
        with self._lock:
            self._triggers.append((self.requests + n, action))

    @property
    def in_outage(self) -> bool:
        return time.monotonic() < self._outage_until

    # --- lifecycle ------------------------------------------------------------
    def __enter__(self) -> FaultProxy:
        self._spawn(self._accept_loop)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._close_listener()
        self.cut()
        for t in self._threads:
            t.join(timeout=5)

    # --- internals ------------------------------------------------------------
    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        t = threading.Thread(target=target, args=args, daemon=True, name="fault-proxy")
        self._threads = [x for x in self._threads if x.is_alive()]
        self._threads.append(t)
        t.start()

    def _listen(self, port: int) -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen(64)
        s.settimeout(0.1)
        return s

    def _close_listener(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                listener = self._listener
                refusing = self._outage_kind == "refuse" and self.in_outage
            if listener is None:
                if refusing:
                    time.sleep(0.02)
                    continue
                try:
                    listener = self._listen(self.port)
                except OSError:
                    time.sleep(0.05)
                    continue
                with self._lock:
                    self._listener = listener
            try:
                client, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            if self.in_outage:
                with self._lock:
                    self.refused += 1
                _reset(client)
                continue
            client.settimeout(None)
            self._spawn(self._serve, client)

    def _track(self, *socks: socket.socket) -> None:
        with self._lock:
            self._live.update(socks)

    def _serve(self, client: socket.socket) -> None:
        self._track(client)
        upstream: socket.socket | None = None
        reader = _Reader(client)
        try:
            while not self._stop.is_set():
                head = reader.until(b"\r\n\r\n")
                if head is None:
                    return
                status = self._next_request()
                if status is not None:
                    self._answer_error(client, reader, head, status)
                    return
                if upstream is None:
                    upstream = socket.create_connection(self.upstream, timeout=30)
                    upstream.settimeout(None)
                    self._track(upstream)
                    with self._lock:
                        self._upstreams.add(upstream)
                    self._spawn(_pump, upstream, client)
                upstream.sendall(head)
                for piece in reader.body(head):
                    upstream.sendall(piece)
        except OSError:
            pass
        finally:
            for s in (client, upstream):
                if s is not None:
                    with contextlib.suppress(OSError):
                        s.close()

    def _next_request(self) -> int | None:
        with self._lock:
            self.requests += 1
            due = [a for n, a in self._triggers if n <= self.requests]
            self._triggers = [(n, a) for n, a in self._triggers if n > self.requests]
        for action in due:
            action()
        if self.in_outage:
            raise ConnectionResetError("outage")
        with self._lock:
            if self._fail:
                self.errors_sent += 1
                return self._fail.pop(0)
        return None

    def _answer_error(
        self, client: socket.socket, reader: _Reader, head: bytes, status: int
    ) -> None:
        if b"100-continue" not in head.lower():  # the body is on its way: take it first
            for _ in reader.body(head):
                pass
        reason, body = ERRORS[status]
        client.sendall(
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/xml\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )


class _Reader:
    """Buffered reads of HTTP requests from a socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def _fill(self) -> bool:
        data = self.sock.recv(1 << 16)
        self.buf += data
        return bool(data)

    def until(self, mark: bytes) -> bytes | None:
        while mark not in self.buf:
            if not self._fill():
                return None
        i = self.buf.index(mark) + len(mark)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def exactly(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not self._fill():
                raise ConnectionResetError("client closed mid-body")
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def body(self, head: bytes) -> list[bytes]:
        headers = {}
        for line in head.decode("latin-1").split("\r\n")[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            pieces = []
            while True:
                size_line = self.until(b"\r\n")
                if size_line is None:
                    raise ConnectionResetError("client closed mid-body")
                size = int(size_line.split(b";")[0], 16)
                pieces.append(size_line)
                if size == 0:  # then trailer lines up to an empty line
                    while (line := self.until(b"\r\n")) not in (None, b"\r\n"):
                        pieces.append(line)
                    pieces.append(b"\r\n")
                    return pieces
                pieces.append(self.exactly(size + 2))
        length = int(headers.get("content-length", "0") or 0)
        return [self.exactly(length)] if length else []


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(1 << 16):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


def _reset(s: socket.socket) -> None:
    """Close with RST (SO_LINGER 0), as a cut network or a crashed peer does.

    A proxy thread may be blocked reading this socket, and a blocked read keeps the socket open
    past `close`: no RST would be sent, and the client would wait for its request's timeout (a
    hang, not a cut). Shutting down the reading side first wakes that thread, then the close
    resets the connection."""
    with contextlib.suppress(OSError):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        s.shutdown(socket.SHUT_RD)
    with contextlib.suppress(OSError):
        s.close()
