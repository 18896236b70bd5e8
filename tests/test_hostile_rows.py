"""Property-based hostile rows (issue 15, "Done means", the row half): deliveries of products,
orders and order_items as CSV and JSONL whose *values* are hostile — unicode (RTL, combining,
emoji, NUL, lone surrogates where JSON allows them), padding, huge/negative/exponent numbers,
NaN/inf, impossible and future timestamps, duplicate keys within a file and across runs,
orphans, late parents, parent fields that disagree, very long strings.

Invariants, each checked with its own computation (Python parsing, not the product's SQL):
- every run SUCCEEDS, and for every entity rows in + re-checked = valid + quarantined, where
  rows in is the number of rows this test wrote;
- every input row is in silver or in quarantine at its position (file, row), never both,
  unless a row of another run holds its key in silver (a re-delivered key: newest wins);
- every quarantined row carries reasons, all of them stable codes (ARCHITECTURE §4), and keeps
  its original text;
- a value in silver equals the input value once typed (strings identical, numbers, dates and
  timestamps equal);
- re-delivering every file changes no table.

Bounded and reproducible: a fixed number of examples, derandomized, no example database.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import tempfile
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from lakehouse import Lakehouse
from lakehouse.contracts import Column, Contract, load_contracts
from lakehouse.engines.base import EntityResult
from lakehouse.orchestration.definition import pipeline_definition
from lakehouse.orchestration.pipeline import run

CONTRACTS = load_contracts()
STABLE_CODE = re.compile(
    r"unreadable_file|(missing_column|unexpected_column|null_key|null_required|bad_type"
    r"|bad_timestamp|out_of_range|invalid_enum|parent_mismatch):[a-z_]+"
    r"|date_mismatch|future_timestamp|duplicate_key_in_batch|orphan:[a-z_]+"
)
# Rows, not gold: the gold step (most of a small run's time) is left out; its own suites test it.
WITHOUT_GOLD = pipeline_definition().replace_task("gold", fn=lambda state: {"tables_written": 0})
CLOCK = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)  # the runs' clock: "future" does not drift
HOSTILE_SETTINGS = settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure prints its example as is
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# --- values -----------------------------------------------------------------------------
KEYS = st.sampled_from(["1", "2", "3", "4"])  # a small pool: duplicates in and across files
HOSTILE_INT = st.sampled_from(
    [
        *[" 3 ", "+2", "-1", "0", "003", "1e3", "1.0", "9" * 19, "9223372036854775807"],
        *["\u0661\u0662", "\uff11\uff12", "0x10", "1_000", "NaN", "inf", "\u00a03", "3\x00"],
        *["", "\u202e3", "\u20093\u3000"],
    ]
)
HOSTILE_DECIMAL = st.sampled_from(
    [
        *["0", "12.50", " 3.10 ", "-1", "1000000", "1000000.01", "1e2", "1E+2", "NaN"],
        *["Infinity", "-inf", "12,50", "1.005", ".5", "5.", "9999999999.99", "99999999999.99"],
        *["0.1e-1", ""],
    ]
)
HOSTILE_TS = st.sampled_from(
    [
        *["2025-02-30T10:00:00", "2025-04-01T24:00:00", "2025-04-01 10:00", "2025-04-01T10:00Z"],
        *["2025-04-01T23:30:00-14:59", "2025-04-01T10:00:00+15:00", "9999-12-31T23:59:59"],
        *["0001-01-01T00:00:00", "2099-01-01T00:00:00", "2025-04-01T10:00:00.1234567"],
        *["1743500000", "", "2025-04-01T10:00:00+0530", "\uff12\uff10\uff12\uff15-04-01", "NaT"],
    ]
)
HOSTILE_TEXT = st.sampled_from(
    [
        *["", " ", " padded ", "\u202eevil.exe", "e\u0301", "\U0001f44d\U0001f3fd", "a\x00b"],
        *["\t", "\u00a0x", '"quoted", comma', "=cmd|' /C calc'!A0", "<!--<script>", "x" * 5000],
        *["[/x]", "NULL", "\u200b"],
    ]
)
TEXT = st.one_of(
    st.text(st.characters(blacklist_categories=["Cs", "Cc"]), max_size=12), HOSTILE_TEXT
)
SURROGATE_TEXT = st.sampled_from(["\ud800", "a\udfffb"])  # lone surrogates: JSON escapes only
TIMES = st.datetimes(dt.datetime(2024, 1, 1), dt.datetime(2026, 12, 31)).map(
    lambda t: t.replace(microsecond=0).isoformat()
)


MONEY = st.decimals(0, 999, places=2).map(str)
HOSTILE: dict[str, st.SearchStrategy[str]] = {
    "bigint": HOSTILE_INT,
    "decimal(12,2)": HOSTILE_DECIMAL,
    "timestamp": HOSTILE_TS,
    "date": st.one_of(HOSTILE_TS.map(lambda t: t[:10]), st.just("2025-13-01")),
    "string": TEXT,
}


@st.composite
def spoiled(draw: st.DrawFn, entity: str, row: dict[str, str]) -> dict[str, str]:
    """The row with up to two of its values made hostile (most rows keep most values)."""
    columns = {c.name: c.type for c in CONTRACTS[entity].columns if c.name in row}
    for name in draw(st.lists(st.sampled_from(sorted(columns)), max_size=2, unique=True)):
        row[name] = draw(HOSTILE[columns[name]])
    return row


@st.composite
def products(draw: st.DrawFn) -> dict[str, str]:
    row = {
        "product_id": draw(KEYS),
        "department_id": str(draw(st.integers(0, 30))),
        "department": draw(TEXT),
        "product_name": draw(TEXT),
        "unit_price": draw(MONEY),
    }
    return draw(spoiled("products", row))


@st.composite
def orders(draw: st.DrawFn) -> dict[str, str]:
    ts = draw(TIMES)
    row = {
        "order_num": str(draw(st.integers(1, 50))),
        "order_id": draw(KEYS),
        "user_id": draw(st.sampled_from(["7", "8"])),
        "order_timestamp": ts,
        "total_amount": draw(MONEY),
        "date": ts[:10],
    }
    return draw(spoiled("orders", row))


@st.composite
def order_items(draw: st.DrawFn, parents: list[dict[str, str]]) -> dict[str, str]:
    """A line of one of the delivered orders or of another one (an orphan, or a parent that
    comes in the next delivery), its parent's fields copied, then maybe spoiled."""
    parent = draw(st.one_of(st.sampled_from(parents), orders())) if parents else draw(orders())
    row = {
        "id": draw(KEYS),
        **{k: parent[k] for k in ("order_id", "user_id", "order_timestamp", "date")},
        "days_since_prior_order": str(draw(st.integers(0, 30))),
        "product_id": draw(KEYS),
        "add_to_cart_order": str(draw(st.integers(1, 20))),
        "reordered": draw(st.sampled_from(["0", "1"])),
    }
    return draw(spoiled("order_items", row))


@dataclass
class Delivery:
    """One run's files: entity -> (format, rows as text)."""

    files: dict[str, tuple[str, list[dict[str, str]]]]


@st.composite
def deliveries(draw: st.DrawFn) -> Delivery:
    out: dict[str, tuple[str, list[dict[str, str]]]] = {}
    order_rows = draw(st.lists(orders(), max_size=6))
    rows = {
        "products": draw(st.lists(products(), min_size=1, max_size=6)),
        "orders": order_rows,
        "order_items": draw(st.lists(order_items(order_rows), max_size=8)),
    }
    for entity, entity_rows in rows.items():
        fmt = draw(st.sampled_from(["csv", "jsonl"]))
        if fmt == "jsonl" and entity_rows and draw(st.booleans()):
            row = draw(st.sampled_from(entity_rows))
            key = draw(st.sampled_from(sorted(row)))
            row[key] = draw(SURROGATE_TEXT)
        if entity_rows:
            out[entity] = (fmt, entity_rows)
    return Delivery(out)


# --- files ------------------------------------------------------------------------------
def write(path: Path, fmt: str, rows: list[dict[str, str]]) -> None:
    if fmt == "jsonl":  # values as JSON strings; an empty text is an absent value
        lines = [json.dumps({k: (v if v != "" else None) for k, v in r.items()}) for r in rows]
        path.write_text("\n".join(lines) + "\n", encoding="ascii")
        return
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")


def position(fmt: str, index: int) -> int:
    """`_row` of the index-th record: header = row 1 in csv, line number in jsonl."""
    return index + 2 if fmt == "csv" else index + 1


# --- the independent typing of a value --------------------------------------------------
# The one deliberate change to a value: Unicode space separators (category Zs: ' ', NBSP,
# ideographic space, ...) around any value are trimmed, in both engines
# (lakehouse/engines/dialect.py; generate/dirty.py pads values on purpose). Tabs, line breaks
# and zero-width spaces are kept.
ZS = "".join(c for c in map(chr, range(0x110000)) if unicodedata.category(c) == "Zs")


def typed(col: Column, text: str | None) -> Any:
    """What silver must hold for this input text, by Python's own parsing; raises ValueError
    for a text that can never reach silver."""
    bare = (text or "").strip(ZS)
    if bare == "":
        return typed(col, col.default) if col.default is not None else None
    if col.kind == "string":
        return bare
    if col.kind == "bigint":
        if not re.fullmatch(r"[+-]?[0-9]+", bare):
            raise ValueError(f"not an integer: {text!r}")
        if len(bare.lstrip("+-")) > 18:  # the documented limit (docs/architecture.md)
            raise ValueError(f"more than 18 digits: {text!r}")
        return int(bare)
    if col.kind == "decimal":  # documented: plain digits, at most `scale` of them after '.'
        precision, scale = col.decimal or (18, 2)
        plain = re.fullmatch(r"[+-]?([0-9]*)(?:\.([0-9]*))?", bare)
        if not plain or len(plain[1]) > precision - scale or len(plain[2] or "") > scale:
            raise ValueError(f"not a plain decimal({precision},{scale}): {text!r}")
        try:
            return Decimal(bare)
        except InvalidOperation as exc:
            raise ValueError(f"not a decimal: {text!r}") from exc
    if col.kind == "date":
        return dt.date.fromisoformat(bare)
    parsed = dt.datetime.fromisoformat(bare)
    offset = parsed.utcoffset()
    if offset is not None and abs(offset) >= dt.timedelta(hours=15):  # documented: ±14:59
        raise ValueError(f"offset beyond 14:59: {text!r}")
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


def as_text(value: str | None) -> str | None:
    return None if value is None or value == "" else value


# --- the run and the checks ------------------------------------------------------------
@dataclass(frozen=True)
class Sent:
    entity: str
    file: str
    row: int
    values: dict[str, str]


def deliver(
    lh: Lakehouse, inbox: Path, tag: str, delivery: Delivery
) -> tuple[list[Path], list[Sent]]:
    paths, sent = [], []
    for entity, (fmt, rows) in delivery.files.items():
        name = f"{entity}_{tag}.{fmt}"
        write(inbox / name, fmt, rows)
        paths.append(inbox / name)
        sent += [Sent(entity, name, position(fmt, i), r) for i, r in enumerate(rows)]
    return paths, sent


def table(lh: Lakehouse, name: str) -> list[dict[str, Any]]:
    return lh.sql(f"SELECT * FROM {name}").to_pylist()


def snapshot(lh: Lakehouse) -> dict[str, list[Any]]:
    """Every silver and quarantine table, without the columns a run stamps."""
    stamped = {"_run_id", "_ingested_at", "_quarantined_at"}
    out = {}
    for e in CONTRACTS:
        for zone in ("silver", "quarantine"):
            rows = [
                {k: v for k, v in r.items() if k not in stamped} for r in table(lh, f"{zone}.{e}")
            ]
            out[f"{zone}.{e}"] = sorted(map(repr, rows))
    return out


def check_run(lh: Lakehouse, summary: Any, sent: list[Sent], history: list[Sent]) -> set[str]:
    """The run's invariants; returns its files that load no rows (rejected, already seen)."""
    assert summary.status == "SUCCEEDED", summary.error
    rejected = set(summary.files_rejected)
    unloaded = rejected | set(summary.files_duplicate)
    for entity in CONTRACTS:
        delivered = sum(1 for s in sent if s.entity == entity and s.file not in unloaded)
        result = summary.entities.get(entity, EntityResult(entity))
        assert result.rows_in == delivered, entity
        assert result.rows_in + result.rows_rechecked == result.valid + result.quarantined
    for name in rejected:  # a file rejected whole waits in quarantine/files with its reason
        assert any(Path(lh.root.uri, "quarantine", "files").rglob(f"{name}.reason.json")), name
    return unloaded


def check_entity(
    lh: Lakehouse, contract: Contract, history: list[Sent], unloaded: set[str]
) -> None:
    silver = {(r["_source_file"], r["_row"]): r for r in table(lh, f"silver.{contract.entity}")}
    quarantine = {
        (r["_source_file"], r["_row"]): r for r in table(lh, f"quarantine.{contract.entity}")
    }
    (key,) = contract.primary_key
    silver_keys = {r[key] for r in silver.values()}
    for q in quarantine.values():
        assert q["_reasons"], q
        assert all(STABLE_CODE.fullmatch(code) for code in q["_reasons"]), q["_reasons"]
    for s in history:
        if s.file in unloaded:
            continue
        where = (s.file, s.row)
        assert not (where in silver and where in quarantine), where
        if where in quarantine:
            q = quarantine[where]
            for col in contract.columns:  # the original text, kept as it came
                assert as_text(q[col.name]) == as_text(s.values.get(col.name)), (where, col.name)
        elif where in silver:
            row = silver[where]
            for col in contract.columns:
                assert row[col.name] == typed(col, s.values.get(col.name)), (where, col.name)
        else:  # superseded: a row of another delivery holds the key
            assert typed(contract.column(key), s.values[key]) in silver_keys, where


def run_files(lh: Lakehouse, paths: list[Path], tag: str) -> Any:
    for p in paths:
        lh.root.copy_in(p, lh.root.path("landing", p.name))
    now = CLOCK + dt.timedelta(minutes=ord(tag))
    return run(lh.root, now=now, definition=WITHOUT_GOLD)


@pytest.mark.slow
@given(first=deliveries(), second=deliveries())
@HOSTILE_SETTINGS
def test_hostile_rows_are_loaded_exactly_or_quarantined_with_reasons(
    first: Delivery, second: Delivery
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        lh = Lakehouse(base / "lake")
        history: list[Sent] = []
        delivered: list[Path] = []
        unloaded: set[str] = set()
        for tag, delivery in (("a", first), ("b", second)):
            inbox = base / tag
            inbox.mkdir()
            paths, sent = deliver(lh, inbox, tag, delivery)
            history += sent
            delivered += paths
            unloaded |= check_run(lh, run_files(lh, paths, tag), sent, history)
            for entity, contract in CONTRACTS.items():
                check_entity(lh, contract, [s for s in history if s.entity == entity], unloaded)
        before = snapshot(lh)
        verdicts = lh.sql("SELECT file, status FROM _ops.files").to_pylist()
        was_rejected = {r["file"] for r in verdicts if r["status"] == "rejected"}
        again = run_files(lh, delivered, "c")  # the same files again: nothing changes
        assert again.status == "SUCCEEDED" and again.rows_in == 0
        # loaded files are duplicates; rejected ones are checked again and rejected again
        assert sorted([*again.files_duplicate, *again.files_rejected]) == sorted(
            p.name for p in delivered
        )
        assert set(again.files_rejected) <= was_rejected
        assert snapshot(lh) == before


# --- validation alone: many more examples, no tables ------------------------------------
PARENT_ORDERS = [  # the parent table as silver holds it: order_id, user_id, order_timestamp, date
    (1, 7, dt.datetime(2025, 4, 1, 10, 0, tzinfo=dt.UTC), dt.date(2025, 4, 1)),
    (2, 8, dt.datetime(2025, 12, 31, 23, 30, tzinfo=dt.UTC), dt.date(2025, 12, 31)),
]
PARENT_PRODUCTS = [1, 2]
PARENT_ROWS = [
    {"order_id": str(o), "user_id": str(u), "order_timestamp": t.isoformat(), "date": str(d)}
    for o, u, t, d in PARENT_ORDERS
]


@st.composite
def batches(draw: st.DrawFn) -> tuple[str, list[dict[str, str]]]:
    entity = draw(st.sampled_from(sorted(CONTRACTS)))
    make = {"products": products(), "orders": orders(), "order_items": order_items(PARENT_ROWS)}
    return entity, draw(st.lists(make[entity], min_size=1, max_size=12))


def validate(entity: str, rows: list[dict[str, str]]) -> list[dict[str, Any]]:
    """The product's validation statement over one file's rows (DuckDB, as the local engine)."""
    import pyarrow as pa

    from lakehouse.contracts.validation import validation_query
    from lakehouse.engines.sql import BATCH_LINEAGE
    from lakehouse.store.query import new_connection

    contract = CONTRACTS[entity]
    columns = {
        c.name: pa.array([r.get(c.name, "") for r in rows], pa.string()) for c in contract.columns
    }
    lineage = {
        "_source_file": pa.array(["f.csv"] * len(rows)),
        "_sheet": pa.array([""] * len(rows)),
        "_row": pa.array(range(2, len(rows) + 2), pa.int64()),
        "_file_sha256": pa.array(["0" * 64] * len(rows)),
        "_run_id": pa.array(["r"] * len(rows)),
        "_ingested_at": pa.array([CLOCK] * len(rows), pa.timestamp("us", tz="UTC")),
        "_sheet_index": pa.array([0] * len(rows), pa.int64()),
        "_seq": pa.array([0] * len(rows), pa.int64()),
        "_recheck": pa.array([False] * len(rows)),
        "_canonical": pa.array([0] * len(rows), pa.int64()),  # text: every value is checked
    }
    con = new_connection()
    try:
        con.register("batch", pa.table({**columns, **lineage}))
        con.register(
            "parent_orders",
            pa.table(
                {
                    "order_id": [o for o, *_ in PARENT_ORDERS],
                    "user_id": [u for _, u, *_ in PARENT_ORDERS],
                    "order_timestamp": pa.array(
                        [t for *_, t, _ in PARENT_ORDERS], pa.timestamp("us", tz="UTC")
                    ),
                    "date": [d for *_, d in PARENT_ORDERS],
                }
            ),
        )
        con.register("parent_products", pa.table({"product_id": PARENT_PRODUCTS}))
        query = validation_query(contract, BATCH_LINEAGE, CLOCK)
        return con.sql(f"SELECT * FROM ({query.sql}) ORDER BY _row").to_arrow_table().to_pylist()
    finally:
        con.close()


def must_fail(contract: Contract, row: dict[str, str], seen: set[Any]) -> str | None:
    """Why this row must be quarantined, by the test's own reading; None if it may pass.
    `seen`: the keys of the file's earlier rows (the first occurrence of a key is kept)."""
    (key,) = contract.primary_key
    try:
        first_key = typed(contract.column(key), row.get(key))
    except ValueError:
        first_key = None
    if first_key is not None and first_key in seen:
        return "a duplicate key"
    seen.add(first_key)
    values = {}
    for col in contract.columns:
        try:
            values[col.name] = v = typed(col, row.get(col.name))
        except ValueError:
            return f"{col.name} cannot be typed"
        if v is None and col.required:
            return f"{col.name} is missing"
        if v is not None and col.min is not None and v < col.min:
            return f"{col.name} below min"
        if v is not None and col.max is not None and v > col.max:
            return f"{col.name} above max"
        if v is not None and col.enum and v not in col.enum:
            return f"{col.name} not in enum"
    ts = values.get("order_timestamp")
    if ts is not None:
        if values["date"] != ts.date():
            return "date is not the timestamp's date"
        if ts > CLOCK + dt.timedelta(minutes=contract.future_tolerance_minutes):
            return "in the future"
    if contract.entity == "order_items":
        parent = {o: (u, t, d) for o, u, t, d in PARENT_ORDERS}.get(values["order_id"])
        if parent is None or values["product_id"] not in PARENT_PRODUCTS:
            return "an orphan"
        if parent != (values["user_id"], values["order_timestamp"], values["date"]):
            return "disagrees with its order"
    return None


@given(batch=batches())
@settings(HOSTILE_SETTINGS, max_examples=60)
def test_validation_passes_exactly_the_rows_an_independent_reading_accepts(
    batch: tuple[str, list[dict[str, str]]],
) -> None:
    entity, rows = batch
    contract = CONTRACTS[entity]
    checked = validate(entity, rows)
    assert [r["_row"] for r in checked] == list(range(2, len(rows) + 2))  # every row, once
    seen: set[Any] = set()
    for sent, out in zip(rows, checked, strict=True):
        codes = out["_reasons"].split("|") if out["_reasons"] else []
        assert all(STABLE_CODE.fullmatch(c) for c in codes), codes
        reason = must_fail(contract, sent, seen)
        assert bool(codes) == (reason is not None), (sent, codes, reason)
        if not codes:  # valid: the typed values are the input's
            for col in contract.columns:
                assert out[f"{col.name}__v"] == typed(col, sent.get(col.name)), col.name
