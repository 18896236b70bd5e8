"""What the operations page shows: runs, freshness against SLA, gold freshness against the
staleness budgets, quarantine, alerts, tables.

Read with SQL over `_ops.*` and `quarantine.*` (and Delta metadata for versions and history).
Every part is optional: a root without runs or alerts yet gives empty lists, and a part that
cannot be read is reported in `notes` instead of failing the page.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lakehouse.engines.dialect import literal, quote
from lakehouse.report.data import Rows, Source
from lakehouse.store.tables import sql_name

if TYPE_CHECKING:
    from lakehouse.monitoring.status import StatusReport

RUNS = 30
EXAMPLES = 5
HISTORY = 10


@dataclass
class Operations:
    now: dt.datetime
    runs: Rows = field(default_factory=list)  # newest first
    freshness: Rows = field(default_factory=list)
    gold: Rows = field(default_factory=list)  # the gold models with a staleness budget
    gold_every_run: list[str] = field(default_factory=list)  # the other gold models
    quarantine: Rows = field(default_factory=list)  # entity, reason, rows
    quarantine_rows: dict[str, int] = field(default_factory=dict)  # entity -> rows held
    examples: dict[str, Rows] = field(default_factory=dict)  # "entity|reason" -> rows
    rejected_files: Rows = field(default_factory=list)
    alerts: Rows = field(default_factory=list)  # open first, then recently resolved
    tables: Rows = field(default_factory=list)
    history: dict[str, Rows] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)  # part -> why it is missing
    unreadable: dict[str, str] = field(default_factory=dict)  # table -> why not read


def runs(src: Source) -> Rows:
    if not src.has("_ops.runs"):
        return []
    return src.rows(
        "SELECT run_id, trigger, engine, status, started_at, ended_at, duration_s, error, "
        "rows_in, rows_valid, rows_quarantined, len(files) AS files FROM _ops.runs "
        f"ORDER BY started_at DESC LIMIT {RUNS}"
    )


def status(src: Source, now: dt.datetime) -> StatusReport:
    """What `lakehouse status` reports at `now`: the silver and gold freshness parts both
    read it (once per page)."""
    from lakehouse.config.loader import load
    from lakehouse.contracts import load_contracts
    from lakehouse.monitoring.status import report

    return report(src.root, load(src.root), load_contracts(None), now=now, limit=1)


def freshness(status: StatusReport) -> Rows:
    """Per silver table: lag since data last arrived against its objective (monitoring)."""
    return [
        {
            "table": t.table,
            "last_loaded": t.last_loaded,
            "lag_minutes": t.lag_minutes,
            "objective_minutes": t.freshness_objective_minutes,
            "fresh": t.fresh,
            "reject_rate": t.reject_rate,
            "max_reject_rate": t.max_reject_rate,
            "reject_ok": t.reject_ok,
        }
        for t in status.tables
    ]


def gold(status: StatusReport) -> Rows:
    """Per gold model with a staleness budget: the status `lakehouse status` and `/api/state`
    show (as of, minutes behind silver, budget), with its state."""
    return [
        {
            "table": g.table,
            "as_of": g.as_of,
            "state": g.state,
            "staleness_minutes": g.staleness_minutes,
            "budget_minutes": g.budget_minutes,
        }
        for g in sorted(status.gold, key=lambda g: g.table)
    ]


def gold_every_run() -> list[str]:
    """The gold models refreshed by every run (current whenever a run ends)."""
    from lakehouse.gold import list_models

    return sorted(f"gold.{m.name}" for m in list_models() if m.freshness == "every run")


def quarantine_tables(src: Source) -> list[str]:
    return [t for t in src.tables if t.startswith("quarantine.")]


def quarantine_counts(src: Source) -> Rows:
    parts = [
        f"SELECT {literal(t.split('.', 1)[1])} AS entity, UNNEST(_reasons) AS reason "
        f"FROM {sql_name(t)}"
        for t in quarantine_tables(src)
        if "_reasons" in src.columns(t)
    ]
    if not parts:
        return []
    return src.rows(
        f"SELECT entity, reason, COUNT(*) AS rows FROM ({' UNION ALL '.join(parts)}) "
        "GROUP BY ALL ORDER BY rows DESC, entity, reason"
    )


def quarantine_rows(src: Source) -> dict[str, int]:
    """Rows held per quarantine table (a row with several reasons counts once)."""
    out = {}
    for t in quarantine_tables(src):
        out[t.split(".", 1)[1]] = int(src.rows(f"SELECT COUNT(*) AS n FROM {sql_name(t)}")[0]["n"])
    return out


def quarantine_examples(src: Source, per_reason: int = EXAMPLES) -> dict[str, Rows]:
    """Up to `per_reason` example rows (newest first) for each entity and reason code."""
    out: dict[str, Rows] = {}
    for t in quarantine_tables(src):
        cols = src.columns(t)
        if "_reasons" not in cols:
            continue
        entity = t.split(".", 1)[1]
        business = [c for c in cols if not c.startswith("_")]
        shown = ", ".join(map(quote, business))
        where = (
            "concat_ws(':', _source_file, nullif(_sheet, ''), CAST(_row AS VARCHAR))"
            if {"_source_file", "_sheet", "_row"} <= set(cols)
            else "NULL"
        )
        order = "_quarantined_at DESC, " if "_quarantined_at" in cols else ""
        rows = src.rows(
            f"WITH r AS (SELECT *, UNNEST(_reasons) AS _reason FROM {sql_name(t)}) "
            f"SELECT _reason, array_to_string(_reasons, ', ') AS _all_reasons, "
            f"{where} AS _where{', ' + shown if shown else ''} FROM r "
            f"QUALIFY row_number() OVER (PARTITION BY _reason ORDER BY {order}"
            f"{where}) <= {per_reason} ORDER BY _reason"
        )
        for r in rows:
            reason = r.pop("_reason")
            out.setdefault(f"{entity}|{reason}", []).append(r)
    return out


def rejected_files(src: Source) -> Rows:
    if not src.has("_ops.files"):
        return []
    return src.rows(
        "SELECT file, entity, array_to_string(reasons, ', ') AS reasons, detail, run_id, "
        "processed_at FROM _ops.files WHERE status = 'rejected' "
        "ORDER BY processed_at DESC, file LIMIT 50"
    )


def alerts(src: Source) -> Rows:
    if not src.has("_ops.alerts"):
        return []
    return src.rows(
        "SELECT alert_id, rule, subject, severity, status, message, value, threshold, "
        "opened_at, last_seen_at, resolved_at, occurrences FROM _ops.alerts "
        "ORDER BY status = 'open' DESC, last_seen_at DESC LIMIT 30"
    )


def tables(src: Source) -> tuple[Rows, dict[str, Rows]]:
    """Every table (rows, version, last update, description) and its newest history."""
    from lakehouse.store.tables import history, list_tables, table_info

    info: Rows = []
    hist: dict[str, Rows] = {}
    for name in list_tables(src.root):
        i = table_info(src.root, name)
        info.append(
            {
                "table": name,
                "rows": i.rows,
                "version": i.version,
                "files": i.files,
                "size_bytes": i.size_bytes,
                "last_update": i.last_update,
                "description": i.description,
            }
        )
        hist[name] = [
            {
                "version": h["version"],
                "timestamp": h["timestamp"],
                "operation": h["operation"],
                "run_id": h["run_id"],
                "step": h["step"],
                "rows_added": h["rows_added"],
                "rows_updated": h["rows_updated"],
                "rows_deleted": h["rows_deleted"],
                "source_files": len(h["source_files"]),
            }
            for h in history(src.root, name, HISTORY)
        ]
    return info, hist


def operations(src: Source, now: dt.datetime | None = None) -> Operations:
    """Read every part of the operations page; a part that fails becomes a note."""
    moment = now or dt.datetime.now(dt.UTC)
    o = Operations(now=moment)
    read_status = functools.cache(lambda: status(src, moment))
    parts: dict[str, Any] = {
        "runs": lambda: runs(src),
        "freshness": lambda: freshness(read_status()),
        "gold": lambda: gold(read_status()),
        "gold_every_run": gold_every_run,
        "quarantine": lambda: quarantine_counts(src),
        "quarantine_rows": lambda: quarantine_rows(src),
        "examples": lambda: quarantine_examples(src),
        "rejected_files": lambda: rejected_files(src),
        "alerts": lambda: alerts(src),
    }
    for name, read in parts.items():
        try:
            setattr(o, name, read())
        except Exception as exc:  # a broken part is shown as a note, the page still renders
            o.notes[name] = f"{type(exc).__name__}: {exc}".splitlines()[0]
    try:
        o.tables, o.history = tables(src)
    except Exception as exc:
        o.notes["tables"] = f"{type(exc).__name__}: {exc}".splitlines()[0]
    o.unreadable = dict(src.unreadable)  # the analytics pages show these as no data
    return o
