"""Every format carries the same rows; the layout per format; same arguments, same bytes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from generate_support import data_files, entity_of, read_sheets
from lakehouse.generate import FORMATS, generate

SMALL: dict[str, Any] = {"orders": 300, "products": 60, "days": 3, "seed": 5}
MONEY = {"unit_price", "total_amount"}


def logical_rows(
    out: Path,
    skip: Collection[tuple[str, str, int]] = (),
    skip_files: Collection[str] = (),
) -> dict[str, list[tuple[object, ...]]]:
    """Rows per entity in file/sheet order, values as canonical text (money with 2 decimals),
    leaving out the rows at (file, sheet, row) in `skip` and the files in `skip_files`."""
    rows: dict[str, list[tuple[object, ...]]] = {}
    for path in data_files(out):
        if path.name in skip_files:
            continue
        for sheet in read_sheets(path, out):
            for pos, values in sheet.rows:
                if (sheet.file, sheet.sheet, pos) in skip:
                    continue
                canon = tuple(
                    str(Decimal(v).quantize(Decimal("0.01"))) if k in MONEY and v else v
                    for k, v in values.items()
                )
                rows.setdefault(entity_of(path.name), []).append(canon)
    return rows


@pytest.fixture(scope="module")
def by_format(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    outs = {}
    for fmt in FORMATS:
        outs[fmt] = tmp_path_factory.mktemp(fmt)
        generate(outs[fmt], fmt=fmt, **SMALL)
    return outs


def test_every_format_yields_the_same_rows(by_format: dict[str, Path]) -> None:
    reference = logical_rows(by_format["csv"])
    assert len(reference["order_items"]) > 1000
    for fmt in ("jsonl", "parquet", "xlsx"):
        assert logical_rows(by_format[fmt]) == reference, fmt


def test_text_formats_write_one_file_per_day_and_entity(by_format: dict[str, Path]) -> None:
    for fmt in ("csv", "jsonl", "parquet"):
        names = [p.name for p in data_files(by_format[fmt])]
        days = ["2025-04-01", "2025-04-02", "2025-04-03"]
        expected = [f"order_items_{d}.{fmt}" for d in days] + [f"orders_{d}.{fmt}" for d in days]
        assert names == sorted([*expected, f"products.{fmt}"])
        assert not list(by_format[fmt].glob(".*"))  # no temporary files left


def test_xlsx_one_workbook_per_month_one_sheet_per_day(tmp_path: Path) -> None:
    from python_calamine import CalamineWorkbook

    r = generate(tmp_path, orders=200, products=30, days=4, start=dt.date(2025, 4, 29))
    assert sorted(p.name for p in r.files) == [
        "order_items_2025_04.xlsx", "order_items_2025_05.xlsx", "orders_2025_04.xlsx",
        "orders_2025_05.xlsx", "products.xlsx"]  # fmt: skip
    for entity in ("orders", "order_items"):
        april = CalamineWorkbook.from_path(str(tmp_path / f"{entity}_2025_04.xlsx"))
        may = CalamineWorkbook.from_path(str(tmp_path / f"{entity}_2025_05.xlsx"))
        assert april.sheet_names == ["2025-04-29", "2025-04-30"]
        assert may.sheet_names == ["2025-05-01", "2025-05-02"]
        for name in april.sheet_names:
            rows = april.get_sheet_by_name(name).to_python()
            assert rows[0][:2] == (["order_num", "order_id"] if entity == "orders" else
                                   ["id", "order_id"])  # fmt: skip
            assert isinstance(rows[1][1], float)  # ids are number cells, as in the lab files
            assert {r[rows[0].index("date")] for r in rows[1:]} == {name}
    products = CalamineWorkbook.from_path(str(tmp_path / "products.xlsx"))
    assert products.sheet_names == ["products"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_same_arguments_same_bytes_other_seed_other_bytes(tmp_path: Path, fmt: str) -> None:
    args: dict[str, Any] = {
        "orders": 120,
        "products": 25,
        "days": 2,
        "fmt": fmt,
        "dirty_rate": 0.05,
    }
    a = generate(tmp_path / "a", seed=1, **args)
    b = generate(tmp_path / "b", seed=1, **args)
    c = generate(tmp_path / "c", seed=2, **args)
    assert a.manifest is not None and b.manifest is not None
    names = sorted(p.name for p in a.files)
    assert names == sorted(p.name for p in b.files)
    for name in [*names, a.manifest.name]:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    differs = [
        n for n in names if (tmp_path / "a" / n).read_bytes() != (tmp_path / "c" / n).read_bytes()
    ]
    assert len(differs) == len(names)
    assert {p.name for p in c.files} == set(names)
