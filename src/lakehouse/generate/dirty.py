"""Defects with known reasons, injected as extra rows so the clean data stays exactly as it is.

Every defective row is a copy of a real row of the same file with one planted defect (a few
with two), placed at a random position (a duplicate: somewhere after its original). Except for
duplicates, the copy gets a key of its own from a reserved range (EXTRA_ID_BASE + n) so that
nothing depends on it: no line belongs to a defective order, no line buys a defective product,
so a quarantined row never cascades into orphans. The valid rows of a dirty data set are the
rows of the clean data set with the same arguments, and each defective row carries exactly
the reasons listed with its defect, under the pipeline's rules (values trimmed, empty = null,
`quantity` defaulting to 1, parents = valid rows after the run).

Some real rows also get harmless surrounding whitespace (trimmed by the pipeline: still valid).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pyarrow as pa

from lakehouse.generate.schema import Entity, as_text

Row = dict[str, str | None]
Found = tuple[int, list[str]]  # (0-based row in the table written, sorted reasons)
EXTRA_ID_BASE = 1_000_000_000  # keys of defective extra rows (and of rows in rejected files)
MISSING_ID_BASE = 2_000_000_000  # ids that no row has: references from orphan lines
PRIMARY_KEY: dict[Entity, str] = {
    "products": "product_id",
    "orders": "order_id",
    "order_items": "id",
}
PADDED: dict[Entity, str] = {
    "products": "product_name",
    "orders": "payment_method",
    "order_items": "quantity",
}


class Ids:
    """Fresh keys for extra rows and ids that exist nowhere, per generation."""

    def __init__(self) -> None:
        self._next = {"extra": EXTRA_ID_BASE, "missing": MISSING_ID_BASE}

    def take(self, kind: Literal["extra", "missing"]) -> str:
        self._next[kind] += 1
        return str(self._next[kind])


Apply = Callable[[Row, Ids], None]


@dataclass(frozen=True)
class Defect:
    reasons: tuple[str, ...]  # exactly the reasons the pipeline gives the row
    apply: Apply
    same_key: bool  # a duplicate: keeps its original's key, placed after it


def _set(**values: str) -> Apply:
    return lambda row, _ids: row.update(values)


def _edit(col: str, change: Callable[[str], str]) -> Apply:
    return lambda row, _ids: row.update({col: change(str(row[col]))})


def _fresh(col: str, prefix: str) -> Apply:
    """A key of its own that is not an integer."""
    return lambda row, ids: row.update({col: prefix + ids.take("extra")})


def _missing_ref(col: str) -> Apply:
    return lambda row, ids: row.update({col: ids.take("missing")})


def _day(text: str, days: int) -> str:
    return (dt.date.fromisoformat(text[:10]) + dt.timedelta(days)).isoformat()


def _shift_ts(row: Row, days: int = 0, seconds: int = 0) -> None:
    ts = dt.datetime.fromisoformat(str(row["order_timestamp"]))
    row["order_timestamp"] = (ts + dt.timedelta(days=days, seconds=seconds)).isoformat()


def _same_day_shift(row: Row, _ids: Ids) -> None:
    """A different time on the same date."""
    _shift_ts(row, seconds=3600 if str(row["order_timestamp"])[11:13] < "23" else -3600)


def _earlier_day(row: Row, _ids: Ids) -> None:
    _shift_ts(row, days=-1)
    row["date"] = _day(str(row["date"]), -1)


def _us_style(row: Row, _ids: Ids) -> None:
    """A US-style date and time ('04/01/2025 10:00'): not ISO 8601."""
    day = str(row["date"])
    row["order_timestamp"] = f"{day[5:7]}/{day[8:10]}/{day[:4]} 10:00"


def _future(row: Row, _ids: Ids) -> None:
    """Decades ahead, with a matching date: only the timestamp is wrong."""
    ts = str(row["order_timestamp"])
    month_day = "03-01" if ts[5:10] == "02-29" else ts[5:10]
    row["order_timestamp"] = f"2099-{month_day}{ts[10:]}"
    row["date"] = f"2099-{month_day}"


def _other_user(row: Row, _ids: Ids) -> None:
    row["user_id"] = str(int(str(row["user_id"])) + 1)


def _defects(*items: tuple[str | tuple[str, ...], Apply]) -> tuple[Defect, ...]:
    out = []
    for reasons, apply in items:
        codes = (reasons,) if isinstance(reasons, str) else reasons
        out.append(Defect(codes, apply, same_key=codes == ("duplicate_key_in_batch",)))
    return tuple(out)


DEFECTS: dict[Entity, tuple[Defect, ...]] = {
    "products": _defects(
        ("null_key:product_id", _set(product_id="")),
        ("bad_type:product_id", _fresh("product_id", "P-")),
        ("null_required:department", _set(department="   ")),
        ("null_required:product_name", _set(product_name="")),
        ("null_required:department_id", _set(department_id="")),
        ("bad_type:department_id", _set(department_id="4a")),
        ("out_of_range:department_id", _set(department_id="-1")),
        ("bad_type:unit_price", _edit("unit_price", lambda v: v + "9")),
        ("out_of_range:unit_price", _edit("unit_price", lambda v: "-" + v)),
        ("duplicate_key_in_batch", _set()),
        (
            ("null_key:product_id", "null_required:product_name"),
            _set(product_id="", product_name=""),
        ),
    ),
    "orders": _defects(
        ("null_key:order_id", _set(order_id="")),
        ("bad_type:order_id", _fresh("order_id", "ORD-")),
        ("null_required:order_num", _set(order_num="")),
        ("null_required:user_id", _set(user_id=" ")),
        ("null_required:order_timestamp", _set(order_timestamp="")),
        ("null_required:total_amount", _set(total_amount="")),
        ("null_required:date", _set(date="")),
        ("bad_type:order_num", _set(order_num="2.0")),
        ("bad_type:user_id", _edit("user_id", lambda v: "u" + v)),
        ("bad_type:total_amount", _edit("total_amount", lambda v: v.replace(".", ","))),
        ("bad_timestamp:order_timestamp", _edit("order_timestamp", lambda v: v[:5] + "13" + v[7:])),
        ("bad_timestamp:order_timestamp", _us_style),
        ("bad_timestamp:date", _edit("date", lambda v: v[:4] + "-02-30")),
        ("bad_timestamp:date", _edit("date", lambda v: v.replace("-", ""))),
        ("out_of_range:order_num", _set(order_num="0")),
        ("out_of_range:user_id", _set(user_id="0")),
        ("out_of_range:total_amount", _edit("total_amount", lambda v: "-" + v)),
        ("out_of_range:total_amount", _set(total_amount="1000000.01")),
        ("invalid_enum:payment_method", _set(payment_method="bitcoin")),
        ("invalid_enum:currency", _set(currency="BTC")),
        ("invalid_enum:status", _set(status="lost")),
        ("date_mismatch", _edit("date", lambda v: _day(v, 1))),
        ("future_timestamp", _future),
        ("duplicate_key_in_batch", _set()),
        (("bad_type:total_amount", "invalid_enum:status"), _set(total_amount="abc", status="lost")),
    ),
    "order_items": _defects(
        ("null_key:id", _set(id="")),
        ("bad_type:id", _fresh("id", "L-")),
        ("null_required:add_to_cart_order", _set(add_to_cart_order="")),
        ("null_required:reordered", _set(reordered="")),
        ("bad_type:quantity", _set(quantity="two")),
        ("bad_type:unit_price", _edit("unit_price", lambda v: v + "9")),
        ("bad_type:add_to_cart_order", _set(add_to_cart_order="1st")),
        ("bad_type:days_since_prior_order", _set(days_since_prior_order="7.5")),
        ("out_of_range:quantity", _set(quantity="0")),
        ("out_of_range:quantity", _set(quantity="10001")),
        ("out_of_range:add_to_cart_order", _set(add_to_cart_order="1001")),
        ("out_of_range:reordered", _set(reordered="2")),
        ("out_of_range:days_since_prior_order", _set(days_since_prior_order="-1")),
        ("out_of_range:days_since_prior_order", _set(days_since_prior_order="3651")),
        ("out_of_range:unit_price", _edit("unit_price", lambda v: "-" + v)),
        ("orphan:order_id", _missing_ref("order_id")),
        ("orphan:product_id", _missing_ref("product_id")),
        ("parent_mismatch:user_id", _other_user),
        ("parent_mismatch:order_timestamp", _same_day_shift),
        (("parent_mismatch:date", "parent_mismatch:order_timestamp"), _earlier_day),
        (("date_mismatch", "parent_mismatch:date"), _edit("date", lambda v: _day(v, -1))),
        (("future_timestamp", "parent_mismatch:date", "parent_mismatch:order_timestamp"), _future),
        ("duplicate_key_in_batch", _set()),
        (
            ("null_required:add_to_cart_order", "out_of_range:quantity"),
            _set(add_to_cart_order="", quantity="0"),
        ),
    ),
}


class Injector:
    """Adds defective rows to tables at about `rate` of their rows; every defect of an entity
    appears at least once, in the entity's first non-empty table."""

    def __init__(self, rate: float, rng: np.random.Generator) -> None:
        self.rate = rate
        self.rng = rng
        self.ids = Ids()
        self.padded = 0
        self._covered: set[Entity] = set()

    def inject(self, entity: Entity, table: pa.Table) -> tuple[pa.Table, list[Found]]:
        """The table as text with defective rows added; (0-based row, reasons) of each."""
        text = as_text(table)
        n = text.num_rows
        if n == 0:
            return text, []
        rng, catalog = self.rng, DEFECTS[entity]
        picks = list(rng.integers(0, len(catalog), rng.binomial(n, self.rate)))
        if entity not in self._covered:
            picks = list(range(len(catalog))) + picks
            self._covered.add(entity)
        defects = [catalog[int(i)] for i in picks]
        source = rng.integers(0, n, len(defects))
        rows: list[Row] = text.take(pa.array(source)).to_pylist()
        where = np.empty(len(defects), dtype=np.int64)
        for j, (defect, row) in enumerate(zip(defects, rows, strict=True)):
            if defect.same_key:
                where[j] = rng.integers(source[j] + 1, n + 1)
            else:
                row[PRIMARY_KEY[entity]] = self.ids.take("extra")
                where[j] = rng.integers(0, n + 1)
            defect.apply(row, self.ids)
        text = self._pad(entity, text)
        extra = pa.Table.from_pylist(rows, schema=text.schema)
        # extras go before the original row at their position (n = at the end)
        position = np.concatenate([np.arange(n), where])
        extras_first = np.concatenate([np.ones(n), np.zeros(len(defects))])
        order = np.lexsort((extras_first, position))
        final = np.empty(len(order), dtype=np.int64)
        final[order] = np.arange(len(order))
        out = pa.concat_tables([text, extra]).take(pa.array(order))
        found = [(int(final[n + j]), sorted(d.reasons)) for j, d in enumerate(defects)]
        return out, found

    def _pad(self, entity: Entity, text: pa.Table) -> pa.Table:
        """Surround a few values with spaces: the pipeline trims them, the rows stay valid."""
        col = PADDED[entity]
        hit = self.rng.random(text.num_rows) < self.rate / 2
        values = text.column(col).to_pylist()
        for i in np.flatnonzero(hit):
            if values[i] is not None:
                values[i] = f"  {values[i]} "
                self.padded += 1
        index = text.schema.get_field_index(col)
        return text.set_column(index, col, pa.array(values, pa.string()))
