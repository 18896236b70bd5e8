"""The steps of a run, each `fn(state, **params) -> result`; order lives in definition.py.

A step reads the run's inputs and the earlier steps' results (`state.results`), and writes its
own result there (`lakehouse.orchestration.results`); the runner keeps its output dict.

Every step is idempotent, so the runner may retry it after a transient error and a killed run
is converged by the next one: bronze appends are keyed by file hash, silver merges write only
changed rows, quarantine merges are keyed by row position, the manifest is written once per run
and a file is moved only if it is still in landing/.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
from pyarrow import feather

from lakehouse.contracts import Contract
from lakehouse.engines.base import EntityResult, RunContext
from lakehouse.faults import fault_point
from lakehouse.ingest.intake import Intake, bronze_rows
from lakehouse.log import event
from lakehouse.orchestration.landing import (
    Destinations,
    move_file,
    still_as_read,
    unfinished_move,
)
from lakehouse.orchestration.repair import repair_entity
from lakehouse.orchestration.results import (
    ArchiveResult,
    BronzeResult,
    Discovered,
    GoldResult,
    QualityResult,
    SilverResult,
)
from lakehouse.orchestration.state import RunState
from lakehouse.store import ops
from lakehouse.store.deliveries import (
    arrival_order,
    held_folders,
    is_delivery,
    is_held,
    link_refusal,
)
from lakehouse.store.fencing import LockLost


def discover(state: RunState) -> Discovered:
    """Files in landing/ (only those named in `state.only`, when set) and the manifest.

    The files are taken in arrival order (`deliveries.arrival_order`), so of two deliveries of
    one file the later one wins in silver (bronze `_seq` follows this order). A symbolic
    link in landing/ that leads outside it (or to no regular file) is refused, its target
    never read."""
    root = state.root
    files = list(root.walk_files("landing"))
    held = held_folders(f.relative for f in files)  # a drop still being written, by its marker
    landed = [f for f in files if is_delivery(f.relative) and not is_held(f.relative, held)]
    if state.only is not None:
        wanted = set(state.only)
        landed = [f for f in landed if f.relative in wanted]
    refused: dict[str, tuple[str, str | None]] = {
        name: (why, None) for name, why in state.delivery_refused.items()
    }
    if root.is_local:
        area = root.path("landing")
        for f in landed:
            why = link_refusal(f.path, area, "landing/")
            if why is not None:
                refused[f.relative] = (why, f.path)
        landed = [f for f in landed if f.relative not in refused]
    found = Discovered(tuple(sorted(landed, key=arrival_order)), ops.known_files(root), refused)
    state.results.discover = found
    return found


def bronze(state: RunState) -> BronzeResult:
    """Read each landed file: duplicates and rejects are set aside; rows go to bronze."""
    from lakehouse.orchestration.preflight import check_tables, create_entity_tables

    found = state.results.discover
    landed = found.landed
    taken: Iterator[Intake] = iter(())
    held = False  # the engine holds the rows it read: never flushed early, never spilled
    if landed:
        engine = state.engine()
        held = engine.capabilities.distributed
        limits = state.settings.intake
        taken = engine.take_in_all(landed, state.contracts, limits, state.run_id, state.now)
    silver = check_tables(state.root, state.contracts)  # a refused change writes nothing
    create_entity_tables(state.root, state.contracts, silver)
    s = state.summary
    s.files_loaded, s.files_rejected, s.files_duplicate = [], {}, []
    state.results.bronze = b = BronzeResult()
    seen_now: dict[str, Intake] = {}  # sha256 -> the run's first file of those bytes
    buffered: dict[str, list[Intake]] = {}
    chunk_rows = state.settings.pipeline.chunk_rows
    places = Destinations(state.root, s.run_id, s.started_at.strftime("%Y-%m-%d"))
    for i, (f, item) in enumerate(zip(landed, taken, strict=True)):
        state.tick("read", i, len(landed))
        if item.gone:  # taken away since the listing: nothing to load, record or move
            event("file_gone", logging.WARNING, run_id=state.run_id, file=f.relative)
            continue
        # bytes loaded before are a duplicate; bytes rejected before are checked again (they
        # were read anyway), against today's contracts and limits: a file rejected for a
        # column the contract has since taken in loads when it is sent again
        known = found.known.get(item.sha256) if item.sha256 else None  # "": never read
        earlier = seen_now.get(item.sha256) if item.sha256 else None
        unfinished = unfinished_move(state.root, known, f.relative)
        if unfinished is not None and earlier is None:  # loaded by a stopped run: its move
            b.moves.append((f.path, unfinished, None))
            continue
        if (known is not None and known.status != "rejected") or earlier is not None:
            s.files_duplicate.append(f.relative)
            if earlier is not None and earlier.rejected is not None:
                rej = earlier.rejected
                move = places.rejected(f.relative, f.path, rej.reasons, rej.detail)
            else:
                move = (f.path, places.archived(f.relative, duplicate=True), None)
            b.moves.append(move)
            b.records.append(item.record("duplicate", moved_to=move[1]))
            continue
        if item.sha256:
            seen_now[item.sha256] = item
        if item.rejected is not None:
            rej = item.rejected
            s.files_rejected[f.relative] = rej.reasons
            mv = places.rejected(f.relative, f.path, rej.reasons, rej.detail)
            b.moves.append(mv)
            b.records.append(item.record("rejected", rej.reasons, rej.detail, mv[1], rows=0))
            event("file_rejected", file=f.relative, reasons=rej.reasons, detail=rej.detail)
            continue
        b.seqs[item.sha256] = len(b.fresh)
        b.fresh.append(item)
        dst = places.archived(f.relative)
        b.moves.append((f.path, dst, None))
        b.records.append(item.record("loaded", moved_to=dst))
        assert item.entity is not None
        buffer = buffered.setdefault(item.entity, [])
        if buffer and not held and sum(i.rows for i in buffer) + item.rows > chunk_rows:
            _flush_bronze(state, item.entity, buffer, keep=False)
            buffer = buffered[item.entity] = []
        buffer.append(item)
    state.tick("read", len(landed), len(landed))
    s.files_loaded = [i.landed.relative for i in b.fresh]
    _record_refused(state, places)
    for entity in state.contracts:
        items = buffered.pop(entity, [])
        b.bytes_in[entity] = sum(i.landed.size for i in _items(state, entity))
        whole = len(items) == len(_items(state, entity))  # never flushed early: keep the rows
        if items or whole:
            _flush_bronze(state, entity, items, keep=whole)
        fault_point(f"after_bronze:{entity}")
    return b


def _flush_bronze(state: RunState, entity: str, items: list[Intake], *, keep: bool) -> None:
    """Append these files' rows to bronze. With `keep`, the rows stay in `results.bronze.rows`
    for the silver step; otherwise they go to a local scratch Arrow file, one per chunk of
    about `pipeline.chunk_rows` rows, and leave memory."""
    contract = state.contracts[entity]
    b = state.results.bronze
    if not items:  # the entity's empty batch, for silver to re-check waiting rows
        b.rows[entity] = bronze_rows(contract, [], b.seqs, state.run_id, state.now)
        return
    engine = state.engine()
    rows = engine.bronze_rows(contract, items, b.seqs, state.run_id, state.now)
    if keep:
        b.rows[entity] = rows
    else:
        spills = b.spills.setdefault(entity, [])
        path = state.scratch_file(f"{entity}-{len(spills)}.arrow")
        feather.write_feather(rows, path, compression="uncompressed")  # written and mapped fast
        spills.append((path, items))
    n = sum(item.rows for item in items)
    if n:
        version = engine.write_bronze(contract, rows, [i.sha256 for i in items], _ctx(state, items))
        if version is not None:
            with state._lock:
                state.versions[f"bronze.{contract.entity}"] = version
    for item in items:
        item.release()
    b.rows_appended += n


def silver(state: RunState, entity: str) -> SilverResult:
    """Validate the entity's new rows (and rows waiting for a parent); merge; quarantine."""
    contract = state.contracts[entity]
    bronze = state.results.bronze
    items = _items(state, entity)
    rows = bronze.rows.get(entity)
    if rows is not None:
        result = _process(state, contract, rows, _ctx(state, items))
    else:  # a big run: validate and merge one chunk at a time
        result = EntityResult(entity)
        earlier: frozenset[str] = frozenset()  # the files of the chunks before
        for n, (path, chunk) in enumerate(bronze.spills[entity]):
            rows = feather.read_table(path, memory_map=True)
            ctx = _ctx(state, chunk, recheck=n == 0, done=earlier)
            part = _process(state, contract, rows, ctx)
            earlier |= {i.sha256 for i in chunk}
            part.check_accounting()
            result.add(part)
        for path, _ in bronze.spills.pop(entity):  # done: a retry would not need them
            os.remove(path)
    if f"silver.{entity}" in result.versions:  # defence behind fencing: one row per key
        n = result.inserted + result.updated  # rows the run wrote
        repair_entity(state.root, contract, state.run_id, written_by=state.run_id, written_rows=n)
    fault_point(f"after_silver:{entity}")
    result.check_accounting()
    latency: float | None = None
    if items:
        newest = max(i.landed.mtime_ns for i in items) / 1e9
        latency = max(0.0, time.time() - newest)
    out = SilverResult(result, latency)
    with state._lock:
        state.summary.entities[entity] = result
        state.results.silver[entity] = out
        state.versions.update(result.versions)
        done = len(state.summary.entities)
    state.tick("validate", done, len(state.contracts))
    event(
        "entity_done",
        run_id=state.run_id,
        entity=entity,
        rows_in=result.rows_in,
        valid=result.valid,
        quarantined=result.quarantined,
        released=result.released,
        superseded=result.superseded,
        inserted=result.inserted,
        updated=result.updated,
    )
    return out


def _process(state: RunState, contract: Contract, rows: pa.Table, ctx: RunContext) -> EntityResult:
    """`process_entity`; when it fails and silver holds duplicate keys (which make its MERGE
    fail), repair them (newest row wins) and try once more instead of failing every run."""
    engine = state.engine()
    try:
        return engine.process_entity(contract, rows, ctx)
    except LockLost:
        raise
    except Exception:
        if not repair_entity(state.root, contract, state.run_id).keys:
            raise
    return engine.process_entity(contract, rows, ctx)


def gold(state: RunState) -> GoldResult:
    """Refresh gold for what changed in silver since the last gold build (any run's changes,
    so a run killed before this step is caught up by the next one); budget models once their
    staleness budget is spent (`lakehouse.gold.freshness`). First, child rows a parent's
    correction left disagreeing go back to quarantine (`lakehouse.engines.recheck`)."""
    from lakehouse.gold.builds import builds
    from lakehouse.gold.refresh import GiveWay

    engine = state.engine()
    history = builds(state.root)  # the last build: where both the re-check and gold start
    rechecked = engine.recheck_children(state.contracts, _ctx(state, []), history)
    give_way = None if state.gold_gives_way is None else GiveWay(state.gold_gives_way)
    versions = engine.refresh_gold(
        state.run_id,
        state.now,
        state.settings.gold,
        refresh_all=state.refresh_all,
        give_way=give_way,
        history=history,
    )
    left = tuple(give_way.left) if give_way is not None else ()
    result = GoldResult(len(versions), dict(engine.gold_rows), left)
    with state._lock:
        state.versions.update(rechecked.versions)
        state.versions.update(versions)
        state.summary.requarantined = rechecked.moved
        state.results.gold = result
    fault_point("after_gold")
    return result


def catalog_sync(state: RunState) -> dict[str, Any]:
    """Locally the Delta tables carry their own schema and descriptions (written with every
    table from the contracts), so there is nothing to publish; on AWS this step is the Glue
    Data Catalog sync job named in the state machine's resources."""
    return {"tables": len(state.summary.entities)}


def quality(state: RunState) -> QualityResult:
    """Evaluate the SLAs (reject rate, freshness, duration) and collect the run's metrics."""
    from lakehouse.monitoring import metrics, sla

    metrics.collect_run(state)
    state.results.quality = result = QualityResult(tuple(sla.run_findings(state)))
    return result


def archive(state: RunState) -> ArchiveResult:
    """Write the files manifest once, then move each file still in landing/ as it was read.

    A file whose size or modification time changed since discovery was replaced by its
    producer while the run read it: it is left for the next run (its manifest entry here
    names the bytes this run read, not the new ones)."""
    bronze = state.results.bronze
    if not state.results.archive.manifest:
        ops.record_files(state.root, bronze.records, state.run_id, state.now)
        state.results.archive = ArchiveResult(manifest=True)
    fault_point("after_manifest")
    moves = bronze.moves
    seen = {f.path: f for f in state.results.discover.landed}
    moved = 0
    for i, move in enumerate(moves):
        state.tick("archive", i, len(moves))
        if i == len(moves) // 2:
            fault_point("mid_archive")
        if not still_as_read(state.root, move[0], seen.get(move[0])):
            continue  # moved by an earlier attempt, or replaced since it was read
        try:
            move_file(state.root, move)
        except PermissionError as exc:  # another owner's file in a shared drop folder: every
            # run failed here, the files after it unmoved; it stays (its rows are recorded)
            event("file_not_moved", logging.WARNING, file=move[0], error=str(exc))
            continue
        moved += 1
    state.tick("archive", len(moves), len(moves))
    state.results.archive = result = ArchiveResult(manifest=True, moved=moved)
    return result


def _record_refused(state: RunState, places: Destinations) -> None:
    """Refused files join the run's rejected files, `unreadable_file` with why; a link found
    in landing/ moves to quarantine/files like any rejected file. Their manifest SHA-256 is
    empty: no byte of theirs was read."""
    reasons = ["unreadable_file"]
    b = state.results.bronze
    for name, (why, path) in state.results.discover.refused.items():
        state.summary.files_rejected[name] = reasons
        dst = ""
        if path is not None:
            move = places.rejected(name, path, reasons, why)
            b.moves.append(move)
            dst = move[1]
        record = ops.FileRecord("", name, None, None, 0, 0, "rejected", reasons, why, dst)
        b.records.append(record)
        event("file_refused", file=name, detail=why)


def notify(state: RunState) -> dict[str, Any]:
    """Open, update or resolve alerts from this run's findings; notify what changed."""
    from lakehouse.monitoring import alerts

    findings = list(state.results.quality.findings)
    changes = alerts.apply(state.root, state.settings, findings, state.now, state.run_id)
    return {"sent": len(changes)}


def record_failure(state: RunState) -> dict[str, Any]:
    """Mark the run FAILED with its error; open (or keep open) the run_failed alert, and
    notify every configured notifier once."""
    from lakehouse.monitoring import alerts, sla

    ops.record_run(
        state.root,
        {
            "run_id": state.run_id,
            "trigger": state.trigger,
            "engine": state.engine_name,
            "status": "FAILED",
            "started_at": state.now,
            "error": state.summary.error,
        },
    )
    finding = sla.failure_finding(state.summary.error)
    changes = alerts.apply(state.root, state.settings, [finding], state.now, state.run_id)
    return {"sent": len(changes)}


def _items(state: RunState, entity: str) -> list[Intake]:
    return [i for i in state.results.bronze.fresh if i.entity == entity]


def _ctx(
    state: RunState,
    items: list[Intake],
    *,
    recheck: bool = True,
    done: frozenset[str] = frozenset(),
) -> RunContext:
    files = tuple(i.landed.relative for i in items)
    seqs = frozenset(state.results.bronze.seqs)
    return RunContext(state.run_id, state.now, files, seqs, recheck, done)
