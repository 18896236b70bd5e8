"""Delta table helpers shared by the local engine and the CLI: open, create, commit metadata."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

import pyarrow as pa
import pyarrow.fs as pafs
from deltalake import ColumnProperties, CommitProperties, DeltaTable, Transaction, WriterProperties
from deltalake.exceptions import CommitFailedError, TableNotFoundError

from lakehouse.errors import RetryableError, SchemaEvolutionError, TableNotFound
from lakehouse.store import fencing
from lakehouse.store.root import Root

T = TypeVar("T")
CDF = {"delta.enableChangeDataFeed": "true"}
#: `_sheet` is '' on every row of a file that is not a workbook. delta-rs (1.6) spends about
#: 0.3 s per million rows on the dictionary and statistics of a column whose every value is ''
#: (0.01 s for a column of 'x'): half of silver order_items' write at 1 M rows. Nothing filters
#: on `_sheet`, so it is written plain, without statistics.
PLAIN_COLUMNS = {"_sheet": ColumnProperties(statistics_enabled="NONE", dictionary_enabled=False)}


def writer_properties(
    compression: Literal["SNAPPY", "ZSTD"] = "SNAPPY", **options: Any
) -> WriterProperties:
    """Parquet settings for the files of bronze, silver and quarantine tables. The codec is
    always named: delta-rs writes UNCOMPRESSED once any property is given without one."""
    return WriterProperties(compression=compression, column_properties=PLAIN_COLUMNS, **options)


@dataclass(frozen=True)
class CommitInfo:
    """What every commit records: the run, the step and the source files it came from."""

    run_id: str
    operation: str
    source_files: Sequence[str] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def properties(self, app_ids: Sequence[str] = ()) -> CommitProperties:
        """The commit's metadata, built right before each commit: a writer whose lock lease
        ran out is stopped here (`lakehouse.store.fencing`)."""
        fencing.check_leases()
        meta = {
            "lakehouse.run_id": self.run_id,
            "lakehouse.operation": self.operation,
            "lakehouse.source_files": json.dumps(list(self.source_files)),
            **{
                f"lakehouse.{k}": v if isinstance(v, str) else json.dumps(v)
                for k, v in self.extra.items()
            },
        }
        txns = [Transaction(app_id=a, version=1) for a in app_ids]
        return CommitProperties(custom_metadata=meta, app_transactions=txns or None)


def lakehouse_metadata(commit: dict[str, Any]) -> dict[str, Any]:
    """A commit's `lakehouse.*` keys, as either engine writes them: delta-rs as commitInfo keys,
    delta-spark as one JSON object in `userMetadata` (`engines.spark.frames.user_metadata`)."""
    try:
        meta = json.loads(commit.get("userMetadata") or "{}")
    except (TypeError, ValueError):
        meta = {}
    found = meta if isinstance(meta, dict) else {}
    return {**found, **{k: v for k, v in commit.items() if k.startswith("lakehouse.")}}


def commit_time(commit: dict[str, Any], minus_ms: int = 0) -> datetime:
    """When a commit of a table's history was made (its `timestamp`, milliseconds since the
    epoch, less `minus_ms`), in UTC."""
    return datetime.fromtimestamp((int(commit["timestamp"]) - minus_ms) / 1000, UTC)


def open_table(root: Root, zone: str, name: str, version: int | str | None = None) -> DeltaTable:
    uri = root.table_uri(zone, name)
    try:
        dt = DeltaTable(uri, storage_options=root.storage_options())
    except TableNotFoundError as exc:
        raise TableNotFound(
            f"table {zone}.{name} does not exist under {root.uri}; "
            "run `lakehouse tables` to list the tables"
        ) from exc
    if version is not None:
        dt.load_as_version(version)
    else:  # a snapshot this process may commit on: fenced
        fencing.guard(root, dt, f"{zone}.{name}")
    return dt


@dataclass(frozen=True)
class LogState:
    """What one listing of a table's `_delta_log` tells, without reading a commit."""

    version: int  # the newest version committed (a commit file or a checkpoint)
    oldest_at: datetime  # when the oldest commit file still in the log was written (mtime)


def log_state(root: Root, table_path: str) -> LogState | None:
    """The table at `table_path` (a `root.fs` path) as one listing of its `_delta_log` sees it;
    None when the folder holds no table (no commit, no checkpoint: a first commit that never
    landed, after a full disk or a crash while creating it).

    Opening a table reads every commit since its last checkpoint: on S3 one request per commit,
    where asking whether a table exists, or how many commits it holds, needs a single LIST."""
    log = pafs.FileSelector(f"{table_path}/_delta_log", allow_not_found=True)
    versions: list[int] = []
    written: list[datetime] = []
    for f in root.fs.get_file_info(log):
        version, _, kind = f.base_name.partition(".")
        if not version.isdigit():
            continue
        if kind == "json":
            versions.append(int(version))
            if f.mtime is not None:
                written.append(f.mtime.astimezone(UTC))
        elif kind.startswith("checkpoint"):
            versions.append(int(version))
    if not versions:
        return None
    oldest = min(written) if written else datetime.now(UTC)
    return LogState(max(versions), oldest)


def is_committed(root: Root, table_path: str) -> bool:
    """Whether the folder at `table_path` (a `root.fs` path) holds a table (`log_state`)."""
    return log_state(root, table_path) is not None


def holds_files(dt: DeltaTable) -> bool:
    """Whether the snapshot has any data file (a table without one holds no row)."""
    return bool(dt.get_add_actions(flatten=False).num_rows)


def try_open(root: Root, zone: str, name: str, version: int | None = None) -> DeltaTable | None:
    try:
        return open_table(root, zone, name, version)
    except TableNotFound:
        return None


def ensure_table(
    root: Root,
    zone: str,
    name: str,
    schema: pa.Schema,
    *,
    partition_by: Sequence[str] = (),
    description: str = "",
    configuration: dict[str, str] | None = None,
    evolve: bool = True,
    absent: bool = False,
    opened: DeltaTable | None = None,
) -> DeltaTable:
    """Open the table, creating it from `schema` if absent and adding new nullable columns.

    A caller that has just looked says what it found, so the table is not looked for again:
    `absent` (no table) or `opened` (the snapshot it opened, fenced by `open_table`)."""
    dt = opened if opened is not None else None if absent else try_open(root, zone, name)
    if dt is None:
        try:
            dt = DeltaTable.create(
                root.table_uri(zone, name),
                schema=schema,
                partition_by=list(partition_by) or None,
                name=f"{zone}.{name}",
                description=description,
                configuration={**(configuration or {}), **fencing.epoch_configuration(root)},
                storage_options=root.storage_options(),
                mode="ignore",
                raise_if_key_not_exists=False,  # lakehouse.* keys are ours
            )
        except CommitFailedError:
            # another writer created it first (on S3 its conditional write of version 0 won)
            dt = open_table(root, zone, name)
        else:
            fencing.guard(root, dt, f"{zone}.{name}")  # `ignore` may have found one
            return dt
    evolve_schema(dt, schema, f"{zone}.{name}", allowed=evolve)
    sync_comments(dt, schema)
    return dt


def evolve_schema(dt: DeltaTable, wanted: pa.Schema, table: str, *, allowed: bool) -> list[str]:
    """Add the wanted schema's missing nullable columns; refuse type changes. Returns added."""
    from deltalake import Field
    from deltalake import Schema as DeltaSchema

    added = columns_to_add(pa.schema(dt.schema()), wanted, table, allowed=allowed)
    if not added:
        return []
    for f in added:
        if not f.nullable:
            raise SchemaEvolutionError(
                f"{table}: new column {f.name!r} must be optional (required = false) to be added "
                "to an existing table"
            )
    fields = DeltaSchema.from_arrow(pa.schema(added)).fields
    dt.alter.add_columns(
        [Field(x.name, x.type, nullable=True, metadata=x.metadata) for x in fields]
    )
    return [f.name for f in added]


def sync_comments(dt: DeltaTable, wanted: pa.Schema) -> list[str]:
    """Give stored columns the descriptions (`comment`) the definitions now hold; returns the
    columns changed.

    delta-rs refuses to write data whose field comment differs from the table's ("Cannot merge
    metadata with different values for key comment"), so a description edited in a contract or
    a model header would otherwise block every later run. One metadata commit per changed
    column, only when something changed."""
    stored = {f.name: f for f in pa.schema(dt.schema())}
    changed: list[str] = []
    for f in wanted:
        have = stored.get(f.name)
        want = (f.metadata or {}).get(b"comment")
        if have is None or want is None or (have.metadata or {}).get(b"comment") == want:
            continue
        fencing.check_leases()
        kept = {k.decode(): v.decode() for k, v in (have.metadata or {}).items()}
        dt.alter.set_column_metadata(f.name, {**kept, "comment": want.decode()})
        changed.append(f.name)
    return changed


def columns_to_add(
    stored: pa.Schema,
    wanted: pa.Schema,
    table: str,
    *,
    allowed: bool,
    contract: str = "the contract",
) -> list[pa.Field]:
    """The wanted columns a stored table lacks; raise on a type change, or on any addition
    when evolution is not `allowed`. Writes nothing (the pre-run check uses it too)."""
    added: list[pa.Field] = []
    for f in wanted:
        if f.name not in stored.names:
            added.append(f)
            continue
        have = stored.field(f.name).type
        if not same_type(have, f.type):
            raise SchemaEvolutionError(
                f"{table}: column {f.name!r} is {have} in the table but {f.type} in {contract}; "
                "type changes are refused — add a new column instead, or restore the contract"
            )
    if added and not allowed:
        raise SchemaEvolutionError(
            f"{table}: {contract} adds columns {[f.name for f in added]} but its evolution "
            "policy is 'freeze'"
        )
    return added


#: the text types Arrow and delta-rs give (large, or a view) as plain text, the one type every
#: compute kernel and Spark's Arrow reader take
PLAIN_TEXT = {pa.large_string(): pa.string(), pa.string_view(): pa.string()}


def same_type(a: pa.DataType, b: pa.DataType) -> bool:
    """Whether two column types are the same, whatever kind of text each one is."""
    return bool(PLAIN_TEXT.get(a, a) == PLAIN_TEXT.get(b, b))


def plain_text(table: pa.Table) -> pa.Table:
    """`table` with its text columns as plain text (`PLAIN_TEXT`)."""
    return table.cast(
        pa.schema([f.with_type(PLAIN_TEXT.get(f.type, f.type)) for f in table.schema])
    )


def read_arrow(dt: DeltaTable, columns: Sequence[str] | None = None) -> pa.Table:
    return dt.to_pyarrow_dataset().to_table(columns=list(columns) if columns else None)


def retry_conflicts(commit: Callable[[], T], *, attempts: int = 5, pause: float = 0.2) -> T:
    """Run `commit` (which must re-read the table), again when a concurrent writer won the race
    for the next version (`CommitFailedError`); the loser's commit is never written over."""
    for attempt in range(1, attempts + 1):
        try:
            return commit()
        except CommitFailedError as exc:
            if attempt == attempts:
                raise RetryableError(
                    f"commit lost {attempts} races to concurrent writers: {exc}; "
                    "retry the step (nothing was written by this attempt)"
                ) from exc
            time.sleep(pause * attempt)
    raise AssertionError("unreachable")
