"""`lakehouse repair`: remove duplicate primary keys from silver (newest row wins), holding the
root's lock; registered on the main app by `lakehouse.cli`."""

from __future__ import annotations

import typer

from lakehouse.cli.options import RootOpt, lakehouse


def repair(root: RootOpt = None) -> None:
    """Keep one row per primary key in every silver table: the newest (by `_ingested_at`),
    in one commit per table recorded as `repair` in its history."""
    import datetime as dt

    from lakehouse.config import loader
    from lakehouse.contracts import load_contracts
    from lakehouse.orchestration.pipeline import new_run_id
    from lakehouse.orchestration.repair import repair_all
    from lakehouse.store.fencing import stamp_tables
    from lakehouse.store.lock import RunLock

    lh = lakehouse(root)
    settings = loader.load(lh.root)
    run_id = new_run_id(dt.datetime.now(dt.UTC))
    with RunLock.configured(lh.root, settings.lock) as lock:
        if lock.took_over is not None:  # as a run does: the holder it replaced, should it
            stamp_tables(lh.root, run_id)  # resume, commits nothing more
        done = repair_all(lh.root, load_contracts(lh.contracts_dir), run_id)
    for r in done:
        if r.keys:
            typer.echo(
                f"{r.table}: {r.keys} duplicate keys, {r.rows_removed} rows removed "
                f"(version {r.version}, run {run_id})"
            )
    if not any(r.keys for r in done):
        typer.echo(f"no duplicate keys in {len(done)} silver tables of {lh.root.uri}")


def register(app: typer.Typer) -> None:
    """Add this area's commands to `app`."""
    app.command()(repair)
