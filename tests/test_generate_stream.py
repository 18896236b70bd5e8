"""Live mode: products first, then whole batches (orders + lines), complete files only."""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from generate_support import data_files, expected_quarantine, read_sheets
from lakehouse.generate import stream


def test_products_first_then_batches_until_max_files(tmp_path: Path) -> None:
    before = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(seconds=1)
    stream(tmp_path, rate=50, fmt="csv", max_files=6)  # products + 2 batches (a 3rd won't fit)
    names = [p.name for p in data_files(tmp_path)]
    assert len(names) == 5 and "products.csv" in names
    assert [p for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    orders = sorted(n for n in names if n.startswith("orders_"))
    items = sorted(n for n in names if n.startswith("order_items_"))
    assert len(orders) == len(items) == 2
    assert [n.split("_")[-1] for n in orders] == [n.split("_")[-1] for n in items]
    for o, i in zip(orders, items, strict=True):
        order_rows = [v for _, v in read_sheets(tmp_path / o, tmp_path)[0].rows]
        item_rows = [v for _, v in read_sheets(tmp_path / i, tmp_path)[0].rows]
        assert 1 <= len(order_rows) <= 30
        assert {v["order_id"] for v in item_rows} == {v["order_id"] for v in order_rows}
        for v in order_rows:
            ts = dt.datetime.fromisoformat(str(v["order_timestamp"])).replace(tzinfo=dt.UTC)
            assert before <= ts <= dt.datetime.now(dt.UTC)
    found, rejected, checked = expected_quarantine(tmp_path)  # every row valid, no orphans
    assert found == {} and rejected == {} and len(checked) > 10


def test_stop_event_ends_the_stream(tmp_path: Path) -> None:
    stop = threading.Event()
    worker = threading.Thread(target=stream, args=(tmp_path,),
                              kwargs={"rate": 20, "fmt": "jsonl", "stop": stop})  # fmt: skip
    worker.start()
    deadline = time.monotonic() + 10
    while len(data_files(tmp_path)) < 5 and time.monotonic() < deadline:
        time.sleep(0.02)
    stop.set()
    worker.join(timeout=5)
    assert not worker.is_alive()
    count = len(data_files(tmp_path))
    assert count >= 5 and count % 2 == 1  # products + whole batches
    assert expected_quarantine(tmp_path)[0] == {}


def test_xlsx_batches_and_max_files_one(tmp_path: Path) -> None:
    stream(tmp_path / "a", rate=100, fmt="xlsx", max_files=3)
    assert len(data_files(tmp_path / "a")) == 3
    stream(tmp_path / "b", rate=100, fmt="parquet", max_files=1)
    assert [p.name for p in data_files(tmp_path / "b")] == ["products.parquet"]


@pytest.mark.parametrize("kwargs", [{"rate": 0}, {"rate": 1, "fmt": "xml"}])
def test_invalid_stream_arguments(tmp_path: Path, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        stream(tmp_path, **kwargs)
