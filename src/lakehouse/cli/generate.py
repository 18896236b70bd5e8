"""`lakehouse generate`: realistic shop data with known ground truth, as files."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated

import typer

from lakehouse.cli.options import out_path


class FileFormat(StrEnum):
    xlsx = "xlsx"
    csv = "csv"
    jsonl = "jsonl"
    parquet = "parquet"


def _above_zero(value: float) -> float:
    if value <= 0:
        raise typer.BadParameter(f"{value:g} is not above 0")
    return value


def generate(
    out: Annotated[str, typer.Option("--out", help="Folder to write into.")],
    orders: Annotated[int, typer.Option(help="Number of orders.", min=0)] = 5000,
    customers: Annotated[
        int | None, typer.Option(help="Customers (default orders/4).", min=1)
    ] = None,
    products: Annotated[int, typer.Option(help="Catalog size.", min=1)] = 500,
    days: Annotated[int, typer.Option(help="Days of orders.", min=1)] = 30,
    start: Annotated[
        dt.datetime, typer.Option(help="First day, YYYY-MM-DD.", formats=["%Y-%m-%d"])
    ] = dt.datetime(2025, 4, 1),
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same bytes).")] = 42,
    format: Annotated[FileFormat, typer.Option("--format")] = FileFormat.xlsx,
    dirty_rate: Annotated[
        float, typer.Option(help="Share of rows to corrupt (0..1).", min=0.0, max=1.0)
    ] = 0.0,
    stream: Annotated[bool, typer.Option(help="Keep dropping small files until stopped.")] = False,
    rate: Annotated[
        float, typer.Option(help="With --stream: batches per second.", callback=_above_zero)
    ] = 1.0,
) -> None:
    """Generate realistic shop data (products, orders, order items) with known ground truth."""
    from lakehouse import generate as gen
    from lakehouse.cli.console import console

    folder = out_path(out, folder=True)
    if stream:
        gen.stream(folder, rate=rate, seed=seed, fmt=format.value)
        return
    r = gen.generate(
        folder,
        orders=orders,
        customers=customers,
        products=products,
        days=days,
        start=start.date(),
        seed=seed,
        fmt=format.value,
        dirty_rate=dirty_rate,
    )
    console().print(
        f"wrote {len(r.files)} files to {out}: {r.products:,} products, "
        f"{r.orders:,} orders, {r.order_items:,} order items in {r.seconds:.1f} s"
    )


def register(app: typer.Typer) -> None:
    """Add this area's commands to `app`."""
    app.command()(generate)
