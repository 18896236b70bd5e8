"""Reading on the executors: how the spark engine takes in a run's landed files.

Each landed file is one Spark task (an xlsx is never split; a csv, jsonl or parquet file is read
whole by its task). The task runs the local engine's own `take_in` — the reader sandbox, the
SHA-256 of the bytes, the entity, the header check and its reasons — and yields the file's rows
in the bronze layout (`intake.file_rows`), every cell as text. The driver receives one line of
JSON per file (its outcome), never its rows: they stay with the executors, checkpointed (memory,
then disk), until the run's bronze appends and silver merges have read them. A checkpoint, not
a cache: Spark never re-reads a file, so the rows are always those of the bytes that were hashed.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from lakehouse.config.settings import IntakeSettings
from lakehouse.contracts import Contract
from lakehouse.engines.spark.frames import map_in_arrow, plain_schema
from lakehouse.errors import FileRejected, RetryableError
from lakehouse.ingest.intake import Intake, file_rows, take_in
from lakehouse.store import zones
from lakehouse.store.root import LandedFile, Root

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

ENTITY = "_entity"  # the entity of a data row
OUTCOME = "_intake"  # a file's outcome as JSON, on the one row per file that carries it
_FILES = "i long, path string, relative string, size long, mtime_ns long"
_BATCH_ROWS = 65_536  # rows per Arrow batch handed from a task to Spark


def landed_schema(contracts: Mapping[str, Contract]) -> pa.Schema:
    """The layout of every landed row: each contract's columns of a run's batch
    (`zones.bronze_batch_schema`: one column per name across the contracts, all text but the
    lineage and the typed-text mask; no dictionaries, which Spark does not read), the row's
    entity and the outcome column."""
    fields: dict[str, pa.Field] = {}
    for contract in contracts.values():
        for f in plain_schema(zones.bronze_batch_schema(contract)):
            fields.setdefault(f.name, f.remove_metadata())
    return pa.schema(
        [pa.field(ENTITY, pa.string()), *fields.values(), pa.field(OUTCOME, pa.string())]
    )


def read_on_executors(
    spark: SparkSession,
    root: Root,
    landed: Sequence[LandedFile],
    contracts: Mapping[str, Contract],
    limits: IntakeSettings,
    run_id: str,
    now: dt.datetime,
) -> tuple[list[Intake], DataFrame]:
    """Each file's `Intake` (outcome and row count; its rows are not on the driver) and the
    accepted files' rows in `landed_schema`, without the outcome column."""
    from pyspark.sql.pandas.types import from_arrow_schema

    schema = landed_schema(contracts)
    files = [(i, f.path, f.relative, f.size, f.mtime_ns) for i, f in enumerate(landed)]
    listing = spark.createDataFrame(spark.sparkContext.parallelize(files, len(files)), _FILES)
    job = _Job(root.uri, dict(root.areas), dict(contracts), limits, run_id, now, schema)
    read = partial(_read_files, job)
    rows = map_in_arrow(listing, read, from_arrow_schema(schema)).localCheckpoint(eager=True)
    found = rows.where(f"{OUTCOME} IS NOT NULL").select(OUTCOME).collect()
    outcomes = {o["i"]: o for o in (json.loads(r[0]) for r in found)}
    items = [_intake(f, outcomes[i]) for i, f in enumerate(landed)]
    return items, rows.where(f"{OUTCOME} IS NULL").drop(OUTCOME)


def _intake(landed: LandedFile, outcome: dict[str, Any]) -> Intake:
    if outcome.get("retryable"):
        raise RetryableError(outcome["retryable"])
    item = Intake(landed, outcome["sha256"], outcome["format"], outcome["entity"])
    item.gone = bool(outcome.get("gone"))
    item.released_rows = int(outcome["rows"])
    if outcome["rejected"] is not None:
        reasons, detail = outcome["rejected"]
        item.rejected = FileRejected(landed.relative, reasons, detail)
    return item


@dataclass(frozen=True)
class _Job:
    """What a task needs to read its files (sent to the executors with the task)."""

    root_uri: str
    areas: dict[str, str]
    contracts: dict[str, Contract]
    limits: IntakeSettings
    run_id: str
    now: dt.datetime
    schema: pa.Schema


def _read_files(job: _Job, listed: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """A task: for each listed file, its outcome row, then its rows. A module function, so the
    executors import this code rather than receive a copy of the driver's."""
    root = Root(job.root_uri, landing=job.areas.get("landing"), archive=job.areas.get("archive"))
    for batch in listed:
        for f in batch.to_pylist():
            landed = LandedFile(f["path"], f["relative"], f["size"], f["mtime_ns"])
            try:
                item = take_in(root, landed, job.contracts, job.limits)
            except RetryableError as exc:
                yield _outcome_row(job.schema, {"i": f["i"], "retryable": str(exc)})
                continue
            yield _outcome_row(job.schema, _outcome(f["i"], item))
            if item.rejected is None and item.entity is not None:
                rows = file_rows(job.contracts[item.entity], item, job.run_id, job.now)
                item.release()
                yield from _landed(rows, item.entity, job.schema).to_batches(_BATCH_ROWS)


def _outcome(i: int, item: Intake) -> dict[str, Any]:
    rejected = item.rejected
    return {
        "i": i,
        "sha256": item.sha256,
        "format": item.format,
        "entity": item.entity,
        "rows": item.rows,
        "gone": item.gone,
        "rejected": None if rejected is None else [rejected.reasons, rejected.detail],
    }


def _outcome_row(schema: pa.Schema, outcome: dict[str, Any]) -> pa.RecordBatch:
    columns = [pa.nulls(1, f.type) for f in schema]
    columns[schema.get_field_index(OUTCOME)] = pa.array([json.dumps(outcome)], pa.string())
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def _landed(rows: pa.Table, entity: str, schema: pa.Schema) -> pa.Table:
    """A file's bronze rows in the landed layout: other contracts' columns null."""
    n = rows.num_rows
    columns = []
    for f in schema:
        if f.name == ENTITY:
            columns.append(pa.repeat(pa.scalar(entity, pa.string()), n))
        elif f.name in rows.column_names:
            columns.append(rows[f.name].cast(f.type))
        else:
            columns.append(pa.nulls(n, f.type))
    return pa.Table.from_arrays(columns, schema=schema)
