"""Playwright helpers for the browser tests: Debian's chromium, console capture, chart checks.

Chromium comes from Debian (`apt-get install chromium`), never from `playwright install`; tests
that need it are marked `browser` and fail with the reason when it is missing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LAPTOP = {"width": 1366, "height": 768}


def chromium_path() -> str | None:
    for candidate in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if candidate and Path(candidate).exists():
            return candidate
    return shutil.which("chromium")


def skip_reason() -> str | None:
    """Why browser tests cannot run here, or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install playwright)"
    if chromium_path() is None:
        return "Debian chromium is not installed (apt-get install chromium)"
    return None


@dataclass
class Console:
    """Console errors and failed requests seen by a page."""

    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def watch(self, page: Any) -> None:
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        page.on("requestfailed", lambda r: self.errors.append(f"request failed: {r.url}"))
        page.on("request", lambda r: self.requests.append(r.url))


@contextlib.contextmanager
def browser() -> Iterator[Any]:
    """A headless Debian chromium, closed afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@contextlib.contextmanager
def laptop_page(b: Any, console: Console) -> Iterator[Any]:
    """A 1366x768 page whose console is watched; offline except for 127.0.0.1."""
    context = b.new_context(viewport=LAPTOP, device_scale_factor=1)
    context.route(
        "**/*",
        lambda route: (
            route.continue_()
            if route.request.url.startswith(("file://", "http://127.0.0.1", "data:"))
            else route.abort()
        ),
    )
    page = context.new_page()
    console.watch(page)
    try:
        yield page
    finally:
        context.close()


CHART_STATS = """() => Array.from(document.querySelectorAll('section.page:not([hidden]) .chart'))
  .map(el => ({
    id: el.dataset.chart,
    plotted: el.classList.contains('js-plotly-plot'),
    traces: (el.data || []).length,
    points: (el.data || []).reduce((n, t) => n + ((t.x || t.z || t.y || []).length || 0), 0),
    marks: el.querySelectorAll(
      '.cartesianlayer .trace .point, .cartesianlayer .trace path.js-line, .heatmaplayer image'
    ).length,
    width: el.getBoundingClientRect().width,
  }))"""


def chart_stats(page: Any) -> list[dict[str, Any]]:
    """For each chart on the visible page: traces, data points and drawn marks."""
    result: list[dict[str, Any]] = page.evaluate(CHART_STATS)
    return result


def open_tab(page: Any, tab: str) -> None:
    page.click(f'.tabs a[data-tab="{tab}"]')
    page.wait_for_selector(f"#page-{tab}:not([hidden])")
    page.wait_for_function(
        """(tab) => Array.from(document.querySelectorAll('#page-' + tab + ' .chart'))
             .every(el => el.classList.contains('js-plotly-plot') || el.querySelector('.note'))""",
        arg=tab,
    )
    page.wait_for_timeout(150)


def screenshot(page: Any, name: str, *, full_page: bool = False) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


# --- a small lakehouse shared by the report tests (built once, even across xdist workers) ----
def _build_lake(base: Path) -> Path:
    """Generated shop data (with defects) loaded by two runs; gold as `lakehouse run` leaves it."""
    from lakehouse import Lakehouse
    from lakehouse.generate import generate

    src = base / "src"
    generate(src, orders=1500, days=45, products=200, fmt="csv", dirty_rate=0.02, seed=7)
    first, second = base / "delivery-1", base / "delivery-2"
    first.mkdir()
    second.mkdir()
    for f in sorted(src.iterdir()):
        late = any(f"2025-05-{d:02d}" in f.name for d in range(5, 32))
        (second if late else first).joinpath(f.name).write_bytes(f.read_bytes())
    lake = base / "lake"
    lh = Lakehouse(lake)
    lh.run([first])
    lh.run([second])
    return lake


def shared_dir(factory: Any) -> Path:
    """A folder every xdist worker of this session shares (the session's own temp dir)."""
    base = Path(factory.getbasetemp())
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def shared_lake(shared_dir: Path) -> Path:
    """The report tests' lakehouse under `shared_dir` (xdist: the workers' common parent),
    built by the first worker that asks while the others wait on a file lock."""
    import fcntl

    base = shared_dir / "report-lake"
    done = base / "ready"
    shared_dir.mkdir(parents=True, exist_ok=True)
    with (shared_dir / "report-lake.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            if base.exists():
                shutil.rmtree(base)
            base.mkdir()
            _build_lake(base)
            done.write_text("ok")
    return base / "lake"
