"""CLI commands for table maintenance, registered on the main app by `lakehouse.cli`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from lakehouse.cli.options import RootOpt, lakehouse

TablesArg = Annotated[
    list[str] | None, typer.Argument(help="zone.table names (default: every table).")
]


def _console() -> Any:
    from lakehouse.cli.console import console

    return console()


def _mb(n: int) -> str:
    return f"{n / 1e6:,.2f}"


def _table(title: str, headings: tuple[str, ...], names: list[str]) -> Any:
    """A rich table whose first column (table names) is never cut."""
    from rich.table import Table

    out = Table(title=title)
    width = max([len(headings[0]), *(len(n) for n in names)])
    out.add_column(headings[0], no_wrap=True, min_width=width)
    for h in headings[1:]:
        out.add_column(h, justify="right")
    return out


def optimize(
    tables: TablesArg = None,
    root: RootOpt = None,
    zorder: Annotated[
        str | None,
        typer.Option(help="Comma-separated columns to Z-order by (default: the contract's)."),
    ] = None,
    all_partitions: Annotated[
        bool, typer.Option("--all-partitions", help="Rewrite every partition, not only small.")
    ] = False,
    target_mb: Annotated[
        float | None, typer.Option("--target-mb", help="Target file size in MB.")
    ] = None,
) -> None:
    """Compact small files and Z-order the partitions that need it (a new Delta version)."""
    from lakehouse.maintenance import MaintenanceSettings, optimize_tables

    lh = lakehouse(root)
    settings = MaintenanceSettings.load(lh.root).with_overrides(
        target_file_size=int(target_mb * 1024 * 1024) if target_mb else None
    )
    cols = [c.strip() for c in zorder.split(",") if c.strip()] if zorder is not None else None
    results = optimize_tables(
        lh.root,
        tables or [],
        zorder=cols,
        everything=all_partitions,
        settings=settings,
        contracts_dir=lh.contracts_dir,
    )
    out = _table(
        "optimize",
        ("table", "partitions", "files", "MB", "z-order", "version", "s"),
        [r.table for r in results],
    )
    for r in results:
        out.add_row(
            r.table,
            f"{len(r.partitions):,}",
            f"{r.files_before:,} → {r.files_after:,}",
            f"{_mb(r.bytes_before)} → {_mb(r.bytes_after)}",
            ", ".join(r.zorder_by) or "—",
            str(r.versions[-1]) if r.versions else "unchanged",
            f"{r.seconds:.2f}",
        )
    _console().print(out)


def vacuum(
    tables: TablesArg = None,
    root: RootOpt = None,
    retention_hours: Annotated[
        int | None,
        typer.Option(help="Keep removed files this long (default: configured, 168)."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Allow a retention below the time-travel promise.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only count what would be removed.")
    ] = False,
    full: Annotated[
        bool,
        typer.Option("--full", help="Also delete files no version references (lists all files)."),
    ] = False,
) -> None:
    """Delete files older versions no longer need; checkpoint and expire the Delta log."""
    from lakehouse.maintenance import vacuum_tables

    lh = lakehouse(root)
    results = vacuum_tables(
        lh.root,
        tables or [],
        retention_hours=retention_hours,
        force=force,
        dry_run=dry_run,
        full=full,
    )
    title = "vacuum (dry run: nothing deleted)" if dry_run else "vacuum"
    headings = ("table", "retention", "files", "MB", "checkpoint", "log files")
    out = _table(title, headings, [r.table for r in results])
    for r in results:
        out.add_row(
            r.table,
            f"{r.retention_hours} h",
            f"{r.files_removed:,}",
            _mb(r.bytes_removed),
            "—" if r.checkpoint_version is None else f"v{r.checkpoint_version}",
            "—" if dry_run else f"{r.log_files_before:,} → {r.log_files_after:,}",
        )
    con = _console()
    con.print(out)
    total = sum(r.bytes_removed for r in results)
    files = sum(r.files_removed for r in results)
    verb = "would remove" if dry_run else "removed"
    con.print(f"{verb} {files:,} files, {_mb(total)} MB")


def register(app: typer.Typer) -> None:
    """Add this area's commands to `app`."""
    app.command()(optimize)
    app.command()(vacuum)
