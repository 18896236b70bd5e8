"""Merge semantics written once (SQL in the shared dialect), used by every engine."""

from __future__ import annotations

from lakehouse.contracts import Contract


def _q(name: str) -> str:
    return f'"{name}"'


def newest_per_key_sql(contract: Contract, source_sql: str) -> str:
    """One row per key from valid rows of several files: newest recency, then latest file."""
    pk = ", ".join(_q(k) for k in contract.primary_key)
    order = [f"{_q(contract.recency_column)} DESC"] if contract.recency_column else []
    order.append("_seq DESC")
    return (
        f"SELECT * EXCLUDE (__rank, _seq) FROM (SELECT *, ROW_NUMBER() OVER "
        f"(PARTITION BY {pk} ORDER BY {', '.join(order)}) AS __rank FROM ({source_sql})) "
        f"WHERE __rank = 1"
    )


def _differs(contract: Contract, s: str, t: str) -> str:
    cols = [c for c in contract.names if c not in contract.primary_key]
    # each comparison parenthesised: delta-rs parses `a IS DISTINCT FROM b OR ...` wrongly
    return " OR ".join(f"({s}.{_q(c)} IS DISTINCT FROM {t}.{_q(c)})" for c in cols)


def _update_condition(contract: Contract, s: str, t: str) -> str:
    differs = f"({_differs(contract, s, t)})"
    if contract.recency_column:
        r = _q(contract.recency_column)
        return f"({s}.{r} >= {t}.{r}) AND {differs}"
    return differs


def changed_rows_sql(contract: Contract, valid: str, current: str) -> str:
    """Valid rows that would change silver: new keys, or newer-or-equal rows with new values."""
    on = " AND ".join(f"v.{_q(k)} = c.{_q(k)}" for k in contract.primary_key)
    cols = ", ".join(_q(c) for c in [*contract.names])
    first_key = _q(contract.primary_key[0])
    return (
        f"SELECT v.* FROM {valid} AS v LEFT JOIN (SELECT {cols} FROM {current}) AS c ON {on} "
        f"WHERE c.{first_key} IS NULL OR ({_update_condition(contract, 'v', 'c')})"
    )


def merge_predicates(contract: Contract) -> tuple[str, str]:
    """(match predicate, update predicate) for MERGE INTO silver t USING source s.

    The match is on the primary key only: putting the partition column (date) into it would
    insert a second row when a re-delivered order moved to another date.
    """
    on = " AND ".join(f"t.{_q(k)} = s.{_q(k)}" for k in contract.primary_key)
    return on, _update_condition(contract, "s", "t")


def waiting_filter() -> str:
    """Quarantined rows whose every reason is about a parent (orphan or parent mismatch)."""
    return (
        "REGEXP_MATCHES(ARRAY_TO_STRING(_reasons, '|'), "
        "'^((orphan|parent_mismatch):[A-Za-z0-9_]+[|]?)+$')"
    )
