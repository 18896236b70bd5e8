"""`lakehouse watch`: process files as they land, in small batches, one run at a time.

A file is *complete* when its size and modification time are the same in `stable_polls`
consecutive looks `poll_seconds` apart. Not looked at until renamed: names starting with '.'
or '_' (in any folder below landing/) and partial copies (ending in .tmp, .part, .partial,
.crdownload, optionally followed by -<suffix>): `deliveries.is_delivery`, the rule `run` follows.
Multi-file drops: a folder holding a file named `_incomplete` is held back until the producer
deletes that marker. Files that become complete together, or within `batch_window_seconds` of
the first, share a run. Local roots are woken by filesystem events (watchdog) and polled as a
fallback; s3:// roots are polled. Every run takes the root's lock, so several watchers and
`lakehouse run` can share a root without processing a file twice; a killed watcher's lock is
taken over by the next one, which re-processes whatever is still in landing/ (idempotently).
Between runs, freshness is checked every `idle_check_seconds`, so a silent shop raises an alert,
and a gold model whose staleness budget is spent is refreshed by a run of no files (only while
no file is ready or settling). A drop that lands while a run refreshes such models is not queued
behind them: the refresh stops at the next model, once it has taken one up, and leaves the rest
due for the next refresh, the drop's run (`lakehouse.gold.refresh.GiveWay`).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lakehouse.log import event
from lakehouse.store.deliveries import held_folders, is_delivery, is_held
from lakehouse.store.root import Root

if TYPE_CHECKING:
    from lakehouse.config.settings import Settings
    from lakehouse.orchestration.state import RunSummary


@dataclass
class _Seen:
    size: int
    mtime_ns: int
    looks: int  # consecutive looks with this size and mtime
    first_seen: float  # the clock at the first of them (epoch seconds)


class Watcher:
    def __init__(
        self,
        root: Root,
        settings: Settings,
        *,
        engine_name: str = "local",
        contracts_dir: str | None = None,
        on_run: Callable[[RunSummary], None] | None = None,
    ) -> None:
        self.root = root
        self.settings = settings
        self.engine_name = engine_name
        self.contracts_dir = contracts_dir
        self.on_run = on_run
        self.wake = threading.Event()
        self.runs = 0
        self._seen: dict[str, _Seen] = {}
        self._first_ready: float | None = None
        self._retry_at = 0.0
        self._failures = 0
        self._next_check = 0.0
        self._gold_due: dt.datetime | None = None  # when a behind budget model comes due
        self._gold_known = False

    # --- looking at landing/ ---------------------------------------------------------
    def _landed(self) -> tuple[dict[str, tuple[int, int]], set[str]]:
        """(delivery files in landing/ -> (size, mtime), folders held by a marker)."""
        try:
            files = list(self.root.walk_files("landing"))
        except FileNotFoundError:
            files = []
        held = held_folders(f.relative for f in files)
        current = {f.relative: (f.size, f.mtime_ns) for f in files if is_delivery(f.relative)}
        return current, held

    def scan(self, now: float | None = None) -> tuple[list[str], int]:
        """(complete files, files still settling), updating what was seen. Complete: the
        same size and mtime in `stable_polls` looks, and (with `settle_seconds`) unmodified
        for that long by `now` (epoch seconds, default the clock)."""
        current, held = self._landed()
        ready, settling = [], 0
        seen: dict[str, _Seen] = {}
        settle = self.settings.watch.settle_seconds
        clock = time.time() if now is None else now
        since = clock - settle
        for rel, (size, mtime) in sorted(current.items()):
            prev = self._seen.get(rel)
            same = prev is not None and (prev.size, prev.mtime_ns) == (size, mtime)
            looks = prev.looks + 1 if prev and same else 1
            first = prev.first_seen if prev and same else clock
            seen[rel] = _Seen(size, mtime, looks, first)
            if is_held(rel, held):
                continue
            # a modification time ahead of this clock (the producer's, or NFS's) kept the file
            # settling, silently, until this clock passed it: at most since it was first seen
            quiet = not settle or min(mtime / 1e9, first) <= since
            if looks >= max(1, self.settings.watch.stable_polls) and quiet:
                ready.append(rel)
            else:
                settling += 1
        self._seen = seen
        return ready, settling

    # --- the loop ----------------------------------------------------------------------
    def step(self, now: float | None = None) -> RunSummary | None:
        """One look; runs the batch when it is due. Returns the run's summary, if one ran."""
        t = time.monotonic() if now is None else now
        ready, settling = self.scan()
        if not ready:
            self._first_ready = None
            if not settling and self._gold_is_due() and t >= self._retry_at:
                return self._run([], refresh_only=True)
            self._idle_check(t)
            return None
        if self._first_ready is None:
            self._first_ready = t
        window = self.settings.watch.batch_window_seconds
        if settling and t - self._first_ready < window:
            return None
        if t < self._retry_at:
            return None
        return self._run(ready)

    def _gold_is_due(self) -> bool:
        """Whether a gold model with a staleness budget is due (read after each run, not on
        every look): then an idle watcher refreshes it with a run of no files."""
        if not self._gold_known:
            from lakehouse.gold.freshness import freshness

            states = freshness(self.root, self.settings.gold).values()
            self._gold_due = min(
                (f.due_at for f in states if f.budget is not None and f.behind and f.due_at),
                default=None,
            )
            self._gold_known = True
        return self._gold_due is not None and dt.datetime.now(dt.UTC) >= self._gold_due

    def _run(self, ready: list[str], *, refresh_only: bool = False) -> RunSummary | None:
        """A run of the `ready` files, or with `refresh_only` of none (the gold models due)."""
        from lakehouse.orchestration import pipeline
        from lakehouse.store.lock import RunLock

        lock = RunLock.configured(self.root, self.settings.lock)
        try:  # taking the lock can fail too (a full disk): retried like a failed run
            if not lock.try_acquire():
                return None  # another run or watcher is busy; look again next time
        except Exception as exc:
            self._failed(exc)
            return None
        self._gold_known = False  # any run, or another process's, may change what is due
        try:
            present = {f.relative for f in self.root.list_files("landing")}
            batch = [f for f in ready if f in present]
            if not batch and not refresh_only:  # another process took them
                return None
            summary = pipeline.run(
                self.root,
                engine_name=self.engine_name,
                trigger="watch",
                contracts_dir=self.contracts_dir,
                files=batch,
                settings=self.settings,
                lock=lock,
                gold_gives_way=lambda: self._another_drop(batch),
            )
        except Exception as exc:
            self._failed(exc)
            return None
        finally:
            lock.release()
        self._failures = 0
        self._first_ready = None
        for f in batch:
            self._seen.pop(f, None)
        self.runs += 1
        event("watch_run", run_id=summary.run_id, files=len(batch), seconds=summary.seconds)
        if self.on_run is not None:
            self.on_run(summary)
        return summary

    def _failed(self, exc: Exception) -> None:
        """A run (or taking its lock) failed: try again after a pause doubling to 60 s. Said
        as a warning: at INFO, the level it was, a watcher whose every run failed (a broken
        contract file, a full disk) printed nothing while its files stayed in landing/."""
        self._failures += 1
        pause = min(60.0, 2.0 ** min(self._failures, 6))
        self._retry_at = time.monotonic() + pause
        error = f"{type(exc).__name__}: {exc}"
        event("watch_run_failed", logging.WARNING, error=error, retry_in_s=pause)

    def _another_drop(self, batch: list[str]) -> bool:
        """Whether a file other than the run's own has landed (complete or still settling, not
        held back): the run's budget gold models then give way to it
        (`lakehouse.gold.refresh.GiveWay`), one listing of landing/ between two models. A
        listing that fails says no: the refresh goes on rather than the run failing."""
        try:
            current, held = self._landed()
        except Exception as exc:
            event("watch_listing_failed", logging.WARNING, error=f"{type(exc).__name__}: {exc}")
            return False
        return any(rel not in batch and not is_held(rel, held) for rel in current)

    def _idle_check(self, t: float) -> None:
        every = self.settings.watch.idle_check_seconds
        if every <= 0 or t < self._next_check:
            return
        self._next_check = t + every
        from lakehouse import monitoring
        from lakehouse.contracts import load_contracts
        from lakehouse.store.lock import RunLock

        lock = RunLock.configured(self.root, self.settings.lock)
        try:
            if not lock.try_acquire():
                return
        except Exception as exc:  # a full disk: the next look tries again
            event("watch_check_failed", logging.WARNING, error=f"{type(exc).__name__}: {exc}")
            return
        try:
            monitoring.check(self.root, self.settings, load_contracts(self.contracts_dir))
        except Exception as exc:
            event("watch_check_failed", logging.WARNING, error=f"{type(exc).__name__}: {exc}")
        finally:
            lock.release()

    def serve(self, stop: threading.Event, *, max_runs: int | None = None) -> None:
        """Loop until `stop` is set (or `max_runs` runs happened)."""
        observer = self._observe()
        poll = self.settings.watch.poll_seconds
        try:
            while not stop.is_set() and (max_runs is None or self.runs < max_runs):
                self.step()
                # files settling or waiting: look again soon; otherwise wait for an event
                busy = bool(self._seen)
                timeout = poll if busy or observer is None else max(poll, 2.0)
                self.wake.wait(timeout)
                self.wake.clear()
        finally:
            if observer is not None:
                observer.stop()
                observer.join(timeout=5)

    def _observe(self) -> Any:
        if not (self.root.is_local and self.settings.watch.events):
            return None
        try:
            from watchdog.events import FileSystemEvent, FileSystemEventHandler
            from watchdog.observers import Observer
        except ImportError:
            event("watch_polling", reason="watchdog is not installed")
            return None
        wake = self.wake

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                wake.set()

        landing = self.root.path("landing")
        self.root.fs.create_dir(landing, recursive=True)
        observer = Observer()
        observer.schedule(Handler(), landing, recursive=True)
        observer.daemon = True
        observer.start()
        return observer


def watch(
    root: Root,
    settings: Settings,
    *,
    engine_name: str = "local",
    contracts_dir: str | None = None,
    stop: threading.Event | None = None,
    max_runs: int | None = None,
    on_run: Callable[[RunSummary], None] | None = None,
) -> int:
    """Process landing files as they arrive until `stop` is set; returns the number of runs."""
    w = Watcher(root, settings, engine_name=engine_name, contracts_dir=contracts_dir, on_run=on_run)
    event("watch_started", root=root.uri, at=dt.datetime.now(dt.UTC).isoformat())
    w.serve(stop or threading.Event(), max_runs=max_runs)
    return w.runs
