"""The dirty manifest is the exact ground truth: checked against an independent rule checker."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from generate_support import KEY, expected_quarantine
from lakehouse.generate import FORMATS, GenerateResult, batch, generate
from test_generate_formats import logical_rows

Dirty = tuple[GenerateResult, Path]
ARGS: dict[str, Any] = {"orders": 500, "products": 80, "days": 4, "seed": 9, "dirty_rate": 0.03}
ALL_ROW_REASONS = {
    "null_key:product_id", "null_key:order_id", "null_key:id", "bad_type:product_id",
    "bad_type:order_id", "bad_type:id", "null_required:department", "null_required:product_name",
    "null_required:department_id", "null_required:order_num", "null_required:user_id",
    "null_required:order_timestamp", "null_required:total_amount", "null_required:date",
    "null_required:add_to_cart_order", "null_required:reordered", "bad_type:department_id",
    "bad_type:unit_price", "bad_type:order_num", "bad_type:user_id", "bad_type:total_amount",
    "bad_type:quantity", "bad_type:add_to_cart_order", "bad_type:days_since_prior_order",
    "bad_timestamp:order_timestamp", "bad_timestamp:date", "out_of_range:department_id",
    "out_of_range:unit_price", "out_of_range:order_num", "out_of_range:user_id",
    "out_of_range:total_amount", "out_of_range:quantity", "out_of_range:add_to_cart_order",
    "out_of_range:reordered", "out_of_range:days_since_prior_order", "invalid_enum:payment_method",
    "invalid_enum:currency", "invalid_enum:status", "date_mismatch", "future_timestamp",
    "duplicate_key_in_batch", "orphan:order_id", "orphan:product_id", "parent_mismatch:user_id",
    "parent_mismatch:order_timestamp", "parent_mismatch:date",
}  # fmt: skip


def manifest_of(r: GenerateResult) -> dict[str, Any]:
    assert r.manifest is not None and r.manifest.name == "_dirty_manifest.json"
    doc: dict[str, Any] = json.loads(r.manifest.read_text())
    return doc


@pytest.fixture(scope="module", params=FORMATS)
def dirty(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Dirty:
    out = tmp_path_factory.mktemp(f"dirty-{request.param}")
    return generate(out, fmt=request.param, **ARGS), out


def test_manifest_lists_exactly_the_rows_the_rules_reject(dirty: Dirty) -> None:
    r, out = dirty
    doc = manifest_of(r)
    listed = {(m["entity"], m["file"], m["sheet"], m["row"]): m["reasons"] for m in doc["rows"]}
    found, rejected, _ = expected_quarantine(out)
    assert len(listed) == len(doc["rows"])  # each row once
    assert {k: v for k, v in found.items() if k not in listed} == {}  # nothing unlisted is bad
    assert {k: v for k, v in listed.items() if k not in found} == {}  # everything listed is bad
    assert {k: v for k, v in listed.items() if found[k] != v} == {}  # with exactly its reasons
    assert {f["file"]: f["reasons"] for f in doc["files"]} == rejected
    assert {f["entity"] for f in doc["files"]} == {"products", "orders", "order_items"}


def test_every_reason_code_is_planted(dirty: Dirty) -> None:
    r, _ = dirty
    doc = manifest_of(r)
    planted = {code for m in doc["rows"] for code in m["reasons"]}
    assert planted == ALL_ROW_REASONS
    assert any(len(m["reasons"]) > 1 for m in doc["rows"])  # rows keep all their reasons
    file_codes = {c.split(":")[0] for f in doc["files"] for c in f["reasons"]}
    assert file_codes == {"missing_column", "unexpected_column"}
    assert doc["counts"]["rows"] == len(doc["rows"]) == r.dirty_rows
    assert doc["counts"]["whitespace_padded"] > 0


def test_valid_rows_are_the_clean_data(tmp_path: Path) -> None:
    """Leave out what the manifest lists (rows and files): the clean data set remains, in order
    (padding whitespace trimmed, as the pipeline trims)."""
    r = generate(tmp_path / "dirty", fmt="csv", **ARGS)
    generate(tmp_path / "clean", fmt="csv", **{**ARGS, "dirty_rate": 0.0})
    doc = manifest_of(r)
    listed = {(m["file"], m["sheet"], m["row"]) for m in doc["rows"]}
    rejected = {f["file"] for f in doc["files"]}
    clean = logical_rows(tmp_path / "clean")
    assert logical_rows(tmp_path / "dirty", listed, rejected) == clean
    assert sum(map(len, clean.values())) == r.orders + r.order_items + r.products


def test_about_the_requested_rate(tmp_path: Path) -> None:
    r = generate(tmp_path, orders=4000, products=400, days=5, fmt="parquet", dirty_rate=0.05)
    counts = manifest_of(r)["counts"]
    assert counts["valid_rows"] == {"order_items": r.order_items, "orders": 4000, "products": 400}
    for entity, valid in counts["valid_rows"].items():
        assert 0.04 < counts["rows_by_entity"][entity] / valid < 0.09, entity


def test_defective_rows_have_keys_nothing_depends_on(dirty: Dirty) -> None:
    """Defective orders and products use reserved keys; no valid line points at them."""
    _, out = dirty
    _, _, checked = expected_quarantine(out)
    for c in checked:
        key = c.values[KEY[c.entity]]
        if c.reasons and "duplicate_key_in_batch" not in c.reasons and isinstance(key, int):
            assert key > 1_000_000_000
        if not c.reasons and isinstance(key, int):
            assert key < 1_000_000_000


@pytest.mark.parametrize("fmt", ["xlsx", "jsonl"])
def test_row_positions_hold_across_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    """Defects injected into every chunk of a day land at the right row of the day's file."""
    monkeypatch.setattr(batch, "MAX_CHUNK_ORDERS", 20)
    r = generate(tmp_path, orders=300, products=40, days=2, fmt=fmt, dirty_rate=0.05)
    doc = manifest_of(r)
    listed = {(m["entity"], m["file"], m["sheet"], m["row"]): m["reasons"] for m in doc["rows"]}
    assert listed == expected_quarantine(tmp_path)[0]
    assert len({m["row"] for m in doc["rows"] if m["entity"] == "orders"}) > 10
