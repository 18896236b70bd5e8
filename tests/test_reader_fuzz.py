"""Property-based fuzzing of the readers: any bytes are read or rejected with `unreadable_file`
(no other exception, no crash), and every value of a well-formed file arrives exactly."""

from __future__ import annotations

import csv
import io
import json

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hostile_files import sheet_xml, xlsx
from lakehouse.config.settings import IntakeSettings
from lakehouse.errors import FileRejected
from lakehouse.ingest.batch import Batch
from lakehouse.ingest.readers import read_file
from lakehouse.ingest.sandbox import read_isolated

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NAMES = st.lists(
    st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8),
    min_size=1,
    max_size=5,
    unique=True,
)
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)


def read_or_reject(name: str, data: bytes) -> list[Batch] | None:
    try:
        return read_file(name, data)
    except FileRejected as exc:
        assert exc.reasons == ["unreadable_file"]
        assert exc.detail
        return None


@FAST
@given(st.binary(max_size=400), st.sampled_from(["x.csv", "x.jsonl", "x.parquet"]))
def test_any_bytes_are_read_or_rejected(data: bytes, name: str) -> None:
    read_or_reject(name, data)


@FAST
@given(
    st.lists(
        st.sampled_from(
            [
                b"a",
                b"b",
                b",",
                b'"',
                b"\n",
                b"\r",
                b" ",
                b"\xef\xbb\xbf",
                b"{",
                b"}",
                b":",
                b"1",
                b"\x00",
                b"\xff",
            ]
        ),
        max_size=60,
    )
)
def test_csv_and_jsonl_shaped_bytes_are_read_or_rejected(parts: list[bytes]) -> None:
    data = b"".join(parts)
    for name in ("x.csv", "x.jsonl"):
        batches = read_or_reject(name, data)
        for b in batches or []:
            assert b.table.column_names[-1] == "_row"


@settings(max_examples=15, deadline=None)
@given(
    st.dictionaries(
        st.tuples(st.sampled_from(["A", "B", "C", "Z", "AA", "XFD"]), st.integers(1, 1_048_576)),
        st.one_of(TEXT.filter(lambda s: s.isprintable()), st.floats(allow_nan=False)),
        max_size=6,
    ),
    st.sampled_from([None, "A1:B2", "A1:XFD1048576", "B2", "A1:Z99999"]),
)
def test_hostile_sheets_never_take_the_reader_down(
    cells: dict[tuple[str, int], str | float], dimension: str | None
) -> None:
    """Far cells and lying ranges: read in the sandbox, read or rejected, never a crash."""
    refs: dict[str, str | float] = {"A1": "product_id"}
    refs |= {f"{col}{row}": value for (col, row), value in cells.items()}
    try:
        read_isolated("x.xlsx", xlsx(sheet_xml(refs, dimension)), IntakeSettings())
    except FileRejected as exc:
        assert exc.reasons == ["unreadable_file"]


def table_values(batch: Batch) -> list[list[str]]:
    t = batch.table
    return [t[c].to_pylist() for c in t.column_names[:-1]]


@FAST
@given(
    NAMES.flatmap(
        lambda h: st.tuples(
            st.just(h),
            st.lists(
                st.lists(TEXT.filter(lambda s: "\x00" not in s), min_size=len(h), max_size=len(h)),
                max_size=8,
            ),
        )
    )
)
def test_csv_values_round_trip_exactly(case: tuple[list[str], list[list[str]]]) -> None:
    header, records = case
    buf = io.StringIO()
    writer = csv.writer(buf)  # excel dialect: a value with "\r" or "\n" is quoted
    writer.writerow(header)
    writer.writerows(records)
    [batch] = read_file("x.csv", buf.getvalue().encode())
    assert batch.columns == header
    assert table_values(batch) == [[r[i] for r in records] for i in range(len(header))]
    assert batch.table["_row"].to_pylist() == list(range(2, len(records) + 2))


JSON_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    TEXT,
)


def json_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)
    return str(value)


@FAST
@given(
    NAMES.flatmap(
        lambda h: st.lists(
            st.fixed_dictionaries({k: JSON_VALUE for k in h}), min_size=1, max_size=8
        )
    )
)
def test_jsonl_values_round_trip_exactly(objects: list[dict[str, object]]) -> None:
    data = "\n".join(json.dumps(o) for o in objects).encode()
    [batch] = read_file("x.jsonl", data)
    keys = list(objects[0])
    assert batch.columns == keys
    got = batch.table.to_pylist()
    assert [{k: r[k] for k in keys} for r in got] == [
        {k: json_text(o[k]) for k in keys} for o in objects
    ]
    assert [r["_row"] for r in got] == list(range(1, len(objects) + 1))


@FAST
@given(
    st.lists(
        st.tuples(
            TEXT.filter(lambda s: "\x00" not in s),
            st.integers(-(2**63), 2**63 - 1),
            st.floats(allow_nan=False, allow_infinity=False),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_parquet_values_round_trip_exactly(values: list[tuple[str, int, float]]) -> None:
    table = pa.table(
        {
            "s": pa.array([v[0] for v in values], pa.string()),
            "i": pa.array([v[1] for v in values], pa.int64()),
            "f": pa.array([v[2] for v in values], pa.float64()),
        }
    )
    buf = io.BytesIO()
    pq.write_table(table, buf)
    [batch] = read_file("x.parquet", buf.getvalue())
    assert batch.table.to_pylist() == [
        {"s": s, "i": str(i), "f": json_text(f), "_row": n}
        for n, (s, i, f) in enumerate(values, start=1)
    ]


XLSX_TEXT = st.text(
    st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=20
).filter(lambda s: s.strip() == s and not s.startswith("="))


@settings(max_examples=25, deadline=None)
@given(
    NAMES.flatmap(
        lambda h: st.tuples(
            st.just(h),
            st.lists(
                st.lists(XLSX_TEXT, min_size=len(h), max_size=len(h)),
                min_size=1,
                max_size=5,
            ),
        )
    )
)
def test_xlsx_text_round_trips_exactly(case: tuple[list[str], list[list[str]]]) -> None:
    header, records = case
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "s"
    ws.append(header)
    for r in records:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    [batch] = read_file("x.xlsx", buf.getvalue())
    assert batch.columns == header
    assert table_values(batch) == [[r[i] for r in records] for i in range(len(header))]
