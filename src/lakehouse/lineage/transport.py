"""OpenLineage transports from the `[lineage]` settings: the client's own HTTP and console
transports, and a JSON-lines file in the lakehouse root written through `storage.Root`.

The file lives where every other file of the root does, local or on S3: locally each event is
appended to `<root>/_ops/lineage/events.jsonl` as it happens; an object store cannot append, so
the run's events are written as one object `<root>/_ops/lineage/events/<run id>.jsonl` when the
run ends (one PUT per run).
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

from openlineage.client.serde import Serde
from openlineage.client.transport.console import ConsoleConfig, ConsoleTransport
from openlineage.client.transport.http import ApiKeyTokenProvider, HttpConfig, HttpTransport
from openlineage.client.transport.noop import NoopConfig, NoopTransport
from openlineage.client.transport.transport import Config, Transport

if TYPE_CHECKING:
    from lakehouse.config.settings import LineageSettings
    from lakehouse.store.root import Root


class RootFileTransport(Transport):
    """One JSON object per line, in the lakehouse root (see the module docstring)."""

    kind = "lakehouse_file"
    config_class = Config

    def __init__(self, root: Root, path: str, run_id: str) -> None:
        self.root = root
        self.run_id = run_id
        self._lock = threading.Lock()
        self._pending: list[str] = []
        if os.path.isabs(path):
            self.path = path
        elif root.is_local:
            self.path = root.path(path)
        else:  # no append on an object store: one object per run beside the named file
            folder, _, name = path.rpartition("/")
            stem = name.removesuffix(".jsonl") or "events"
            self.path = root.path(*(p for p in (folder, stem, f"{run_id}.jsonl") if p))

    @property
    def local(self) -> bool:
        return self.root.is_local or os.path.isabs(self.path)

    def emit(self, event: Any) -> None:
        line = Serde.to_json(event) + "\n"
        with self._lock:
            if not self.local:
                self._pending.append(line)
                return
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as out:
                out.write(line)

    def close(self, timeout: float = -1) -> bool:
        with self._lock:
            if self._pending:
                self.root.write_bytes(self.path, "".join(self._pending).encode("utf-8"))
                self._pending = []
        return True


def build_transport(settings: LineageSettings, root: Root, run_id: str) -> Transport:
    """The transport the settings name (`off`: the client's no-op transport)."""
    if settings.transport == "file":
        return RootFileTransport(root, settings.path, run_id)
    if settings.transport == "http":
        auth = (
            ApiKeyTokenProvider({"apiKey": settings.api_key.reveal()})
            if settings.api_key is not None
            else None
        )
        config = HttpConfig(
            url=settings.url,
            endpoint=settings.endpoint,
            timeout=settings.timeout_seconds,
            retry={"total": 0, "connect": 0, "read": 0},  # a collector down costs one attempt
        )
        if auth is not None:
            config.auth = auth
        return HttpTransport(config)
    if settings.transport == "console":
        return ConsoleTransport(ConsoleConfig())
    return NoopTransport(NoopConfig())
