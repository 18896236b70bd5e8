"""The validation statement on its own: hand-built batches of text rows, one row per rule,
run in DuckDB as the local engine runs it, against the packaged contracts.

Every expectation is written out from the contract files and the rules in docs/architecture.md
("Validation rules", "A deliberate normalisation"): the typed value a person reads in the text,
and the reason codes of ARCHITECTURE §4 the row must carry (all of them, none more).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import pyarrow as pa

from lakehouse.contracts import Column, Contract, contract_for
from lakehouse.contracts.validation import validation_query
from lakehouse.engines.dialect import quote
from lakehouse.store.query import new_connection

UTC = dt.UTC
NOW = dt.datetime(2025, 5, 1, 0, 0, tzinfo=UTC)  # the run's start; tolerance: 60 minutes
LINEAGE = ["_file_sha256", "_sheet_index", "_row"]
ORDERS = contract_for("orders")
ITEMS = contract_for("order_items")

CLEAN_ORDER = {
    "order_num": "1",
    "order_id": "10",
    "user_id": "5",
    "order_timestamp": "2025-04-01T10:00:00",
    "total_amount": "9.99",
    "date": "2025-04-01",
    "payment_method": "card",
    "currency": "EUR",
    "status": "paid",
}
CLEAN_ITEM = {
    "id": "1",
    "order_id": "10",
    "user_id": "5",
    "days_since_prior_order": "3",
    "product_id": "7",
    "add_to_cart_order": "1",
    "reordered": "0",
    "order_timestamp": "2025-04-01T10:00:00",
    "date": "2025-04-01",
    "quantity": "2",
    "unit_price": "4.50",
}


def ts(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def run_validation(
    contract: Contract,
    rows: Sequence[Mapping[str, str | None]],
    parents: Mapping[str, pa.Table] | None = None,
    *,
    now: dt.datetime = NOW,
    positions: Sequence[tuple[str, int, int]] | None = None,
) -> list[dict[str, Any]]:
    """The statement's output rows, in input order. Row i sits at `positions[i]`
    (file sha, sheet index, row); default: one file, sheet 0, spreadsheet rows 2, 3, ..."""
    where = positions or [("sha-a", 0, i + 2) for i in range(len(rows))]
    columns: dict[str, pa.Array] = {
        name: pa.array([r.get(name) for r in rows], pa.string()) for name in contract.names
    }
    columns["_file_sha256"] = pa.array([w[0] for w in where], pa.string())
    columns["_sheet_index"] = pa.array([w[1] for w in where], pa.int64())
    columns["_row"] = pa.array([w[2] for w in where], pa.int64())
    columns["_order"] = pa.array(range(len(rows)), pa.int64())
    query = validation_query(contract, [*LINEAGE, "_order"], now)
    con = new_connection()
    try:
        con.register("batch", pa.table(columns))
        for entity, table in (parents or {}).items():
            con.register(f"parent_{entity}", table)
        # the statement keeps no text (quarantine joins it back from the batch): so does this
        text = ", ".join(f"b.{quote(n)}" for n in contract.names)
        out = con.sql(
            f"SELECT {text}, c.* FROM ({query.sql}) AS c JOIN batch AS b ON b._order = c._order "
            "ORDER BY c._order"
        ).to_arrow_table()
    finally:
        con.close()
    return out.to_pylist()


def reasons(row: Mapping[str, Any]) -> list[str]:
    text = row["_reasons"]
    return sorted(text.split("|")) if text else []


def order(**changes: str | None) -> dict[str, str | None]:
    return {**CLEAN_ORDER, **changes}


def item(**changes: str | None) -> dict[str, str | None]:
    return {**CLEAN_ITEM, **changes}


# --- orders: one row per rule ---------------------------------------------------------------
# (label, changes to the clean order, expected reasons); each row its own order_id
ORDER_CASES: list[tuple[str, dict[str, str | None], list[str]]] = [
    ("clean", {}, []),
    ("empty key", {"order_id": ""}, ["null_key:order_id"]),
    ("blank key", {"order_id": " \u00a0\u3000 "}, ["null_key:order_id"]),
    ("null key", {"order_id": None}, ["null_key:order_id"]),
    ("empty required", {"user_id": ""}, ["null_required:user_id"]),
    ("null required", {"total_amount": None}, ["null_required:total_amount"]),
    ("decimal as int", {"user_id": "5.0"}, ["bad_type:user_id"]),
    ("exponent int", {"user_id": "1e3"}, ["bad_type:user_id"]),
    ("19 digits", {"order_num": "9" * 19}, ["bad_type:order_num"]),
    ("tab padded", {"user_id": "\t5"}, ["bad_type:user_id"]),
    ("fullwidth digit", {"user_id": "\uff15"}, ["bad_type:user_id"]),
    ("below min", {"order_num": "0"}, ["out_of_range:order_num"]),
    ("comma decimal", {"total_amount": "12,50"}, ["bad_type:total_amount"]),
    ("three places", {"total_amount": "0.001"}, ["bad_type:total_amount"]),
    ("decimal exponent", {"total_amount": "1e2"}, ["bad_type:total_amount"]),
    ("11 whole digits", {"total_amount": "12345678901.00"}, ["bad_type:total_amount"]),
    ("negative money", {"total_amount": "-0.01"}, ["out_of_range:total_amount"]),
    ("over max money", {"total_amount": "1000000.01"}, ["out_of_range:total_amount"]),
    ("10 whole digits", {"total_amount": "9999999999.99"}, ["out_of_range:total_amount"]),
    ("unknown enum", {"payment_method": "bitcoin"}, ["invalid_enum:payment_method"]),
    ("enum case", {"currency": "eur"}, ["invalid_enum:currency"]),
    ("hour 24", {"order_timestamp": "2025-04-01T24:00:00"}, ["bad_timestamp:order_timestamp"]),
    (
        "offset +15",
        {"order_timestamp": "2025-04-01T10:00:00+15:00"},
        ["bad_timestamp:order_timestamp"],
    ),
    ("epoch seconds", {"order_timestamp": "1743501600"}, ["bad_timestamp:order_timestamp"]),
    ("30 February", {"date": "2025-02-30"}, ["bad_timestamp:date"]),
    ("month 13", {"date": "2025-13-01"}, ["bad_timestamp:date"]),
    ("day first", {"date": "01/04/2025"}, ["bad_timestamp:date"]),
    # a timestamp column holding dates (pandas' datetime64) writes midnight: still the date
    ("date at midnight", {"date": "2025-04-01T00:00:00"}, []),
    ("date at midnight UTC", {"date": "2025-04-01 00:00:00.000Z"}, []),
    ("date at midnight +00:00", {"date": "2025-04-01T00:00+00:00"}, []),
    ("date with a time", {"date": "2025-04-01T10:00:00"}, ["bad_timestamp:date"]),
    ("date at midnight elsewhere", {"date": "2025-04-01T00:00:00+02:00"}, ["bad_timestamp:date"]),
    ("midnight of a bad date", {"date": "2025-02-30T00:00:00"}, ["bad_timestamp:date"]),
    (
        "year 0000",  # DuckDB reads it (1 BC); no Delta reader can hold it
        {"order_timestamp": "0000-01-01T10:00:00", "date": "0000-01-01"},
        ["bad_timestamp:date", "bad_timestamp:order_timestamp"],
    ),
    ("date of another day", {"date": "2025-04-02"}, ["date_mismatch"]),
    (
        "UTC date differs",
        {"order_timestamp": "2025-04-01T23:30:00-02:00", "date": "2025-04-01"},
        ["date_mismatch"],
    ),
    (
        "future",
        {"order_timestamp": "2025-05-01T01:00:01Z", "date": "2025-05-01"},
        ["future_timestamp"],
    ),
    (
        "many at once",
        {"user_id": "x", "total_amount": "-1", "date": "2025-04-02", "payment_method": "btc"},
        [
            "bad_type:user_id",
            "date_mismatch",
            "invalid_enum:payment_method",
            "out_of_range:total_amount",
        ],
    ),
]


def test_each_order_rule_gives_its_reason_code_and_nothing_else() -> None:
    rows = [order(order_id=str(100 + i)) | changes for i, (_, changes, _) in enumerate(ORDER_CASES)]
    out = run_validation(ORDERS, rows)
    got = {label: reasons(r) for (label, _, _), r in zip(ORDER_CASES, out, strict=True)}
    assert got == {label: want for label, _, want in ORDER_CASES}


def test_a_clean_order_is_typed_as_written() -> None:
    [row] = run_validation(ORDERS, [CLEAN_ORDER])
    assert row["_reasons"] == ""
    typed = {k.removesuffix("__v"): v for k, v in row.items() if k.endswith("__v")}
    assert typed == {
        "order_num": 1,
        "order_id": 10,
        "user_id": 5,
        "order_timestamp": ts(2025, 4, 1, 10, 0),
        "total_amount": Decimal("9.99"),
        "date": dt.date(2025, 4, 1),
        "payment_method": "card",
        "currency": "EUR",
        "status": "paid",
    }


ACCEPTED: list[tuple[str, str | None, object]] = [
    ("user_id", "+7", 7),
    ("user_id", "007", 7),
    ("user_id", "\u00a05\u3000", 5),  # Unicode space separators are trimmed
    ("user_id", "\u2003 42 \u2009", 42),
    ("order_num", "9" * 18, 999_999_999_999_999_999),
    ("total_amount", ".5", Decimal("0.50")),
    ("total_amount", "5.", Decimal("5.00")),
    ("total_amount", "+0", Decimal("0.00")),
    ("total_amount", "1000000.00", Decimal("1000000.00")),  # max is inclusive
    ("total_amount", " 3.10 ", Decimal("3.10")),
    ("payment_method", " card\u00a0", "card"),  # padded enum value is accepted, trimmed
    ("payment_method", "", None),  # empty optional text is null, not a value
    ("payment_method", "   ", None),
    ("payment_method", None, None),
    ("status", "\u3000returned", "returned"),
]


def test_accepted_values_are_typed_exactly() -> None:
    rows = [order(order_id=str(i + 1), **{c: t}) for i, (c, t, _) in enumerate(ACCEPTED)]
    out = run_validation(ORDERS, rows)
    got = [
        (c, r[c], r["_reasons"], r[f"{c}__v"]) for (c, _, _), r in zip(ACCEPTED, out, strict=True)
    ]
    # each text column keeps the value as delivered; the typed one holds what it means
    assert got == [(c, text, "", typed) for c, text, typed in ACCEPTED]


INSTANTS: list[tuple[str, str, dt.datetime]] = [
    ("2025-04-01T10:00:00", "2025-04-01", ts(2025, 4, 1, 10, 0)),  # no offset: UTC
    ("2025-04-01 10:00", "2025-04-01", ts(2025, 4, 1, 10, 0)),
    ("2025-04-01T10:00:00Z", "2025-04-01", ts(2025, 4, 1, 10, 0)),
    ("2025-04-01T23:30:00-02:00", "2025-04-02", ts(2025, 4, 2, 1, 30)),
    ("2025-04-01T10:00:00+0530", "2025-04-01", ts(2025, 4, 1, 4, 30)),
    ("2025-04-01T05:00:00+14:00", "2025-03-31", ts(2025, 3, 31, 15, 0)),
    (
        "2025-04-01T10:00:00.123456",
        "2025-04-01",
        dt.datetime(2025, 4, 1, 10, 0, 0, 123456, UTC),
    ),
    ("2024-02-29T00:00:00", "2024-02-29", ts(2024, 2, 29, 0, 0)),  # a leap day
    ("2025-05-01T01:00:00Z", "2025-05-01", ts(2025, 5, 1, 1, 0)),  # exactly now + 60 min
]


def test_timestamps_are_read_as_utc_instants() -> None:
    rows = [
        order(order_id=str(i + 1), order_timestamp=t, date=d)
        for i, (t, d, _) in enumerate(INSTANTS)
    ]
    out = run_validation(ORDERS, rows)
    got = [
        (r["order_timestamp"], r["_reasons"], r["order_timestamp__v"], r["date__v"]) for r in out
    ]
    assert got == [(t, "", typed, dt.date.fromisoformat(d)) for t, d, typed in INSTANTS]


def test_future_tolerance_is_measured_from_the_runs_start() -> None:
    rows = [
        order(order_id="1", order_timestamp="2025-05-01T00:59:59Z", date="2025-05-01"),
        order(order_id="2", order_timestamp="2025-05-01T01:00:01Z", date="2025-05-01"),
    ]
    assert [r["_reasons"] for r in run_validation(ORDERS, rows)] == ["", "future_timestamp"]
    # a run an hour later accepts both: the limit moves with the run, not with the wall clock
    later = run_validation(ORDERS, rows, now=NOW + dt.timedelta(hours=1))
    assert [r["_reasons"] for r in later] == ["", ""]


def test_a_bad_date_is_not_also_a_date_mismatch() -> None:
    rows = [
        order(order_id="1", date="2025-02-30"),
        order(order_id="2", order_timestamp="2025-04-01T24:00:00", date="2025-04-02"),
    ]
    out = run_validation(ORDERS, rows)
    assert [reasons(r) for r in out] == [["bad_timestamp:date"], ["bad_timestamp:order_timestamp"]]
    assert [(r["order_timestamp__v"], r["date__v"]) for r in out] == [
        (ts(2025, 4, 1, 10, 0), None),
        (None, dt.date(2025, 4, 2)),
    ]


# --- duplicate keys within one batch ------------------------------------------------------
def test_later_rows_with_a_key_seen_earlier_in_the_same_file_are_duplicates() -> None:
    rows_at = [
        (order(order_id="10"), ("sha-a", 0, 2)),
        (order(order_id="10", user_id="6"), ("sha-a", 0, 3)),  # same key, later row
        (order(order_id=" 010 "), ("sha-a", 0, 4)),  # the same key once typed
        (order(order_id="10"), ("sha-b", 0, 2)),  # another file: not a duplicate here
        (order(order_id="20"), ("sha-a", 1, 2)),  # second sheet, row 2
        (order(order_id="20"), ("sha-a", 0, 9)),  # first sheet, row 9: comes first
        (order(order_id=""), ("sha-a", 0, 5)),  # keyless rows are no duplicates of each other
        (order(order_id=""), ("sha-a", 0, 6)),
        (order(order_id="30", user_id="x"), ("sha-a", 0, 7)),  # first of key 30, itself bad
        (order(order_id="30"), ("sha-a", 0, 8)),  # still the second occurrence
    ]
    out = run_validation(ORDERS, [r for r, _ in rows_at], positions=[p for _, p in rows_at])
    assert [reasons(r) for r in out] == [
        [],
        ["duplicate_key_in_batch"],
        ["duplicate_key_in_batch"],
        [],
        ["duplicate_key_in_batch"],
        [],
        ["null_key:order_id"],
        ["null_key:order_id"],
        ["bad_type:user_id"],
        ["duplicate_key_in_batch"],
    ]
    assert [r["order_id"] for r in out][:3] == ["10", "10", " 010 "]  # text kept as delivered


# --- order items: defaults, and rows waiting for a parent ---------------------------------
def parent_orders(*rows: tuple[int, int, dt.datetime]) -> pa.Table:
    """Parent orders as silver holds them: (order_id, user_id, order_timestamp)."""
    return pa.table(
        {
            "order_id": pa.array([r[0] for r in rows], pa.int64()),
            "user_id": pa.array([r[1] for r in rows], pa.int64()),
            "order_timestamp": pa.array([r[2] for r in rows], pa.timestamp("us", tz="UTC")),
            "date": pa.array([r[2].date() for r in rows], pa.date32()),
        }
    )


def parent_products(*ids: int) -> pa.Table:
    return pa.table({"product_id": pa.array(ids, pa.int64())})


PARENTS = {
    "orders": parent_orders((10, 5, ts(2025, 4, 1, 10, 0))),
    "products": parent_products(7),
}


def test_the_statement_reads_one_parent_relation_per_foreign_key() -> None:
    assert validation_query(ITEMS, LINEAGE, NOW).parents == ("orders", "products")
    assert validation_query(ORDERS, LINEAGE, NOW).parents == ()


def test_item_rules_against_parents() -> None:
    cases: list[tuple[dict[str, str | None], list[str]]] = [
        (item(), []),
        (item(order_id="99"), ["orphan:order_id"]),
        (item(product_id="8"), ["orphan:product_id"]),
        (item(order_id="99", product_id="8"), ["orphan:order_id", "orphan:product_id"]),
        (item(user_id="6"), ["parent_mismatch:user_id"]),
        (
            item(order_timestamp="2025-04-02T10:00:00", date="2025-04-02"),
            ["parent_mismatch:date", "parent_mismatch:order_timestamp"],
        ),
        (item(order_timestamp="2025-04-01T11:00:00"), ["parent_mismatch:order_timestamp"]),
        # the same instant written with an offset agrees with the parent
        (item(order_timestamp="2025-04-01T12:00:00+02:00"), []),
        # a value that cannot be typed is not compared with the parent
        (item(user_id="five"), ["bad_type:user_id"]),
        # no order id: required, and not an orphan of anything
        (item(order_id=""), ["null_required:order_id"]),
        (item(quantity="0"), ["out_of_range:quantity"]),
        (item(reordered="2"), ["out_of_range:reordered"]),
        (item(days_since_prior_order="3651"), ["out_of_range:days_since_prior_order"]),
        (item(unit_price="4.5.0"), ["bad_type:unit_price"]),
        (item(id=""), ["null_key:id"]),
    ]
    rows = [{**r, "id": r["id"] if r["id"] == "" else str(i + 1)} for i, (r, _) in enumerate(cases)]
    out = run_validation(ITEMS, rows, PARENTS)
    assert [reasons(r) for r in out] == [want for _, want in cases]


def test_absent_quantity_takes_the_contract_default_and_absent_price_stays_null() -> None:
    rows = [
        item(id="1", quantity=None, unit_price=None, days_since_prior_order=None),
        item(id="2", quantity="", unit_price="", days_since_prior_order=""),
        item(id="3", quantity=" \u00a0", unit_price=" ", days_since_prior_order="0"),
        item(id="4", quantity="10000", unit_price="1000000", days_since_prior_order="3650"),
    ]
    out = run_validation(ITEMS, rows, PARENTS)
    assert [r["_reasons"] for r in out] == ["", "", "", ""]
    assert [
        (r["quantity__v"], r["unit_price__v"], r["days_since_prior_order__v"]) for r in out
    ] == [
        (1, None, None),
        (1, None, None),
        (1, None, 0),
        (10000, Decimal("1000000.00"), 3650),
    ]
    assert [r["quantity"] for r in out] == [None, "", " \u00a0", "10000"]  # text as delivered


def test_a_row_waiting_for_its_parents_is_released_when_they_arrive() -> None:
    waiting = [item(id="1", order_id="11", product_id="9")]
    before = run_validation(ITEMS, waiting, PARENTS)
    assert reasons(before[0]) == ["orphan:order_id", "orphan:product_id"]
    arrived = {
        "orders": parent_orders((10, 5, ts(2025, 4, 1, 10, 0)), (11, 5, ts(2025, 4, 1, 10, 0))),
        "products": parent_products(7, 9),
    }
    [after] = run_validation(ITEMS, waiting, arrived)
    assert after["_reasons"] == ""
    assert (after["order_id__v"], after["product_id__v"]) == (11, 9)
    # a parent that arrives with other values turns the wait into a mismatch
    other = {**arrived, "orders": parent_orders((11, 6, ts(2025, 4, 1, 10, 0)))}
    assert reasons(run_validation(ITEMS, waiting, other)[0]) == ["parent_mismatch:user_id"]


def test_empty_parents_make_every_child_an_orphan() -> None:
    rows = [item(id="1"), item(id="2", product_id="7")]
    out = run_validation(ITEMS, rows, {"orders": parent_orders(), "products": parent_products()})
    assert [reasons(r) for r in out] == [["orphan:order_id", "orphan:product_id"]] * 2


# --- rules of a contract that is not packaged -------------------------------------------------
def test_decimal_precision_defaults_and_fractional_bounds_follow_the_contract() -> None:
    contract = Contract(
        entity="things",
        version=1,
        description="",
        columns=(
            Column("k", "bigint", True, ""),
            Column("ratio", "decimal(5,3)", False, "", min=0.5, max=10),
            Column("signed", "bigint", False, ""),
            Column("label", "string", False, "", enum=("a", "b"), default="b"),
            Column("day", "date", False, ""),
        ),
        primary_key=("k",),
    )
    cases: list[tuple[dict[str, str | None], list[str], tuple[object, ...]]] = [
        ({"ratio": "12.345"}, ["out_of_range:ratio"], (Decimal("12.345"), None, "b", None)),
        ({"ratio": "0.5"}, [], (Decimal("0.500"), None, "b", None)),
        ({"ratio": "0.499"}, ["out_of_range:ratio"], (Decimal("0.499"), None, "b", None)),
        ({"ratio": "123.4"}, ["bad_type:ratio"], (None, None, "b", None)),  # 3 whole digits
        ({"ratio": "1.2345"}, ["bad_type:ratio"], (None, None, "b", None)),  # 4 places
        ({"signed": "-999999999999999999"}, [], (None, -999_999_999_999_999_999, "b", None)),
        ({"signed": "-9223372036854775808"}, ["bad_type:signed"], (None, None, "b", None)),
        ({"label": " a "}, [], (None, None, "a", None)),
        ({"label": "c"}, ["invalid_enum:label"], (None, None, "c", None)),
        ({"day": "9999-12-31"}, [], (None, None, "b", dt.date(9999, 12, 31))),
        ({"day": "0001-01-01"}, [], (None, None, "b", dt.date(1, 1, 1))),
        ({"day": "0000-12-31"}, ["bad_timestamp:day"], (None, None, "b", None)),
        ({"day": "2025-4-1"}, ["bad_timestamp:day"], (None, None, "b", None)),
        ({"day": "2025-04-01T00:00:00"}, [], (None, None, "b", dt.date(2025, 4, 1))),
        ({"day": "2025-04-01T00:00:01"}, ["bad_timestamp:day"], (None, None, "b", None)),
    ]
    rows = [{"k": str(i + 1), **changes} for i, (changes, _, _) in enumerate(cases)]
    out = run_validation(contract, rows)
    assert [reasons(r) for r in out] == [want for _, want, _ in cases]
    typed = [(r["ratio__v"], r["signed__v"], r["label__v"], r["day__v"]) for r in out]
    assert typed == [values for _, _, values in cases]


EDGES: list[tuple[str, dt.datetime | None]] = [
    ("0001-01-01T00:00:00Z", dt.datetime(1, 1, 1, tzinfo=UTC)),
    ("9999-12-31T23:59:59.999999", dt.datetime(9999, 12, 31, 23, 59, 59, 999999, UTC)),
    ("9999-12-31T23:59:59+14:00", dt.datetime(9999, 12, 31, 9, 59, 59, tzinfo=UTC)),
    ("0001-01-01T00:30:00+01:00", None),  # 0000-12-31T23:30Z
    ("9999-12-31T23:30:00-02:00", None),  # 10000-01-01T01:30Z
    ("0000-06-01T00:00:00", None),
]


def test_instants_outside_years_1_to_9999_utc_are_bad_timestamps() -> None:
    """A timestamp column without `not_in_future`: the range check alone must catch them."""
    contract = Contract(
        entity="events",
        version=1,
        description="",
        columns=(Column("k", "bigint", True, ""), Column("at", "timestamp", False, "")),
        primary_key=("k",),
    )
    out = run_validation(contract, [{"k": str(i + 1), "at": t} for i, (t, _) in enumerate(EDGES)])
    got = [(r["at"], r["at__v"], reasons(r)) for r in out]
    assert got == [(t, typed, [] if typed else ["bad_timestamp:at"]) for t, typed in EDGES]
    # what is accepted converts to Python (what `lakehouse sql --format json` does)
    typed = pa.array([r["at__v"] for r in out], pa.timestamp("us", tz="UTC"))
    assert typed.to_pylist() == [t for _, t in EDGES]


def test_quoted_column_names_are_safe() -> None:
    contract = Contract(
        entity="odd",
        version=1,
        description="",
        columns=(Column("key", "bigint", True, ""), Column('say "hi"', "string", True, "")),
        primary_key=("key",),
    )
    out = run_validation(contract, [{"key": "1", 'say "hi"': "x'; DROP TABLE batch; --"}])
    assert out[0]["_reasons"] == ""
    assert out[0]['say "hi"__v'] == "x'; DROP TABLE batch; --"
