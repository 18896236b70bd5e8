"""Intake: hash landed files, recognise their entity, check their header, build bronze rows."""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import pyarrow as pa

from lakehouse.config.settings import IntakeSettings
from lakehouse.contracts import Contract
from lakehouse.contracts.validation import canonical_mask
from lakehouse.errors import FileRejected
from lakehouse.ingest.batch import ROW, Batch, normalise_header
from lakehouse.ingest.readers import file_format
from lakehouse.ingest.sandbox import read_isolated, start_reader_server
from lakehouse.store import zones
from lakehouse.store.ops import FileRecord
from lakehouse.store.root import LandedFile, Root


@dataclass
class Intake:
    """One landed file after reading: accepted with its batches, or rejected with reasons."""

    landed: LandedFile
    sha256: str
    format: str | None
    entity: str | None = None
    batches: list[Batch] = field(default_factory=list)
    rejected: FileRejected | None = None
    released_rows: int | None = None  # the row count once `release()` dropped the batches
    gone: bool = False  # no longer there when the run came to read it (moved away or deleted)

    @property
    def rows(self) -> int:
        if self.released_rows is not None:
            return self.released_rows
        return sum(b.table.num_rows for b in self.batches)

    def record(
        self,
        status: str,
        reasons: list[str] | None = None,
        detail: str = "",
        moved_to: str = "",
        rows: int | None = None,
    ) -> FileRecord:
        """The file's `_ops.files` row (its rows: as read, unless given)."""
        f = self.landed
        rows = self.rows if rows is None else rows
        return FileRecord(
            self.sha256,
            f.relative,
            self.entity,
            self.format,
            f.size,
            rows,
            status,
            reasons or [],
            detail,
            moved_to,
        )

    def release(self) -> None:
        """Drop the file's rows once they are in bronze; silver reads them back from there."""
        self.released_rows = self.rows
        self.batches = []


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def recognise(name: str, headers: list[list[str]], contracts: dict[str, Contract]) -> str | None:
    """Entity from the file name pattern; failing that, the contract whose columns fit best."""
    base = name.rsplit("/", 1)[-1]
    by_name = [c.entity for c in contracts.values() if c.matches_file_name(base)]
    if len(by_name) == 1:
        return by_name[0]
    cols = {normalise_header(h) for header in headers for h in header}
    best, best_score = None, 0.0
    for c in contracts.values():
        if not set(c.required) <= cols:
            continue
        score = len(cols & set(c.names)) / len(cols | set(c.names))
        if score > best_score:
            best, best_score = c.entity, score
    return best


def header_reasons(contract: Contract, batch: Batch) -> list[str]:
    cols = [normalise_header(h) for h in batch.columns]
    present, known = set(cols), set(contract.names)
    missing = [f"missing_column:{c}" for c in contract.required if c not in present]
    unexpected = [f"unexpected_column:{c}" for c in cols if c not in known]
    return missing + unexpected


#: How far the reader may run ahead of the caller, in landed bytes (always at least the next
#: file): far enough to keep reading while the caller writes a chunk of bronze (≈ 0.6 s a
#: million rows), near enough that the rows held waiting stay a fraction of a chunk's memory.
READ_AHEAD_BYTES = 128 * 2**20


def take_in_all(
    root: Root, landed: list[LandedFile], contracts: dict[str, Contract], limits: IntakeSettings
) -> Iterator[Intake]:
    """`take_in` of each file in order; later files are read while the caller handles this one.

    The reader server starts now (its imports take about a second), not at the first read.
    """
    start_reader_server()
    return _read_ahead(root, landed, contracts, limits)


def _read_ahead(
    root: Root, landed: list[LandedFile], contracts: dict[str, Contract], limits: IntakeSettings
) -> Iterator[Intake]:
    """Files are read one after another on one thread, up to `READ_AHEAD_BYTES` ahead of the
    file the caller is given."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lakehouse-read")
    ahead: deque[Future[Intake]] = deque()
    queued = held = 0  # files handed to the reader; their bytes not yet given to the caller
    try:
        for current in landed:
            while queued < len(landed) and (
                not ahead or held + landed[queued].size <= READ_AHEAD_BYTES + current.size
            ):
                ahead.append(pool.submit(take_in, root, landed[queued], contracts, limits))
                held += landed[queued].size
                queued += 1
            yield ahead.popleft().result()
            held -= current.size
    finally:  # a caller that stops early does not wait for the files queued ahead
        pool.shutdown(wait=True, cancel_futures=True)


def take_in(
    root: Root,
    landed: LandedFile,
    contracts: dict[str, Contract],
    limits: IntakeSettings | None = None,
) -> Intake:
    """Read one landed file in the reader sandbox and check it against its contract.

    A file the run may not read (its permissions) is rejected like an unreadable one, with an
    empty SHA-256 (no byte of it was read): before, its PermissionError failed every run and
    the other files never loaded. A file gone since the listing (its producer took it back)
    is `gone`: not this run's delivery. Any other failure to read is the storage's and fails
    the run (its retry policy applies: a network error is not the file's fault)."""
    try:
        data = root.read_bytes(landed.path)
    except FileNotFoundError:  # before, the run failed (the next one converged)
        return Intake(landed, "", file_format(landed.relative), gone=True)
    except PermissionError as exc:
        why = os.strerror(exc.errno or errno.EACCES)  # pyarrow's message repeats the path
        refused = FileRejected(
            landed.relative, ["unreadable_file"], f"the run may not read it: {why}"
        )
        return Intake(landed, "", file_format(landed.relative), rejected=refused)
    except OSError:  # a folder put in the file's place since the listing: gone, like a file
        if root.is_local and os.path.isdir(landed.path):  # before, the run failed
            return Intake(landed, "", file_format(landed.relative), gone=True)
        raise
    item = Intake(landed, sha256_of(data), file_format(landed.relative))
    try:
        item.batches = read_isolated(landed.relative, data, limits or IntakeSettings())
        item.entity = recognise(landed.relative, [b.columns for b in item.batches], contracts)
        if item.entity is None:
            raise FileRejected(
                landed.relative,
                ["unreadable_file"],
                "cannot tell the entity: name the file products*, orders* or order_items*, "
                "or give it the contract's columns",
            )
        per_batch = [(b, header_reasons(contracts[item.entity], b)) for b in item.batches]
        reasons = list(dict.fromkeys(r for _, found in per_batch for r in found))
        if reasons:
            where = [f"sheet {b.sheet!r}" for b, found in per_batch if found and b.sheet]
            detail = (
                f"columns do not match contract {item.entity} v"
                + str(contracts[item.entity].version)
                + (f" in {', '.join(where)}" if where else "")
            )
            raise FileRejected(landed.relative, reasons, detail)
    except FileRejected as exc:
        item.rejected = exc
        item.batches = []
    return item


def bronze_rows(
    contract: Contract, items: list[Intake], seqs: dict[str, int], run_id: str, now: dt.datetime
) -> pa.Table:
    """Every accepted row of the entity as text, with lineage, in the bronze layout, plus the
    run's bookkeeping: `_seq` (the file's order in the run) and `_recheck` (false)."""
    parts = [file_rows(contract, item, run_id, now) for item in items]
    seq = [
        pa.repeat(pa.scalar(seqs[i.sha256], pa.int64()), p.num_rows)
        for i, p in zip(items, parts, strict=True)
    ]
    table = pa.concat_tables(parts) if parts else zones.bronze_batch_schema(contract).empty_table()
    table = table.append_column("_seq", pa.chunked_array(seq, pa.int64()))
    return table.append_column("_recheck", pa.repeat(pa.scalar(False), table.num_rows))


def _same(zeros: pa.Array, text: str) -> pa.DictionaryArray:
    """`text` on every row: a dictionary of one value (`zones.PER_FILE_TEXT`)."""
    return pa.DictionaryArray.from_arrays(zeros, pa.array([text], pa.string()))


def file_rows(contract: Contract, item: Intake, run_id: str, now: dt.datetime) -> pa.Table:
    """One accepted file's rows in the bronze layout (`zones.bronze_batch_schema`): its cells
    as text, a null column for each contract column it lacks, the lineage of every row, and
    which of its columns were written from typed values (`zones.CANONICAL`)."""
    schema = zones.bronze_batch_schema(contract)
    parts = []
    for b in item.batches:
        n = b.table.num_rows
        zeros = pa.repeat(pa.scalar(0, pa.int32()), n)
        cols: dict[str, pa.Array | pa.ChunkedArray] = {}
        for name in contract.names:
            cols[name] = b.table[name] if name in b.table.column_names else pa.nulls(n, pa.string())
        cols["_source_file"] = _same(zeros, item.landed.relative)
        cols["_sheet"] = _same(zeros, b.sheet)
        cols["_row"] = b.table[ROW]
        cols["_file_sha256"] = _same(zeros, item.sha256)
        cols["_run_id"] = _same(zeros, run_id)
        cols["_ingested_at"] = pa.repeat(pa.scalar(now, zones.TS), n)
        cols["_sheet_index"] = pa.repeat(pa.scalar(b.sheet_index, pa.int64()), n)
        cols[zones.CANONICAL] = pa.repeat(pa.scalar(canonical_mask(contract, b.canonical)), n)
        parts.append(pa.table(cols).cast(schema))
    return pa.concat_tables(parts) if parts else schema.empty_table()
