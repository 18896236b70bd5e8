"""Any name a filesystem accepts works end to end: 255-byte names (ASCII and multi-byte),
unicode in either normal form, spaces, a leading '-', names that are rejected, and names that
are not even UTF-8; every path derived from a name (temporary copy, version, reason file)
fits in 255 bytes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import unicodedata
from pathlib import Path

from lakehouse import Lakehouse

HEADER = "product_id,department_id,department,product_name\n"
LONG_ASCII = "products_" + "a" * 242 + ".csv"
LONG_UNICODE = "products_" + "ü" * 121 + ".csv"  # 2 bytes a letter
LONG_REJECTED = "zz_" + "q" * 248 + ".csv"  # no entity by name nor by columns
CAFE = "products_café.csv"
ODD = [
    LONG_ASCII,
    LONG_UNICODE,
    unicodedata.normalize("NFC", CAFE),
    unicodedata.normalize("NFD", CAFE),
    "products with spaces.csv",
    "-products.csv",
]


def deliver(folder: Path, names: list[str], start: int) -> dict[str, int]:
    """One products file per name, each with its own product id; name -> id."""
    folder.mkdir(parents=True, exist_ok=True)
    ids = {}
    for i, name in enumerate(names, start):
        (folder / name).write_text(HEADER + f"{i},4,Books,Item {i}\n", encoding="utf-8")
        ids[name] = i
    return ids


def test_odd_names_work_end_to_end_and_derived_paths_fit(tmp_path: Path) -> None:
    assert {len(n.encode()) for n in (LONG_ASCII, LONG_UNICODE, LONG_REJECTED)} == {255}
    assert len({unicodedata.normalize("NFC", CAFE), unicodedata.normalize("NFD", CAFE)}) == 2
    lh = Lakehouse(tmp_path / "lake")
    src = tmp_path / "drop"
    ids = deliver(src, ODD, 1)
    (src / LONG_REJECTED).write_text("a,b\n1,2\n")
    summary = lh.run([src])
    assert summary.status == "SUCCEEDED"
    assert sorted(summary.files_loaded) == sorted(f"drop/{n}" for n in ODD)
    assert summary.files_rejected == {f"drop/{LONG_REJECTED}": ["unreadable_file"]}
    t = lh.sql("SELECT product_id, _source_file FROM bronze.products")
    assert {r["_source_file"]: int(r["product_id"]) for r in t.to_pylist()} == {
        f"drop/{n}": i for n, i in ids.items()
    }
    files = lh.sql("SELECT file, status, moved_to FROM _ops.files").to_pylist()
    assert sorted(r["file"] for r in files) == sorted(f"drop/{n}" for n in [*ODD, LONG_REJECTED])
    for r in files:
        assert Path(r["moved_to"]).name == r["file"].split("/")[-1]
        assert Path(r["moved_to"]).is_file()
    rejected = Path(next(r["moved_to"] for r in files if r["status"] == "rejected"))
    (reason_file,) = rejected.parent.glob("*.reason.json")
    assert len(reason_file.name.encode()) <= 255 and reason_file.name.startswith("zz_qqq")
    reason = json.loads(reason_file.read_text())
    assert (reason["file"], reason["reasons"]) == (f"drop/{LONG_REJECTED}", ["unreadable_file"])
    assert os.listdir(lh.root.path("landing", "drop")) == []

    again = lh.run([src])  # the same files again: duplicates; the rejected one checked again
    assert again.status == "SUCCEEDED"
    assert sorted(again.files_duplicate) == sorted(f"drop/{n}" for n in ODD)
    assert again.files_rejected == {f"drop/{LONG_REJECTED}": ["unreadable_file"]}


def test_a_second_version_of_a_255_byte_name_is_delivered_and_wins(tmp_path: Path) -> None:
    lh = Lakehouse(tmp_path / "lake")
    for n, label in enumerate(("Old", "New"), 1):
        src = tmp_path / f"v{n}"
        src.mkdir()
        (src / LONG_UNICODE).write_text(HEADER + f"1,4,Books,{label}\n", encoding="utf-8")
    from lakehouse.orchestration.pipeline import copy_sources, run

    first = copy_sources(lh.root, [tmp_path / "v1" / LONG_UNICODE]).landed
    second = copy_sources(lh.root, [tmp_path / "v2" / LONG_UNICODE]).landed
    assert first == [LONG_UNICODE]
    assert second[0].endswith("~2.csv") and second[0].startswith("products_üü")
    assert len(second[0].encode()) <= 255
    summary = run(lh.root)
    assert summary.files_loaded == [*first, *second]
    names = lh.sql("SELECT product_name FROM silver.products")["product_name"].to_pylist()
    assert names == ["New"]


def test_a_name_that_is_not_utf8_is_delivered_escaped_and_never_blocks(tmp_path: Path) -> None:
    lh = Lakehouse(tmp_path / "lake")
    src = tmp_path / "drop"
    src.mkdir()
    raw = os.fsencode(src) + b"/products_caf\xe9.csv"
    with open(raw, "wb") as f:
        f.write((HEADER + "1,4,Books,Latin-1 named\n").encode())
    stray = os.fsencode(lh.root.path("landing")) + b"/orders_\xff.csv"  # dropped by hand
    os.makedirs(os.path.dirname(stray), exist_ok=True)
    with open(stray, "wb") as f:
        f.write(b"order_id\n1\n")
    summary = lh.run([src])
    assert summary.status == "SUCCEEDED"
    assert summary.files_loaded == ["drop/products_caf\\xe9.csv"]
    assert os.path.exists(stray)  # not taken (no table can hold its name), not lost either


def test_cli_run_with_a_source_whose_name_starts_with_a_dash(tmp_path: Path) -> None:
    (tmp_path / "-x.csv").write_text(HEADER + "1,4,Books,Dash\n")
    env = {**os.environ, "LAKEHOUSE_LOG_LEVEL": "ERROR"}
    cmd = [sys.executable, "-m", "lakehouse", "run", "--root", "lake", "--source", "./-x.csv"]
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    archived = list((tmp_path / "lake" / "archive").rglob("-x.csv"))
    assert len(archived) == 1
    assert os.listdir(tmp_path / "lake" / "landing") == []
