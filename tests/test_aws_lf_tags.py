"""The catalog sync classifies its tables for Lake Formation tag-based access control (moto):
silver and gold tables `analyst`, customer identifiers `restricted`, other zones `restricted`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from lakehouse.aws import glue_catalog as gc
from lakehouse.aws.glue_sync import (
    ANALYST,
    CUSTOMER_IDENTIFIERS,
    LF_TAG_KEY_ENV,
    RESTRICTED,
    classify,
    sync,
)
from lakehouse.store.root import Root

if TYPE_CHECKING:
    from aws_fixtures import Aws

pytestmark = pytest.mark.aws
pytest_plugins = ["aws_fixtures"]
KEY = "lakehouse-test-access"


def _tags(lf: Any, resource: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = lf.get_resource_lf_tags(Resource=resource)
    return answer


def test_sync_tags_tables_and_restricts_customer_identifiers(
    aws: Aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lf = aws.client("lakeformation")
    lf.create_lf_tag(TagKey=KEY, TagValues=[ANALYST, RESTRICTED])
    monkeypatch.setenv(LF_TAG_KEY_ENV, KEY)  # what the deployed Glue job sets
    plan = gc.catalog_tables(Root(tmp_path / "lake"), gold=False)
    report = sync(plan.tables, "governed", client=aws.client("glue"))
    assert len(report.tagged) == len(plan.tables) == 3
    for table in plan.tables:
        on_table = _tags(lf, {"Table": {"DatabaseName": "governed", "Name": table.name}})
        assert on_table["LFTagsOnTable"] == [
            {"CatalogId": "123456789012", "TagKey": KEY, "TagValues": [ANALYST]}
        ]
        names = [c.name for c in (*table.columns, *table.partition_keys)]
        resource = {
            "TableWithColumns": {
                "DatabaseName": "governed",
                "Name": table.name,
                "ColumnNames": names,
            }
        }
        restricted = {
            c["Name"]
            for c in _tags(lf, resource).get("LFTagsOnColumns", [])
            if c["LFTags"][0]["TagValues"] == [RESTRICTED]
        }
        assert restricted == CUSTOMER_IDENTIFIERS & set(names)
    # orders and order_items carry the customer id; products does not
    assert {t.name for t in plan.tables if classify(t)[1]} == {
        "silver_orders",
        "silver_order_items",
    }
    # a second sync writes nothing to Glue but re-asserts the classification (idempotent)
    again = sync(plan.tables, "governed", client=aws.client("glue"))
    assert not again.changed and again.tagged == report.tagged


def test_other_zones_stay_restricted_and_unknown_keys_fail(aws: Aws, tmp_path: Path) -> None:
    quarantine = gc.CatalogTable("quarantine", "orders", "rejected rows", "s3://x/q", ())
    assert classify(quarantine) == (RESTRICTED, [])
    plan = gc.catalog_tables(Root(tmp_path / "lake"), gold=False)
    with pytest.raises(gc.CatalogError, match="Lake Formation refused"):
        sync(plan.tables, "governed2", client=aws.client("glue"), lf_tag_key="no-such-key")


def test_without_a_tag_key_nothing_is_tagged(
    aws: Aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(LF_TAG_KEY_ENV, raising=False)
    plan = gc.catalog_tables(Root(tmp_path / "lake"), gold=False)
    report = sync(plan.tables, "plain", client=aws.client("glue"))
    assert report.tagged == [] and len(report.created) == 3
