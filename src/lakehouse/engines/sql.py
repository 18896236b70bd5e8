"""Merge semantics written once (SQL in the shared dialect), used by every engine.

Every statement here is in the shared dialect (DuckDB's): `render`
(`lakehouse.engines.dialect.to_dialect`) is the one place it becomes another engine's SQL, and
identifiers are quoted by `dialect.quote`.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from lakehouse.contracts import Contract
from lakehouse.contracts.validation import (
    REASON_SEPARATOR,
    same_batch_row,
    typed_expr,
    typed_name,
)
from lakehouse.engines.dialect import quote, to_dialect
from lakehouse.store import zones

# lineage of a batch handed to the validation statement (bronze lineage + run bookkeeping)
BATCH_LINEAGE = [*zones.LINEAGE_NAMES, "_sheet_index", "_seq", "_recheck", zones.CANONICAL]
QUARANTINE_KEY = ("_file_sha256", "_sheet", "_row")
#: the reason a waiting quarantine row gets when silver holds a later row of its key
SUPERSEDED = "superseded"
#: reason codes (`<code>:<column>`) of a row that waits for its parent
PARENT_CODES = ("orphan", "parent_mismatch")

#: the name the engines import: shared SQL rendered for an engine (see lakehouse.engines.dialect)
render = to_dialect


def quote_all(names: Iterable[str]) -> str:
    """A select list of quoted identifiers in the shared dialect."""
    return ", ".join(quote(n) for n in names)


def columns_of(relation: str, names: Iterable[str]) -> str:
    """The statement selecting `names` from `relation`: what `Adapter.append_relation` writes."""
    return f"SELECT {quote_all(names)} FROM {quote(relation)}"


def repeated_keys_sql(contract: Contract, source_sql: str) -> str:
    """The keys `source_sql` yields more than once, each with how many rows it has (`__n`; see
    newest_per_key_sql)."""
    pk = ", ".join(quote(k) for k in contract.primary_key)
    return (
        f"SELECT {pk}, COUNT(*) AS __n FROM ({source_sql}) AS __src "
        f"GROUP BY {pk} HAVING COUNT(*) > 1"
    )


def newest_per_key_sql(
    contract: Contract,
    source_sql: str,
    columns: Sequence[str] | None = None,
    *,
    repeated: str | None = None,
) -> str:
    """One row per key from valid rows of several files: newest recency, then latest file.

    `source_sql` yields `columns` (default: the contract's columns and the lineage) and `_seq`,
    with no null key. Rows re-checked from quarantine share `_seq` -1: among them the later
    ingestion wins, then the file hash, so the choice never depends on the engine. Only keys
    that come more than once are ranked: a window over every row sorted the whole batch (half
    the statement's time at 1 M rows), where grouping by key finds the few repeats.
    `repeated`: a relation holding `repeated_keys_sql` of the same source, when the caller keeps
    it (the statement is then cheap enough to be a view read several times); by default the
    statement groups the keys itself.
    """
    names = list(columns or [*contract.names, *zones.LINEAGE_NAMES])
    keep = ", ".join(f"s.{quote(c)}" for c in names)
    pk = [quote(k) for k in contract.primary_key]
    on = " AND ".join(f"r.{k} = s.{k}" for k in pk)
    order = [f"s.{quote(contract.recency_column)} DESC"] if contract.recency_column else []
    order += ["s._seq DESC", "s._ingested_at DESC", "s._file_sha256 DESC"]
    if repeated is None:
        repeated = "__repeated"
        keys = repeated_keys_sql(contract, "SELECT * FROM __src")
        head = f"WITH __src AS ({source_sql}), __repeated AS ({keys}) "
    else:
        head = f"WITH __src AS ({source_sql}) "
    return (
        f"{head}"
        f"SELECT {keep} FROM __src AS s LEFT JOIN {repeated} AS r ON {on} WHERE r.{pk[0]} IS NULL "
        f"UNION ALL SELECT {', '.join(quote(c) for c in names)} FROM (SELECT {keep}, "
        f"ROW_NUMBER() OVER (PARTITION BY {', '.join(f's.{k}' for k in pk)} "
        f"ORDER BY {', '.join(order)}) AS __rank FROM __src AS s JOIN {repeated} AS r ON {on}) "
        f"AS __ranked WHERE __rank = 1"
    )


def _differs(contract: Contract, s: str, t: str) -> str:
    cols = [c for c in contract.names if c not in contract.primary_key]
    # each comparison parenthesised: delta-rs parses `a IS DISTINCT FROM b OR ...` wrongly
    return " OR ".join(f"({s}.{quote(c)} IS DISTINCT FROM {t}.{quote(c)})" for c in cols)


def _update_condition(contract: Contract, s: str, t: str) -> str:
    differs = f"({_differs(contract, s, t)})"
    if contract.recency_column:
        r = quote(contract.recency_column)
        return f"({s}.{r} >= {t}.{r}) AND {differs}"
    return differs


def changed_rows_sql(
    contract: Contract, valid: str, current: str, *, any_known: bool = True
) -> str:
    """Valid rows that would change silver: new keys (`_new_key` true), or newer-or-equal rows
    with new values. With `any_known` false (see `any_known_key_sql`) every row is new and
    `current` is not read."""
    if not any_known:
        return f"SELECT *, true AS _new_key FROM {valid}"
    on = " AND ".join(f"v.{quote(k)} = c.{quote(k)}" for k in contract.primary_key)
    cols = ", ".join(quote(c) for c in [*contract.names])
    first_key = quote(contract.primary_key[0])
    return (
        f"SELECT v.*, c.{first_key} IS NULL AS _new_key "
        f"FROM {valid} AS v LEFT JOIN (SELECT {cols} FROM {current}) AS c ON {on} "
        f"WHERE c.{first_key} IS NULL OR ({_update_condition(contract, 'v', 'c')})"
    )


def any_known_key_sql(contract: Contract, valid: str, current: str) -> str:
    """One row, one boolean: does any valid row's key exist in `current` already? Reads only the
    key columns; when false, every valid row is new and the full-row comparison of
    `changed_rows_sql` (which reads every column of the table) can be skipped."""
    keys = ", ".join(quote(k) for k in contract.primary_key)
    on = " AND ".join(f"v.{quote(k)} = c.{quote(k)}" for k in contract.primary_key)
    return (
        f"SELECT EXISTS (SELECT 1 FROM {valid} AS v "
        f"JOIN (SELECT {keys} FROM {current}) AS c ON {on})"
    )


def merge_predicates(contract: Contract) -> tuple[str, str]:
    """(match predicate, update predicate) for MERGE INTO silver t USING source s.

    The match is on the primary key only: putting the partition column (date) into it would
    insert a second row when a re-delivered order moved to another date.
    """
    on = " AND ".join(f"t.{quote(k)} = s.{quote(k)}" for k in contract.primary_key)
    return on, _update_condition(contract, "s", "t")


def waits_sql(reasons: str) -> str:
    """SQL: `reasons` (codes joined by `REASON_SEPARATOR`) are all about a parent (orphan or
    parent mismatch): the row waits for its parent."""
    codes = "|".join(PARENT_CODES)
    return f"REGEXP_MATCHES({reasons}, '^(({codes}):[A-Za-z0-9_]+[|]?)+$')"


def with_superseded(joined: str) -> str:
    """SQL: the reason codes `joined` (text, '' or null for none) with `superseded` added."""
    return f"CONCAT_WS('{REASON_SEPARATOR}', NULLIF({joined}, ''), '{SUPERSEDED}')"


def waiting_filter() -> str:
    """Quarantined rows whose every reason is about a parent (orphan or parent mismatch)."""
    return waits_sql(f"ARRAY_TO_STRING(_reasons, '{REASON_SEPARATOR}')")


# --- the steps of processing one entity, shared by every engine ------------------------------
def waiting_sql(quarantine: str, exclude_shas: Iterable[str]) -> str:
    """The quarantine rows that only wait for a parent, but those of files being loaded in this
    run: they are checked as new rows."""
    exclude = ", ".join(f"'{s}'" for s in sorted(exclude_shas)) or "''"
    return (
        f"SELECT * FROM {quarantine} WHERE {waiting_filter()} AND _file_sha256 NOT IN ({exclude})"
    )


def arrived_sql(contract: Contract, checked: str) -> str:
    """The batch's new rows that replace earlier deliveries of their key: valid, or waiting for
    a parent. Their typed key and recency (named as the contract's columns), `_seq` and
    `_valid`."""
    recency = contract.recency_column
    names = dict.fromkeys([*contract.primary_key, *([recency] if recency else [])])
    typed = ", ".join(f"{quote(typed_name(c))} AS {quote(c)}" for c in names)
    return (
        f"SELECT {typed}, _seq, _reasons = '' AS _valid FROM {checked} "
        f"WHERE NOT _recheck AND (_reasons = '' OR {waits_sql('_reasons')})"
    )


def _beats(contract: Contract, s: str, q: str, *, ties: bool) -> str:
    """SQL: `s`'s row wins against `q`'s in silver's merge by recency (`q.__recency`): a newer
    one, or (`ties`, `s` a later delivery) the same. Without a recency, only a later one."""
    if not contract.recency_column:
        return "true" if ties else "false"
    return f"{s}.{quote(contract.recency_column)} {'>=' if ties else '>'} {q}.__recency"


def superseded_sql(contract: Contract, waiting: str, rows: str, *, later: bool) -> str:
    """The `waiting` rows (`waiting_sql`) a row of `rows` (typed key and recency) replaces, as
    quarantine rows to upsert with `superseded` added to their reasons: they wait no more.

    `rows` are silver's (`later` false): a row with a newer recency, which a released waiting
    row could never replace. Or the batch's arrivals (`arrived_sql`), all later deliveries than
    the stored rows (`later`): a row with at least the same recency."""
    typed, on = _typed_keys(contract)
    if contract.recency_column:
        typed += f", {typed_expr(contract.column(contract.recency_column))} AS __recency"
    kept = [*contract.names, *zones.LINEAGE_NAMES, "_sheet_index", "_quarantined_at"]
    reasons = with_superseded(f"ARRAY_TO_STRING(q._reasons, '{REASON_SEPARATOR}')")
    return (
        f"SELECT DISTINCT {', '.join(f'q.{quote(c)}' for c in kept)}, "
        f"{reason_list(reasons)} AS _reasons, 'upsert' AS _action "
        f"FROM (SELECT *, {typed} FROM {waiting}) AS q "
        f"JOIN {rows} AS s ON {on} WHERE {_beats(contract, 's', 'q', ties=later)}"
    )


def _typed_keys(contract: Contract) -> tuple[str, str]:
    """(select list typing a quarantine row's key text as `__k0`, ...; the join of those with
    `s`'s typed key columns)."""
    pk = contract.primary_key
    typed = ", ".join(f"{typed_expr(contract.column(k))} AS __k{i}" for i, k in enumerate(pk))
    return typed, " AND ".join(f"s.{quote(k)} = q.__k{i}" for i, k in enumerate(pk))


def key_matches_sql(contract: Contract, waiting: str, rows: str) -> str:
    """One row, one count: the `waiting` rows whose key `rows` (typed keys) holds. Reads only
    the keys: none, and `superseded_sql` (which reads every column) has nothing to find."""
    typed, on = _typed_keys(contract)
    return f"SELECT count(*) FROM (SELECT {typed} FROM {waiting}) AS q JOIN {rows} AS s ON {on}"


def waiting_keys_sql(contract: Contract, quarantine: str) -> str:
    """The rows of `quarantine` that wait for a parent: their key typed (named as the
    contract's columns), their recency typed (`__recency`; null without one), and their
    position (`QUARANTINE_KEY`)."""
    pk = contract.primary_key
    typed, _ = _typed_keys(contract)
    recency = contract.recency_column
    value = typed_expr(contract.column(recency)) if recency else "CAST(NULL AS TIMESTAMP)"
    keys = ", ".join(f"__k{i} AS {quote(k)}" for i, k in enumerate(pk))
    return (
        f"SELECT {keys}, __recency, {', '.join(QUARANTINE_KEY)} FROM (SELECT {typed}, "
        f"{value} AS __recency, {', '.join(QUARANTINE_KEY)} FROM {quarantine} "
        f"WHERE {waiting_filter()}) AS q"
    )


def outrun_sql(contract: Contract, moving: str, waiting_rows: str) -> str:
    """The positions (`QUARANTINE_KEY`) of the silver rows `moving` back to quarantine whose key
    waits there in another row (`waiting_keys_sql`) with at least their recency: that row came
    after them (a row in silver replaced the waiting rows of its key that came before it when
    it arrived), and released together the two would be ranked by clocks and file hashes,
    never by arrival."""
    keys = " AND ".join(f"w.{quote(k)} = m.{quote(k)}" for k in contract.primary_key)
    itself = " AND ".join(f"w.{k} = m.{k}" for k in QUARANTINE_KEY)
    recency = contract.recency_column
    later = f"w.__recency >= m.{quote(recency)}" if recency else "true"
    return (
        f"SELECT DISTINCT {', '.join(f'm.{k}' for k in QUARANTINE_KEY)} FROM {moving} AS m "
        f"JOIN {waiting_rows} AS w ON {keys} WHERE {later} AND NOT ({itself})"
    )


def replaced_in_batch_sql(contract: Contract, checked: str, arrived: str) -> str:
    """The rows of `checked` bound for quarantine (re-checked, or waiting for a parent) that a
    later delivery of their key in the batch replaces (`arrived`: a higher `_seq`, at least the
    same recency), by batch position: a valid one, or one waiting too when they still wait.
    Released, such a row would overwrite the later delivery (or, both waiting, whichever won)."""
    on = " AND ".join(f"r.{quote(k)} = w.{quote(typed_name(k))}" for k in contract.primary_key)
    recency = contract.recency_column
    w = (
        f"(SELECT *, {quote(typed_name(recency))} AS __recency FROM {checked})"
        if recency
        else checked
    )
    return (
        f"SELECT DISTINCT w._file_sha256, w._sheet_index, w._row FROM {w} AS w "
        f"JOIN {arrived} AS r ON {on} "
        f"WHERE (w._recheck OR w._reasons <> '') "
        f"AND (w._reasons = '' OR {waits_sql('w._reasons')}) "
        f"AND r._seq > w._seq AND (r._valid OR w._reasons <> '') "
        f"AND {_beats(contract, 'r', 'w', ties=True)}"
    )


def waiting_rows_sql(contract: Contract, waiting: str, superseded: str | None) -> str:
    """The `waiting` rows (`waiting_sql`) to re-check, as batch rows (`_seq` -1), but those in
    `superseded`. Their text is checked as text (`_canonical` 0)."""
    cols = ", ".join(
        f"w.{quote(c)}" for c in [*contract.names, *zones.LINEAGE_NAMES, "_sheet_index"]
    )
    sql = (
        f"SELECT {cols}, CAST(-1 AS BIGINT) AS _seq, true AS _recheck, "
        f"CAST(0 AS BIGINT) AS {zones.CANONICAL} FROM {waiting} AS w"
    )
    if superseded is None:
        return sql
    on = " AND ".join(f"x.{k} = w.{k}" for k in QUARANTINE_KEY)
    return f"{sql} LEFT JOIN {superseded} AS x ON {on} WHERE x._row IS NULL"


def parent_rows_sql(relation: str, key: str, bounds: tuple[Any, ...] | None) -> str:
    """The rows of a parent `relation` a batch can look up: all (`bounds` None), or those whose
    `key` lies within the batch's (least, greatest) integer key (`key_ranges_sql`), none when
    the batch has no key."""
    if bounds is None:
        return f"SELECT * FROM {relation}"
    low, high = bounds
    if low is None:
        return f"SELECT * FROM {relation} WHERE false"
    return f"SELECT * FROM {relation} WHERE {quote(key)} BETWEEN {int(low)} AND {int(high)}"


def reason_sets_sql(checked: str) -> str:
    """(`_reasons`, rows) for each distinct reason set of the validation statement's result ('':
    valid rows): one scan answers both the outcome counts and the per-reason counts
    (`outcome_counts`). Reason sets are combinations of codes, never row values, so few."""
    return f"SELECT _reasons, count(*) AS n FROM {checked} GROUP BY _reasons"


def outcome_counts(reason_sets: Iterable[tuple[Any, Any]]) -> tuple[int, int, dict[str, int]]:
    """(valid, quarantined, rows per reason code in code order) from `reason_sets_sql`'s rows."""
    valid, quarantined, reasons = 0, 0, Counter[str]()
    for joined, n in reason_sets:
        if not joined:
            valid += int(n)
            continue
        quarantined += int(n)
        for code in str(joined).split(REASON_SEPARATOR):
            reasons[code] += int(n)
    return valid, quarantined, dict(sorted(reasons.items()))


def checked_valid_sql(contract: Contract, checked: str) -> str:
    """The validation statement's valid rows, typed, with lineage and `_seq`: every row, keys
    repeated across files included (`valid_rows_sql` keeps one row per key)."""
    typed = ", ".join(f"{quote(typed_name(c))} AS {quote(c)}" for c in contract.names)
    lineage = ", ".join(quote(c) for c in zones.LINEAGE_NAMES)
    return f"SELECT {typed}, {lineage}, _seq FROM {checked} WHERE _reasons = ''"


def valid_rows_sql(contract: Contract, checked: str, *, repeated: str | None = None) -> str:
    """Valid rows, typed, with lineage and `_seq`: one row per key (see newest_per_key_sql;
    `repeated`: its keys repeated in `checked_valid_sql`, held by the caller)."""
    return newest_per_key_sql(contract, checked_valid_sql(contract, checked), repeated=repeated)


def quarantine_rows_sql(
    contract: Contract, checked: str, batch: str, now: dt.datetime, replaced: str | None = None
) -> str:
    """Rows to write to quarantine: each rejected row (`upsert`) and each re-checked row that
    passed (`release`: merged into silver, deleted from quarantine). Their text comes from
    `batch`, the rows `checked` was computed from (`same_batch_row`). Rows in `replaced`
    (`replaced_in_batch_sql`) get `superseded` added to their reasons and stay (`upsert`)."""
    text = ", ".join(f"b.{quote(c)}" for c in contract.names)
    lineage = ", ".join(f"c.{quote(c)}" for c in zones.LINEAGE_NAMES)
    reasons, released, join = "c._reasons", "c._reasons = ''", ""
    if replaced is not None:
        join = f"LEFT JOIN {replaced} AS x ON {same_batch_row('x', 'c')} "
        reasons = (
            f"CASE WHEN x._row IS NULL THEN c._reasons ELSE {with_superseded('c._reasons')} END"
        )
        released += " AND x._row IS NULL"
    return (
        f"SELECT {text}, {reason_list(reasons)} AS _reasons, {lineage}, "
        f"c._sheet_index, {quarantined_at(now)} AS _quarantined_at, "
        f"CASE WHEN {released} THEN 'release' ELSE 'upsert' END AS _action "
        f"FROM {checked} AS c JOIN {batch} AS b ON {same_batch_row('b', 'c')} {join}"
        f"WHERE c._reasons <> '' OR c._recheck"
    )


def reason_list(joined: str) -> str:
    """SQL: the reason codes of `joined` (codes joined by `REASON_SEPARATOR`) as an array."""
    return f"string_split({joined}, '{REASON_SEPARATOR}')"


def quarantined_at(now: dt.datetime) -> str:
    """SQL: `now` as the `_quarantined_at` of the rows a run quarantines."""
    stamp = now.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00:00")
    return f"CAST('{stamp}' AS TIMESTAMPTZ)"


def quarantine_changes_sql(rows: str, current: str) -> str:
    """Quarantine rows that change the table: a re-checked row with the same reasons needs no
    rewrite."""
    on = " AND ".join(f"q.{k} = r.{k}" for k in QUARANTINE_KEY)
    return (
        f"SELECT r.* FROM {rows} AS r LEFT JOIN {current} AS q ON {on} "
        "WHERE r._action = 'release' OR q._row IS NULL OR q._reasons <> r._reasons"
    )


def quarantine_merge_predicates() -> tuple[str, str, str]:
    """(match, delete-when-matched, upsert) predicates for MERGE INTO quarantine t USING s."""
    on = " AND ".join(f"t.{k} = s.{k}" for k in QUARANTINE_KEY)
    return on, "s._action = 'release'", "s._action = 'upsert'"
