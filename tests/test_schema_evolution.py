"""Contract evolution: an added optional column evolves the tables; a type change is refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pytest

from lakehouse import Lakehouse
from lakehouse.contracts.loader import packaged_contracts
from lakehouse.errors import SchemaEvolutionError
from lakehouse.orchestration.preflight import check_tables
from lakehouse.store.delta import open_table
from lakehouse.store.root import Root

ORDERS = "order_num,order_id,user_id,order_timestamp,total_amount,date\n"


def contracts_copy(tmp_path: Path) -> Path:
    d = tmp_path / "contracts"
    shutil.copytree(
        str(packaged_contracts()), d, ignore=shutil.ignore_patterns("*.py", "__pycache__")
    )
    return d


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_added_optional_column_evolves_silver(tmp_path: Path) -> None:
    cdir = contracts_copy(tmp_path)
    root = tmp_path / "lake"
    v1 = Lakehouse(root, contracts_dir=str(cdir))
    v1.run(
        [
            write(
                tmp_path / "a" / "orders_1.csv",
                ORDERS + "1,10,5,2025-04-01T10:00:00,9.99,2025-04-01\n",
            )
        ]
    )
    toml = (cdir / "orders.toml").read_text().replace("version = 1", "version = 2")
    toml += '\n[[columns]]\nname = "channel"\ntype = "string"\nrequired = false\n'
    toml += 'description = "Sales channel (web, app); added in v2."\n'
    (cdir / "orders.toml").write_text(toml)
    v2 = Lakehouse(root, contracts_dir=str(cdir))
    s = v2.run(
        [
            write(
                tmp_path / "b" / "orders_2.csv",
                ORDERS.strip() + ",channel\n2,11,5,2025-04-02T10:00:00,5.00,2025-04-02,app\n",
            )
        ]
    )
    assert s.status == "SUCCEEDED"
    rows = v2.sql("SELECT order_id, channel FROM silver.orders ORDER BY order_id").to_pylist()
    assert rows == [{"order_id": 10, "channel": None}, {"order_id": 11, "channel": "app"}]
    ops = [h["operation"] for h in v2.history("silver.orders")]
    assert "ADD COLUMN" in ops
    schema = v2.describe("silver.orders")
    assert schema.info.rows == 2


def test_a_file_rejected_for_a_column_the_contract_then_takes_in_loads_when_sent_again(
    tmp_path: Path,
) -> None:
    """The same bytes sent again after the contract gained their column: they were set aside
    as a duplicate of the rejection, with v1's reason, and never loaded. A rejected file is
    checked again, against the contract of the day; a loaded one stays a duplicate."""
    cdir = contracts_copy(tmp_path)
    root = tmp_path / "lake"
    delivery = write(
        tmp_path / "a" / "orders_1.csv",
        ORDERS.strip() + ",channel\n1,10,5,2025-04-01T10:00:00,9.99,2025-04-01,web\n",
    )
    first = Lakehouse(root, contracts_dir=str(cdir)).run([delivery])
    assert first.files_rejected == {"orders_1.csv": ["unexpected_column:channel"]}
    toml = (cdir / "orders.toml").read_text().replace("version = 1", "version = 2")
    toml += '\n[[columns]]\nname = "channel"\ntype = "string"\nrequired = false\n'
    toml += 'description = "Sales channel (web, app); added in v2."\n'
    (cdir / "orders.toml").write_text(toml)
    v2 = Lakehouse(root, contracts_dir=str(cdir))
    again = v2.run([delivery])
    assert (again.files_loaded, again.files_rejected, again.files_duplicate) == (
        ["orders_1.csv"],
        {},
        [],
    )
    assert v2.sql("SELECT order_id, channel FROM silver.orders").to_pylist() == [
        {"order_id": 10, "channel": "web"}
    ]
    third = v2.run([delivery])  # loaded now: the same bytes once more are a duplicate
    assert third.files_duplicate == ["orders_1.csv"] and third.files_loaded == []


def test_type_change_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    cdir = contracts_copy(tmp_path)
    root = tmp_path / "lake"
    lh = Lakehouse(root, contracts_dir=str(cdir))
    lh.run(
        [
            write(
                tmp_path / "a" / "orders_1.csv",
                ORDERS + "1,10,5,2025-04-01T10:00:00,9.99,2025-04-01\n",
            )
        ]
    )
    toml = (cdir / "orders.toml").read_text()
    toml = toml.replace(
        'name = "total_amount"\ntype = "decimal(12,2)"', 'name = "total_amount"\ntype = "bigint"'
    )
    (cdir / "orders.toml").write_text(toml.replace("version = 1", "version = 2"))
    changed = Lakehouse(root, contracts_dir=str(cdir))
    with pytest.raises(SchemaEvolutionError, match=r"total_amount.*type changes are refused"):
        check_tables(changed.root, changed.contracts)


def test_new_required_column_cannot_be_added_to_existing_table(tmp_path: Path) -> None:
    import pyarrow as pa

    from lakehouse.store.delta import evolve_schema, open_table

    lh = Lakehouse(tmp_path / "lake")
    lh.run(
        [
            write(
                tmp_path / "a" / "orders_1.csv",
                ORDERS + "1,10,5,2025-04-01T10:00:00,9.99,2025-04-01\n",
            )
        ]
    )
    dt = open_table(lh.root, "silver", "orders")
    wanted = pa.schema([*pa.schema(dt.schema()), pa.field("x", pa.string(), nullable=False)])
    with pytest.raises(SchemaEvolutionError, match="must be optional"):
        evolve_schema(dt, wanted, "silver.orders", allowed=True)


def test_edited_description_reaches_every_table_and_blocks_nothing(tmp_path: Path) -> None:
    """A description edited in a contract (no version change) used to fail every later run:
    delta-rs refuses to merge field metadata with a different `comment`."""
    cdir = contracts_copy(tmp_path)
    root = tmp_path / "lake"
    first = Lakehouse(root, contracts_dir=str(cdir)).run(
        [
            write(
                tmp_path / "a" / "orders_1.csv",
                ORDERS + "1,10,5,2025-04-01T10:00:00,9.99,2025-04-01\n",
            )
        ]
    )
    assert first.status == "SUCCEEDED"
    toml = (cdir / "orders.toml").read_text()
    old = "Order identifier, unique across all orders."
    assert old in toml
    (cdir / "orders.toml").write_text(toml.replace(old, "Order identifier, <unique> per shop."))
    lh = Lakehouse(root, contracts_dir=str(cdir))
    second = lh.run(
        [
            write(
                tmp_path / "b" / "orders_2.csv",
                ORDERS + "2,11,5,2025-04-02T10:00:00,5.00,2025-04-02\n",
            )
        ]
    )
    assert second.status == "SUCCEEDED"
    assert lh.sql("SELECT count(*) AS n FROM silver.orders").to_pylist() == [{"n": 2}]
    for zone in ("bronze", "silver", "quarantine"):
        schema = pa.schema(open_table(Root(str(root)), zone, "orders").schema())
        comment = (schema.field("order_id").metadata or {}).get(b"comment", b"").decode()
        assert comment == "Order identifier, <unique> per shop.", zone
    # converged: a further run changes no table's metadata again
    versions = {t.name: t.version for t in lh.tables() if t.name.endswith(".orders")}
    lh.run([])
    assert {t.name: t.version for t in lh.tables() if t.name.endswith(".orders")} == versions
