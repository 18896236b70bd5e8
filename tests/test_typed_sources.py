"""Typed Parquet columns take a shortcut through validation: text written from an integer or a
decimal of the column's type is cast without being trimmed or matched (`Batch.canonical`,
`contracts.validation.canonical_mask`). The shortcut must change no outcome: the same values
delivered as CSV text (checked as any text is) must give the same silver rows, the same
quarantined rows and the same reasons. The values are the edges of each check: out of range,
too many digits for a bigint, scales that are not the column's, exponents, nulls."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from lakehouse import Lakehouse
from lakehouse.contracts import contract_for
from lakehouse.contracts.validation import canonical_mask
from lakehouse.ingest.readers import read_file
from spark_fixtures import SPARK_MARKS, spark_session_fixture  # noqa: F401

NOW = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
#: left out of the comparison (a row's place differs too: Parquet counts rows from 1, CSV from 2)
LINEAGE = {"_source_file", "_sheet", "_row", "_file_sha256", "_run_id", "_ingested_at"}
LINEAGE |= {"_sheet_index", "_quarantined_at"}

#: (order_num, user_id, total_amount) per order; order_id is the row's position
ROWS: list[tuple[Any, Any, Any]] = [
    (1, 7, Decimal("10.50")),
    (0, 7, Decimal("0.00")),  # order_num below its minimum 1
    (5, 10**18 - 1, Decimal("1000000.00")),  # the largest 18-digit bigint; the maximum amount
    (3, None, Decimal("1000000.01")),  # no user; an amount over its maximum
    (None, 8, Decimal("-1.50")),  # no order_num; a negative amount
    (2, 9, None),  # no amount
    (-4, 9, Decimal("9999999999.99")),  # a negative bigint; twelve digits
]


def orders_table(
    order_num: pa.DataType,
    user_id: pa.DataType,
    amount: pa.DataType,
    rows: list[tuple[Any, Any, Any]] = ROWS,
) -> pa.Table:
    n = len(rows)
    stamps = [dt.datetime(2025, 4, 1, 8) + dt.timedelta(hours=i) for i in range(n)]
    return pa.table(
        {
            "order_num": pa.array([r[0] for r in rows], order_num),
            "order_id": pa.array(range(1, n + 1), pa.int64()),
            "user_id": pa.array([r[1] for r in rows], user_id),
            "order_timestamp": [f"{t:%Y-%m-%dT%H:%M:%S}" for t in stamps],
            "total_amount": pa.array([r[2] for r in rows], amount),
            "date": [f"{t:%Y-%m-%d}" for t in stamps],
        }
    )


def as_csv(table: pa.Table) -> str:
    """The values as text, written here (`str`; a null is an empty cell): the text a CSV
    producer would send, checked by validation as any text is."""
    lines = [",".join(table.column_names)]
    for row in table.to_pylist():
        lines.append(",".join("" if v is None else str(v) for v in row.values()))
    return "\n".join(lines) + "\n"


def as_jsonl(table: pa.Table) -> str:
    """One JSON object per row: integers as JSON numbers, decimals and times as strings."""

    def value(v: Any) -> Any:
        return v if v is None or isinstance(v, int) else str(v)

    rows = ({k: value(v) for k, v in row.items()} for row in table.to_pylist())
    return "".join(json.dumps(r) + "\n" for r in rows)


def outcome(root: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(silver rows, quarantined rows), without lineage, by order_id."""

    def rows(zone: str) -> list[dict[str, Any]]:
        uri = root / zone / "orders"
        if not uri.exists():
            return []
        found = DeltaTable(str(uri)).to_pyarrow_table().to_pylist()
        kept = [{k: v for k, v in r.items() if k not in LINEAGE} for r in found]
        return sorted(kept, key=lambda r: str(r["order_id"]))

    return rows("silver"), rows("quarantine")


def deliver(tmp_path: Path, name: str, table: pa.Table, typed: str = "parquet") -> tuple[Any, ...]:
    """The table as a typed file (Parquet, or JSON lines: `as_jsonl`) into one lakehouse and as
    a CSV file into another: (their outcomes, the typed file's column marks)."""
    source, csv = tmp_path / name / f"in_{typed}", tmp_path / name / "in_csv"
    source.mkdir(parents=True)
    csv.mkdir(parents=True)
    path = source / f"orders.{typed}"
    if typed == "parquet":
        pq.write_table(table, path)
    else:
        path.write_text(as_jsonl(table))
    (csv / "orders.csv").write_text(as_csv(table))
    Lakehouse(tmp_path / name / f"from_{typed}").run([source], now=NOW)
    Lakehouse(tmp_path / name / "from_csv").run([csv], now=NOW)
    return (
        outcome(tmp_path / name / f"from_{typed}"),
        outcome(tmp_path / name / "from_csv"),
        read_file(path.name, path.read_bytes())[0].canonical,
    )


def reasons(quarantined: list[dict[str, Any]]) -> dict[str, list[str]]:
    return {str(r["order_id"]): sorted(r["_reasons"]) for r in quarantined}


def test_typed_columns_of_the_contract_s_types_pass_and_fail_as_their_text_does(
    tmp_path: Path,
) -> None:
    table = orders_table(pa.int32(), pa.int64(), pa.decimal128(12, 2))
    from_parquet, from_csv, canonical = deliver(tmp_path, "exact", table)
    # premise: the shortcut is taken for the three typed columns
    assert canonical == {
        "order_num": "bigint",
        "order_id": "bigint",
        "user_id": "bigint",
        "total_amount": "decimal(12,2)",
    }
    assert canonical_mask(contract_for("orders"), canonical) == 0b10111
    assert from_parquet == from_csv
    silver, quarantined = from_parquet
    assert [r["order_id"] for r in silver] == [1, 3]
    assert reasons(quarantined) == {
        "2": ["out_of_range:order_num"],
        "4": ["null_required:user_id", "out_of_range:total_amount"],
        "5": ["null_required:order_num", "out_of_range:total_amount"],
        "6": ["null_required:total_amount"],
        "7": ["out_of_range:order_num", "out_of_range:total_amount"],
    }
    assert {r["order_id"]: r["user_id"] for r in silver}[3] == 10**18 - 1


def test_values_or_types_the_shortcut_cannot_vouch_for_are_checked_as_text(
    tmp_path: Path,
) -> None:
    """A 19-digit integer (the whole column is then checked as text), a decimal of another
    scale ('10.500': three decimals), one written with an exponent (scale 7: '1E-7')."""
    wide_rows = [*ROWS, (5, 10**18, Decimal("0.01"))]
    wide = orders_table(pa.int64(), pa.uint64(), pa.decimal128(12, 2), wide_rows)
    from_parquet, from_csv, canonical = deliver(tmp_path, "wide", wide)
    assert "user_id" not in canonical
    assert from_parquet == from_csv
    assert reasons(from_parquet[1])["8"] == ["bad_type:user_id"]

    scale3 = orders_table(pa.int64(), pa.int64(), pa.decimal128(13, 3))
    from_parquet, from_csv, canonical = deliver(tmp_path, "scale3", scale3)
    assert canonical["total_amount"] == "decimal(13,3)"  # not the column's type
    assert from_parquet == from_csv
    assert reasons(from_parquet[1])["1"] == ["bad_type:total_amount"]

    tiny = [(1, 7, Decimal("0.0000001")), (2, 7, Decimal("1.5"))]
    scale7 = orders_table(pa.int64(), pa.int64(), pa.decimal128(12, 7), tiny)
    from_parquet, from_csv, canonical = deliver(tmp_path, "scale7", scale7)
    assert "total_amount" not in canonical
    assert from_parquet == from_csv
    assert reasons(from_parquet[1]) == {
        "1": ["bad_type:total_amount"],
        "2": ["bad_type:total_amount"],
    }


def test_json_numbers_read_as_integers_take_the_shortcut_to_the_csv_outcome(
    tmp_path: Path,
) -> None:
    """JSON lines: the integer keys are typed values, except a column holding a 19-digit one
    (checked as text); decimals sent as strings are text. Silver and quarantine as from CSV."""
    keys = {"order_num": "bigint", "order_id": "bigint"}
    cases = {
        "exact": (ROWS, {**keys, "user_id": "bigint"}),
        "wide": ([*ROWS, (5, 10**18, Decimal("0.01"))], keys),
    }
    for name, (rows, kinds) in cases.items():
        table = orders_table(pa.int64(), pa.int64(), pa.decimal128(12, 2), rows)
        from_jsonl, from_csv, canonical = deliver(tmp_path, name, table, typed="jsonl")
        assert dict(canonical) == kinds
        assert from_jsonl == from_csv
        found = reasons(from_jsonl[1])
        assert found["5"] == ["null_required:order_num", "out_of_range:total_amount"]
    assert found["8"] == ["bad_type:user_id"]


@pytest.mark.parametrize("engine", ["local", pytest.param("spark", marks=SPARK_MARKS)])
def test_dates_in_a_timestamp_column_load_when_they_are_midnight(
    tmp_path: Path, engine: str, request: pytest.FixtureRequest
) -> None:
    """pandas writes a date column it parsed (`datetime64[ns]`) as a Parquet timestamp: every
    row was quarantined `bad_timestamp:date`. A midnight is the date; another time is not."""
    stamps = [dt.datetime(2025, 4, 1, 8), dt.datetime(2025, 4, 2, 9), dt.datetime(2025, 4, 3, 7)]
    days = [dt.datetime(2025, 4, 1), dt.datetime(2025, 4, 2), dt.datetime(2025, 4, 3, 10)]
    table = pa.table(
        {
            "order_num": pa.array([1, 1, 1], pa.int64()),
            "order_id": pa.array([1, 2, 3], pa.int64()),
            "user_id": pa.array([7, 8, 9], pa.int64()),
            "order_timestamp": pa.array(stamps, pa.timestamp("ns")),
            "total_amount": pa.array([Decimal("1.00")] * 3, pa.decimal128(12, 2)),
            "date": pa.array(days, pa.timestamp("ns")),
        }
    )
    pq.write_table(table, tmp_path / "orders.parquet")
    if engine == "spark":
        request.getfixturevalue("spark")  # the process's one session, started once
    lh = Lakehouse(tmp_path / "lake")
    assert lh.run([tmp_path / "orders.parquet"], engine=engine).status == "SUCCEEDED"
    silver = lh.sql("SELECT order_id, date FROM silver.orders ORDER BY order_id").to_pylist()
    assert silver == [
        {"order_id": 1, "date": dt.date(2025, 4, 1)},
        {"order_id": 2, "date": dt.date(2025, 4, 2)},
    ]
    held = lh.sql("SELECT order_id, date, _reasons FROM quarantine.orders").to_pylist()
    assert held == [
        {"order_id": "3", "date": "2025-04-03T10:00:00", "_reasons": ["bad_timestamp:date"]}
    ]


@pytest.mark.usefixtures("spark")
@SPARK_MARKS[0]
@SPARK_MARKS[1]
def test_the_spark_engine_takes_the_same_shortcut_to_the_same_rows(tmp_path: Path) -> None:
    """The same Parquet file into a lakehouse run by the spark engine: the same outcome as
    the local engine's (its executors read the file and mark the typed columns too)."""
    table = orders_table(pa.int32(), pa.int64(), pa.decimal128(12, 2))
    folder = tmp_path / "in"
    folder.mkdir()
    pq.write_table(table, folder / "orders.parquet")
    Lakehouse(tmp_path / "local").run([folder], now=NOW)
    Lakehouse(tmp_path / "spark").run([folder], now=NOW, engine="spark")
    assert outcome(tmp_path / "spark") == outcome(tmp_path / "local")
    assert [r["order_id"] for r in outcome(tmp_path / "spark")[0]] == [1, 3]
