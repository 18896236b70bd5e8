"""The `lakehouse` command: a thin layer over `lakehouse.Lakehouse` (see docs/cli.md).

One module per command group, each adding its commands to `app` with `register`: run, data
(sql, tables, describe, history, restore), generate, ops (status, watch, pipeline), aws
(catalog, deploy), report (report, serve), maintenance (optimize, vacuum), repair, lineage
(lineage, docs). They share options (--root, formats, engine names and the root itself),
console, layout (tables that fit the terminal) and output; none imports this module.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Annotated, NoReturn

import typer

from lakehouse.cli import (
    aws,
    data,
    generate,
    lineage,
    maintenance,
    ops,
    repair,
    report,
    run,
)

__all__ = ["app", "main"]

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="E-commerce lakehouse: shop files in, ACID Delta tables and answers out.",
)


def _show_version(show: bool) -> None:
    if show:
        from lakehouse import __version__

        sys.stdout.write(f"lakehouse {__version__}\n")
        raise typer.Exit()


@app.callback()
def _every_command(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", is_eager=True, callback=_show_version
        ),
    ] = False,
) -> None:
    """Before any command: LAKEHOUSE_LOG and LAKEHOUSE_LOG_LEVEL are checked (a command that
    logged nothing, `pipeline show`, took any value)."""
    from lakehouse.log import configure

    configure()


# in this order in `lakehouse --help`
for _area in (run, data, generate, ops, aws, report, maintenance, repair, lineage):
    _area.register(app)


def main() -> None:
    """Entry point: usage errors as typer prints them; any other error as one red line."""
    from lakehouse.errors import LakehouseError, storage_failure

    try:
        app()
    except KeyboardInterrupt:
        sys.stderr.write("lakehouse: aborted\n")
        sys.exit(130)
    except SystemExit as exc:  # a verdict (`status` breached, or done) skips the teardown too
        if exc.code is None or isinstance(exc.code, int):
            _exit_now(exc.code or 0)
        raise
    except LakehouseError as exc:
        _fail(str(exc), exc)
    except Exception as exc:  # a storage failure in the libraries' words: name its cause
        _fail(str(storage_failure(exc) or f"{type(exc).__name__}: {exc}"), exc)
    _exit_now(0)


def _fail(message: str, exc: BaseException) -> None:
    import re

    from lakehouse.cli.console import visible

    line = visible(" ".join(re.sub(r"\x1b\[[0-9;]*m", "", message).split()))
    sys.stderr.write(f"lakehouse: error: {line}\n")
    if os.environ.get("LAKEHOUSE_DEBUG"):
        import traceback

        traceback.print_exception(exc)
    _exit_now(1)


def _exit_now(code: int) -> NoReturn:
    """Exit with `code` once the answer or the reason is written, without the interpreter's
    teardown: native work may still be in flight in other threads (an S3 request that pyarrow
    or delta-rs keeps retrying after a storage failure; a delta-rs scan a `LIMIT` stopped
    early), and tearing their libraries down under it hung the exit or crashed it (exit 139 or
    134 after a correct answer: 7 of 15 `lakehouse sql` runs). Nothing is left to save: every
    write is committed or abandoned whole, and the streams are flushed here."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)
