"""The Python API: `Lakehouse(root)` — everything the CLI does, importable."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from lakehouse.contracts import Contract, load_contracts
from lakehouse.errors import LakehouseError
from lakehouse.orchestration.pipeline import Progress, RunSummary, copy_sources, run
from lakehouse.store import tables as table_store
from lakehouse.store.root import Root

if TYPE_CHECKING:
    from lakehouse.gold.freshness import GoldRefresh

DEFAULT_ROOT = "./lakehouse"


@dataclass(frozen=True)
class Description:
    info: table_store.TableInfo
    contract: Contract | None
    partition_by: list[str]
    protocol: dict[str, Any]
    configuration: dict[str, str]
    health: dict[str, Any]
    schema: pa.Schema  # the stored columns (lineage, reasons and bronze's text included)


class Lakehouse:
    """A lakehouse root (local folder or s3:// URI) and the operations on it."""

    def __init__(
        self, root: str | os.PathLike[str] | None = None, *, contracts_dir: str | None = None
    ) -> None:
        given = os.fspath(root) if root is not None else os.environ.get("LAKEHOUSE_ROOT")
        if given is not None and not given.strip():  # it became ./lakehouse, silently
            raise LakehouseError(
                "the root is empty (--root or LAKEHOUSE_ROOT): give a folder or "
                f"s3://bucket/prefix, or leave both out for {DEFAULT_ROOT}"
            )
        self.root = Root(given or DEFAULT_ROOT)
        self.contracts_dir = contracts_dir or os.environ.get("LAKEHOUSE_CONTRACTS") or None

    @property
    def contracts(self) -> dict[str, Contract]:
        return load_contracts(self.contracts_dir)

    def run(
        self,
        sources: Iterable[str | Path] = (),
        *,
        engine: str = "local",
        trigger: str = "manual",
        progress: Progress | None = None,
        now: dt.datetime | None = None,
        refresh: GoldRefresh = "due",
    ) -> RunSummary:
        """Copy `sources` into landing/, then process everything in landing/. `refresh="all"`
        also rebuilds the gold models still within their staleness budget."""
        paths = []
        for s in sources:
            if not os.fspath(s).strip():  # Path("") is the current folder: all of it was copied
                raise LakehouseError("--source is empty: give a file or a folder to copy in")
            paths.append(Path(s))
        delivery = copy_sources(self.root, paths)
        return run(
            self.root,
            engine_name=engine,
            trigger=trigger,
            contracts_dir=self.contracts_dir,
            progress=progress,
            now=now,
            refused=delivery.refused,
            refresh=refresh,
        )

    def sql(
        self,
        statement: str,
        *,
        as_of: int | dt.datetime | str | None = None,
        allow_file_access: bool = False,
    ) -> pa.Table:
        """The rows of a DuckDB statement over `zone.table` names. The statement sees only
        the lakehouse tables unless `allow_file_access` (then it may read and write any file
        this process can)."""
        from lakehouse.store.query import parse_as_of, run_sql

        moment = parse_as_of(as_of) if isinstance(as_of, str) else as_of
        return run_sql(self.root, statement, moment, allow_file_access=allow_file_access)

    def tables(self) -> list[table_store.TableInfo]:
        return [table_store.table_info(self.root, n) for n in table_store.list_tables(self.root)]

    def describe(self, name: str) -> Description:
        from lakehouse.maintenance import table_health
        from lakehouse.store.delta import open_table

        zone, table = table_store.split_name(name)
        dt_ = open_table(self.root, zone, table)
        meta = dt_.metadata()
        proto = dt_.protocol()
        return Description(
            info=table_store.table_info(self.root, name),
            contract=self.contracts.get(table)
            if zone in ("bronze", "silver", "quarantine")
            else None,
            partition_by=list(meta.partition_columns),
            protocol={
                "min_reader_version": proto.min_reader_version,
                "min_writer_version": proto.min_writer_version,
                "reader_features": proto.reader_features,
                "writer_features": proto.writer_features,
            },
            configuration=dict(meta.configuration),
            health=table_health(self.root, name),
            schema=pa.schema(dt_.schema().to_arrow()),
        )

    def history(self, name: str, limit: int | None = None) -> list[dict[str, Any]]:
        return table_store.history(self.root, name, limit)

    def restore(self, name: str, version: int) -> int:
        return table_store.restore(self.root, name, version)
