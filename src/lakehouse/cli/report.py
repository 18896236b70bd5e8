"""CLI commands for the report area (`report`, `serve`), registered on the main app by
`lakehouse.cli`. Thin wrappers over `lakehouse.report`; imports happen inside the commands, so
`lakehouse --help` stays instant.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from lakehouse.cli.options import RootOpt, lakehouse, out_path


def report(
    out: Annotated[str, typer.Option("--out", help="HTML file to write.")],
    root: RootOpt = None,
) -> None:
    """Write the dashboard (sales, products, customers, operations) as one self-contained HTML
    file that opens offline."""
    from lakehouse.report import write

    path = write(lakehouse(root).root, out_path(out, example="report.html"))
    size = path.stat().st_size / 1e6
    sys.stdout.write(f"dashboard written to {path} ({size:,.1f} MB)\n")


def serve(
    root: RootOpt = None,
    port: Annotated[
        int, typer.Option(help="Port on 127.0.0.1 (0 = any free port).", min=0, max=65535)
    ] = 8765,
) -> None:
    """Serve the dashboard on http://127.0.0.1:PORT, read-only; open pages reload when a new
    run lands. Stop with Ctrl-C."""
    from lakehouse.report.server import serve as run_server

    lh = lakehouse(root)

    def ready(url: str) -> None:
        sys.stderr.write(f"dashboard on {url} (read-only; Ctrl-C stops)\n")
        sys.stderr.flush()

    run_server(lh.root, port, ready)


def register(app: typer.Typer) -> None:
    """Add this area's commands to `app`."""
    app.command()(report)
    app.command()(serve)
