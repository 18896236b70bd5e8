"""One run: landing → bronze → silver/quarantine → (gold) → manifest → archive.

Each table is written in one Delta commit per run; every write is idempotent (bronze by file
hash, silver by key and content, quarantine by row position), so a run killed at any point
is converged by the next run. Files leave landing only after everything they fed committed.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from lakehouse import ops
from lakehouse.contracts import Contract, load_contracts
from lakehouse.engines.base import Engine, EntityResult, RunContext
from lakehouse.errors import AccountingError, LakehouseError
from lakehouse.faults import checkpoint
from lakehouse.intake import Intake, bronze_rows, take_in
from lakehouse.log import event
from lakehouse.storage import Root

Progress = Callable[[str, int, int], None]  # (step, done, total)


@dataclass
class RunSummary:
    run_id: str
    status: str
    started_at: dt.datetime
    seconds: float
    files_loaded: list[str] = field(default_factory=list)
    files_rejected: dict[str, list[str]] = field(default_factory=dict)
    files_duplicate: list[str] = field(default_factory=list)
    entities: dict[str, EntityResult] = field(default_factory=dict)
    error: str | None = None

    @property
    def rows_in(self) -> int:
        return sum(e.rows_in for e in self.entities.values())

    @property
    def rows_quarantined(self) -> int:
        return sum(e.quarantined for e in self.entities.values())


def new_run_id(now: dt.datetime) -> str:
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def copy_sources(root: Root, sources: Iterable[Path]) -> list[str]:
    """Drop the given files (or folders' files) into landing/, keeping relative names."""
    copied = []
    for src in sources:
        src = Path(src)
        if not src.exists():
            raise LakehouseError(f"--source {src}: no such file or folder")
        files = [src] if src.is_file() else sorted(p for p in src.rglob("*") if p.is_file())
        for f in files:
            rel = f.name if src.is_file() else f"{src.name}/{f.relative_to(src).as_posix()}"
            if any(part.startswith((".", "_")) for part in Path(rel).parts):
                continue
            root.copy_in(f, root.path("landing", rel))
            copied.append(rel)
    return copied


def run(
    root: Root,
    *,
    engine_name: str = "local",
    trigger: str = "manual",
    contracts_dir: str | None = None,
    progress: Progress | None = None,
    now: dt.datetime | None = None,
) -> RunSummary:
    """Process every file in landing/. Raises after recording a FAILED run if anything fails."""
    from lakehouse.engines import create_engine

    started = now or dt.datetime.now(dt.UTC)
    run_id = new_run_id(started)
    t0 = time.perf_counter()
    summary = RunSummary(run_id, "RUNNING", started, 0.0)
    ops.record_run(
        root,
        {
            "run_id": run_id,
            "trigger": trigger,
            "engine": engine_name,
            "status": "RUNNING",
            "started_at": started,
        },
    )
    engine = create_engine(engine_name, root, contracts_dir)
    try:
        _process(root, engine, load_contracts(contracts_dir), summary, progress)
        summary.status = "SUCCEEDED"
    except Exception as exc:
        summary.status = "FAILED"
        summary.error = f"{type(exc).__name__}: {exc}"
        event("run_failed", run_id=run_id, error=summary.error, trace=traceback.format_exc())
        raise
    finally:
        engine.close()
        summary.seconds = time.perf_counter() - t0
        _record(root, summary, engine_name, trigger)
    return summary


def _record(root: Root, s: RunSummary, engine_name: str, trigger: str) -> None:
    details = {
        name: {
            k: (sorted(map(str, v)) if isinstance(v, set) else v)
            for k, v in e.__dict__.items()
            if not k.startswith("touched")
        }
        for name, e in s.entities.items()
    }
    details["_files"] = {"rejected": s.files_rejected, "duplicate": s.files_duplicate}
    ops.record_run(
        root,
        {
            "run_id": s.run_id,
            "trigger": trigger,
            "engine": engine_name,
            "status": s.status,
            "started_at": s.started_at,
            "ended_at": dt.datetime.now(dt.UTC),
            "duration_s": s.seconds,
            "error": s.error,
            "files": s.files_loaded,
            "rows_in": s.rows_in,
            "rows_valid": sum(e.valid for e in s.entities.values()),
            "rows_quarantined": s.rows_quarantined,
            "details": details,
        },
    )


def _process(
    root: Root,
    eng: Engine,
    contracts: dict[str, Contract],
    summary: RunSummary,
    progress: Progress | None,
) -> None:
    tick = progress or (lambda step, done, total: None)
    landed = root.list_files("landing")
    known = ops.known_files(root)
    fresh: list[Intake] = []
    seen_now: set[str] = set()
    records: list[ops.FileRecord] = []
    moves: list[tuple[str, str, str | None]] = []  # (src, dst, reason json or None)
    day = summary.started_at.strftime("%Y-%m-%d")
    for i, f in enumerate(landed):
        tick("read", i, len(landed))
        item = take_in(root, f, contracts)
        prior = known.get(item.sha256)
        if prior is not None or item.sha256 in seen_now:
            status = prior.status if prior else "loaded"
            summary.files_duplicate.append(f.relative)
            if status == "rejected" and prior is not None:
                moves.append(
                    _reject_move(
                        root, summary.run_id, f.relative, f.path, prior.reasons, prior.detail
                    )
                )
            else:
                dst = root.path("archive", day, summary.run_id, "duplicates", f.relative)
                moves.append((f.path, dst, None))
            records.append(
                ops.FileRecord(
                    item.sha256,
                    f.relative,
                    item.entity,
                    item.format,
                    f.size,
                    item.rows,
                    "duplicate",
                    moved_to=dst if status != "rejected" else "",
                )
            )
            continue
        seen_now.add(item.sha256)
        if item.rejected is not None:
            rej = item.rejected
            summary.files_rejected[f.relative] = rej.reasons
            mv = _reject_move(root, summary.run_id, f.relative, f.path, rej.reasons, rej.detail)
            moves.append(mv)
            records.append(
                ops.FileRecord(
                    item.sha256,
                    f.relative,
                    item.entity,
                    item.format,
                    f.size,
                    0,
                    "rejected",
                    rej.reasons,
                    rej.detail,
                    mv[1],
                )
            )
            event("file_rejected", file=f.relative, reasons=rej.reasons, detail=rej.detail)
            continue
        fresh.append(item)
        dst = root.path("archive", day, summary.run_id, f.relative)
        moves.append((f.path, dst, None))
        records.append(
            ops.FileRecord(
                item.sha256,
                f.relative,
                item.entity,
                item.format,
                f.size,
                item.rows,
                "loaded",
                moved_to=dst,
            )
        )
    tick("read", len(landed), len(landed))
    summary.files_loaded = [i.landed.relative for i in fresh]
    seqs = {item.sha256: n for n, item in enumerate(fresh)}
    by_entity: dict[str, list[Intake]] = {e: [] for e in contracts}
    for item in fresh:
        assert item.entity is not None
        by_entity[item.entity].append(item)
    ctx = RunContext(
        summary.run_id, summary.started_at, tuple(summary.files_loaded), frozenset(seqs)
    )
    for n, (entity, contract) in enumerate(contracts.items()):
        tick("validate", n, len(contracts))
        items = by_entity[entity]
        rows = bronze_rows(contract, items, seqs, summary.run_id, summary.started_at)
        files = tuple(i.landed.relative for i in items)
        ectx = RunContext(ctx.run_id, ctx.now, files, ctx.current_shas)
        if rows.num_rows:
            eng.write_bronze(contract, rows, [i.sha256 for i in items], ectx)
        checkpoint(f"after_bronze:{entity}")
        result = eng.process_entity(contract, rows, ectx)
        checkpoint(f"after_silver:{entity}")
        _check_accounting(result)
        summary.entities[entity] = result
        event(
            "entity_done",
            run_id=summary.run_id,
            entity=entity,
            rows_in=result.rows_in,
            valid=result.valid,
            quarantined=result.quarantined,
            released=result.released,
            inserted=result.inserted,
            updated=result.updated,
        )
    tick("validate", len(contracts), len(contracts))
    ops.record_files(root, records, summary.run_id, summary.started_at)
    checkpoint("after_manifest")
    for i, (src, dst, reason) in enumerate(moves):
        tick("archive", i, len(moves))
        if i == len(moves) // 2:
            checkpoint("mid_archive")
        if reason is not None:
            root.write_bytes(dst + ".reason.json", reason.encode())
        root.move(src, dst)
    tick("archive", len(moves), len(moves))


def _reject_move(
    root: Root, run_id: str, rel: str, path: str, reasons: list[str], detail: str
) -> tuple[str, str, str]:
    dst = root.path("quarantine", "files", run_id, rel)
    body = json.dumps(
        {"file": rel, "run_id": run_id, "reasons": reasons, "detail": detail}, indent=2
    )
    return path, dst, body


def _check_accounting(r: EntityResult) -> None:
    if r.rows_in + r.rows_rechecked != r.valid + r.quarantined:
        raise AccountingError(
            f"{r.entity}: read {r.rows_in} rows and re-checked {r.rows_rechecked}, but "
            f"{r.valid} were valid and {r.quarantined} quarantined; nothing was archived — "
            "report this as a bug with the run id"
        )
    if r.valid != r.inserted + r.updated + r.unchanged + r.released * 0:
        raise AccountingError(
            f"{r.entity}: {r.valid} valid rows but silver inserted {r.inserted}, updated "
            f"{r.updated}, left {r.unchanged} unchanged"
        )
