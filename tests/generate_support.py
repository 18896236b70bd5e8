"""Helpers for the generator tests (no tests here): read generated files back as text, and an
independent implementation of the pipeline's row rules to check the dirty manifest against.

Written from the rules as specified (not from the generator's code), so that a generator bug
and a checker bug would have to agree to go unnoticed.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq

ENTITIES = ("products", "orders", "order_items")


@dataclass(frozen=True)
class Sheet:
    file: str  # relative to the output folder
    sheet: str
    header: list[str]
    rows: list[tuple[int, dict[str, str | None]]]  # (position, trimmed values, '' -> None)


def entity_of(name: str) -> str:
    for prefix in ("order_items", "orders", "products"):
        if name.startswith(prefix):
            return prefix
    raise AssertionError(f"file {name} has no entity prefix")


def data_files(out: Path) -> list[Path]:
    return sorted(p for p in out.iterdir() if p.is_file() and not p.name.startswith(("_", ".")))


def _clean(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, float):
        text = str(int(value)) if value.is_integer() else format(value, ".15g")
    else:
        text = str(value)
    text = text.strip()
    return text or None


def read_sheets(path: Path, out: Path) -> list[Sheet]:
    """Every sheet (or the file) as text rows with the pipeline's row positions."""
    rel = path.relative_to(out).as_posix()
    suffix = path.suffix
    if suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as fh:
            lines = list(csv.reader(fh))
        header, body = lines[0], lines[1:]
        rows = [(i + 2, {h: _clean(v) for h, v in zip(header, r, strict=True)}) for i, r in
                enumerate(body)]  # fmt: skip
        return [Sheet(rel, "", header, rows)]
    if suffix == ".jsonl":
        objs = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        header = list(objs[0]) if objs else []
        rows = [(i + 1, {k: _clean(v) for k, v in o.items()}) for i, o in enumerate(objs)]
        return [Sheet(rel, "", header, rows)]
    if suffix == ".parquet":
        table = pq.read_table(path)
        rows = [(i + 1, {k: _clean(v) for k, v in r.items()}) for i, r in
                enumerate(table.to_pylist())]  # fmt: skip
        return [Sheet(rel, "", table.column_names, rows)]
    if suffix == ".xlsx":
        from python_calamine import CalamineWorkbook

        wb = CalamineWorkbook.from_path(str(path))
        sheets = []
        for name in wb.sheet_names:
            data = wb.get_sheet_by_name(name).to_python(skip_empty_area=False)
            header = [str(h) for h in data[0]]
            rows = [
                (i + 2, {h: _clean(r[j]) if j < len(r) else None for j, h in enumerate(header)})
                for i, r in enumerate(data[1:])
            ]
            sheets.append(Sheet(rel, name, header, rows))
        return sheets
    raise AssertionError(f"unexpected file {path}")


# --- the rules, as specified ------------------------------------------------------------------
# (name, type, required, min, max, enum); types: int, dec, ts, date, str
SPEC: dict[str, list[tuple[str, str, bool, float | None, float | None, tuple[str, ...]]]] = {
    "products": [
        ("product_id", "int", True, 1, None, ()),
        ("department_id", "int", True, 0, None, ()),
        ("department", "str", True, None, None, ()),
        ("product_name", "str", True, None, None, ()),
        ("aisle", "str", False, None, None, ()),
        ("category", "str", False, None, None, ()),
        ("unit_price", "dec", False, 0, 1_000_000, ()),
        ("attributes", "str", False, None, None, ()),
    ],
    "orders": [
        ("order_num", "int", True, 1, None, ()),
        ("order_id", "int", True, 1, None, ()),
        ("user_id", "int", True, 1, None, ()),
        ("order_timestamp", "ts", True, None, None, ()),
        ("total_amount", "dec", True, 0, 1_000_000, ()),
        ("date", "date", True, None, None, ()),
        ("payment_method", "str", False, None, None, ("card", "paypal", "apple_pay",
         "google_pay", "bank_transfer", "cash_on_delivery", "gift_card")),
        ("currency", "str", False, None, None, ("USD", "EUR", "GBP", "CAD", "AUD")),
        ("status", "str", False, None, None, ("placed", "paid", "shipped", "delivered",
         "cancelled", "returned")),
    ],
    "order_items": [
        ("id", "int", True, 1, None, ()),
        ("order_id", "int", True, 1, None, ()),
        ("user_id", "int", True, 1, None, ()),
        ("days_since_prior_order", "int", False, 0, 3650, ()),
        ("product_id", "int", True, 1, None, ()),
        ("add_to_cart_order", "int", True, 1, 1000, ()),
        ("reordered", "int", True, 0, 1, ()),
        ("order_timestamp", "ts", True, None, None, ()),
        ("date", "date", True, None, None, ()),
        ("quantity", "int", False, 1, 10000, ()),
        ("unit_price", "dec", False, 0, 1_000_000, ()),
    ],
}  # fmt: skip
KEY = {"products": "product_id", "orders": "order_id", "order_items": "id"}
DEFAULTS = {("order_items", "quantity"): "1"}
_INT = re.compile(r"[+-]?[0-9]+")
_DEC = re.compile(r"[+-]?([0-9]+(\.[0-9]{0,2})?|\.[0-9]{1,2})")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TS = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})?"
)


def typed(kind: str, text: str) -> object:
    """The typed value, or None when the text does not fit the type."""
    try:
        if kind == "int":
            return int(text) if _INT.fullmatch(text) else None
        if kind == "dec":
            return Decimal(text) if _DEC.fullmatch(text) else None
        if kind == "date":
            return dt.date.fromisoformat(text) if _DATE.fullmatch(text) else None
        if kind == "ts":
            if not _TS.fullmatch(text):
                return None
            v = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
            return v if v.tzinfo else v.replace(tzinfo=dt.UTC)
    except ValueError:
        return None
    return text


@dataclass
class Checked:
    entity: str
    file: str
    sheet: str
    row: int
    values: dict[str, object]  # typed
    reasons: set[str]


def check_rows(entity: str, sheets: list[Sheet], now: dt.datetime) -> list[Checked]:
    """Row rules of one file (all its sheets), including duplicate keys within the file."""
    out: list[Checked] = []
    seen: set[object] = set()
    for sheet in sheets:
        for pos, raw in sheet.rows:
            reasons: set[str] = set()
            values: dict[str, object] = {}
            for name, kind, required, lo, hi, enum in SPEC[entity]:
                text = raw.get(name) or DEFAULTS.get((entity, name))
                if text is None:
                    if name == KEY[entity]:
                        reasons.add(f"null_key:{name}")
                    elif required:
                        reasons.add(f"null_required:{name}")
                    values[name] = None
                    continue
                v = typed(kind, text)
                values[name] = v
                if v is None:
                    code = "bad_timestamp" if kind in ("ts", "date") else "bad_type"
                    reasons.add(f"{code}:{name}")
                    continue
                if (lo is not None and v < lo) or (hi is not None and v > hi):  # type: ignore[operator]
                    reasons.add(f"out_of_range:{name}")
                if enum and v not in enum:
                    reasons.add(f"invalid_enum:{name}")
            ts, day = values.get("order_timestamp"), values.get("date")
            both = isinstance(ts, dt.datetime) and isinstance(day, dt.date)
            if both and ts.astimezone(dt.UTC).date() != day:  # type: ignore[union-attr]
                reasons.add("date_mismatch")
            if isinstance(ts, dt.datetime) and ts > now + dt.timedelta(minutes=60):
                reasons.add("future_timestamp")
            key = values[KEY[entity]]
            if key is not None:
                if key in seen:
                    reasons.add("duplicate_key_in_batch")
                seen.add(key)
            out.append(Checked(entity, sheet.file, sheet.sheet, pos, values, reasons))
    return out


def header_reasons(entity: str, header: list[str]) -> list[str]:
    names = [c[0] for c in SPEC[entity]]
    required = [c[0] for c in SPEC[entity] if c[2]]
    return sorted(
        [f"missing_column:{c}" for c in required if c not in header]
        + [f"unexpected_column:{c}" for c in header if c not in names]
    )


def expected_quarantine(
    out: Path, now: dt.datetime | None = None
) -> tuple[dict[tuple[str, str, str, int], list[str]], dict[str, list[str]], list[Checked]]:
    """(row reasons by (entity, file, sheet, row), file reasons by file, every checked row)."""
    now = now or dt.datetime.now(dt.UTC)
    rows: list[Checked] = []
    rejected: dict[str, list[str]] = {}
    for path in data_files(out):
        entity = entity_of(path.name)
        sheets = read_sheets(path, out)
        bad = sorted({r for s in sheets for r in header_reasons(entity, s.header)})
        if bad:
            rejected[path.name] = bad
            continue
        rows += check_rows(entity, sheets, now)
    valid = {e: {} for e in ENTITIES}  # type: dict[str, dict[object, dict[str, object]]]
    for r in rows:
        if not r.reasons:
            valid[r.entity][r.values[KEY[r.entity]]] = r.values
    for r in rows:
        if r.entity != "order_items":
            continue
        for ref, parent in (("order_id", "orders"), ("product_id", "products")):
            if r.values[ref] is not None and r.values[ref] not in valid[parent]:
                r.reasons.add(f"orphan:{ref}")
        order = valid["orders"].get(r.values["order_id"])
        if order is not None:
            for col in ("user_id", "order_timestamp", "date"):
                if r.values[col] is not None and r.values[col] != order[col]:
                    r.reasons.add(f"parent_mismatch:{col}")
    found = {(r.entity, r.file, r.sheet, r.row): sorted(r.reasons) for r in rows if r.reasons}
    return found, rejected, rows
