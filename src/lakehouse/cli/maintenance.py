"""CLI commands for table maintenance, registered on the main app by `lakehouse.cli`."""

from __future__ import annotations

from typing import Annotated

import typer

from lakehouse.cli import layout as lo
from lakehouse.cli.options import EngineName, EngineOpt, RootOpt, lakehouse
from lakehouse.maintenance.settings import TEN_YEARS_HOURS

TablesArg = Annotated[
    list[str] | None, typer.Argument(help="zone.table names (default: every table).")
]

# on a screen: table names whole, then columns left out
OPTIMIZE = (
    lo.name("table"),
    lo.number("partitions", drop=2),
    lo.number("files"),
    lo.number("MB", drop=3),
    lo.Col("z-order", "value", drop=4, justify="right"),
    lo.number("version"),
    lo.number("s", drop=1),
)
VACUUM = (
    lo.name("table"),
    lo.number("retention", drop=3),
    lo.number("files"),
    lo.number("MB"),
    lo.number("checkpoint", drop=2),
    lo.number("log files", drop=1),
)


def _mb(n: int) -> str:
    return f"{n / 1e6:,.2f}"


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
        float | None, typer.Option("--target-mb", help="Target file size in MB.", min=0.001)
    ] = None,
    engine: EngineOpt = EngineName.local,
) -> None:
    """Compact small files and Z-order the partitions that need it (a new Delta version)."""
    from lakehouse.maintenance import MaintenanceSettings, optimize_tables

    lh = lakehouse(root)
    settings = MaintenanceSettings.load(lh.root).with_overrides(
        target_file_size=int(target_mb * 1024 * 1024) if target_mb is not None else None
    )
    cols = [c.strip() for c in zorder.split(",") if c.strip()] if zorder is not None else None
    results = optimize_tables(
        lh.root,
        tables or [],
        zorder=cols,
        everything=all_partitions,
        settings=settings,
        contracts_dir=lh.contracts_dir,
        engine=engine.value,
    )
    from lakehouse.cli.console import console

    rows = [
        (
            r.table,
            f"{len(r.partitions):,}",
            f"{r.files_before:,} → {r.files_after:,}",
            f"{_mb(r.bytes_before)} → {_mb(r.bytes_after)}",
            ", ".join(r.zorder_by) or "—",
            str(r.versions[-1]) if r.versions else "unchanged",
            f"{r.seconds:.2f}",
        )
        for r in results
    ]
    lo.show(console(), OPTIMIZE, rows, "optimize")


def vacuum(
    tables: TablesArg = None,
    root: RootOpt = None,
    retention_hours: Annotated[
        int | None,
        typer.Option(
            help="Keep removed files this long (default: configured, 168).",
            min=0,
            max=TEN_YEARS_HOURS,
        ),
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
    engine: EngineOpt = EngineName.local,
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
        engine=engine.value,
    )
    title = "vacuum (dry run: nothing deleted)" if dry_run else "vacuum"
    from lakehouse.cli.console import console

    rows = [
        (
            r.table,
            f"{r.retention_hours} h",
            f"{r.files_removed:,}",
            _mb(r.bytes_removed),
            "—" if r.checkpoint_version is None else f"v{r.checkpoint_version}",
            "—" if dry_run else f"{r.log_files_before:,} → {r.log_files_after:,}",
        )
        for r in results
    ]
    con = console()
    lo.show(con, VACUUM, rows, title)
    total = sum(r.bytes_removed for r in results)
    files = sum(r.files_removed for r in results)
    verb = "would remove" if dry_run else "removed"
    con.print(f"{verb} {files:,} files, {_mb(total)} MB")


def register(app: typer.Typer) -> None:
    """Add this area's commands to `app`."""
    app.command()(optimize)
    app.command()(vacuum)
