"""Writes the scenario folders from the lab data (dirty_lab, late_parent, corrections).

Kept in the repo so the scenario can be regenerated and reviewed; the expectations are
stated here by hand, next to each defect, not computed by the pipeline.
Run: python tests/scenarios/make_scenarios.py
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

HERE = Path(__file__).parent
LAB = HERE.parent / "data" / "lab"
OUT = HERE / "dirty_lab"


def read(name: str) -> list[dict[str, str]]:
    with open(LAB / name, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def write(path: Path, rows: list[dict[str, str]], fields: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=fields, lineterminator="\r\n")
        w.writeheader()
        w.writerows(rows)


def dirty_lab() -> None:
    """Lab rows with one known defect per reason code, plus files rejected whole."""
    shutil.rmtree(OUT, ignore_errors=True)
    inp = OUT / "input" / "run1"
    shutil.copy(LAB / "products.csv", (inp.mkdir(parents=True) or inp) / "products.csv")
    orders = read("orders.csv")[:40]
    ids = {o["order_id"] for o in orders}
    items = [i for i in read("order_items.csv") if i["order_id"] in ids]
    ofields = [*orders[0].keys(), "payment_method"]
    for o in orders:
        o["payment_method"] = "card"
    expected: list[dict[str, object]] = []
    of = "orders_dirty.csv"

    def bad_order(i: int, reasons: list[str], **changes: str) -> None:
        orders[i].update(changes)
        expected.append({"file": of, "sheet": "", "row": i + 2, "reasons": sorted(reasons)})

    # rows 2.. are data rows (header is row 1)
    bad_order(0, ["null_key:order_id"], order_id="")
    bad_order(1, ["null_required:user_id"], user_id=" ")
    bad_order(2, ["bad_type:total_amount"], total_amount="12,50")
    bad_order(3, ["bad_timestamp:order_timestamp"], order_timestamp="2025-04-31T10:00:00")
    bad_order(4, ["out_of_range:total_amount"], total_amount="-5.00")
    bad_order(5, ["invalid_enum:payment_method"], payment_method="bitcoin")
    bad_order(6, ["date_mismatch"], date="2025-04-02")
    bad_order(7, ["future_timestamp"], order_timestamp="2099-01-01T00:00:00", date="2099-01-01")
    bad_order(8, ["bad_type:user_id", "out_of_range:order_num"], user_id="12a", order_num="0")
    bad_order(9, ["bad_timestamp:date"], date="April 1")
    # an exact duplicate of row 12's order (row 43 = the 42nd data row): only the later one
    orders.append(dict(orders[10]))
    expected.append({"file": of, "sheet": "", "row": 42, "reasons": ["duplicate_key_in_batch"]})
    write(inp / of, orders, ofields)

    rejected_orders = {orders[i]["order_id"] for i in range(10) if orders[i]["order_id"]}
    # items of the quarantined orders are orphans (their parent never reached silver);
    # the item of order 7 (future) also disagrees with nothing: it is just an orphan
    fields = list(items[0].keys())
    inf = "order_items_dirty.csv"
    for n, it in enumerate(items):
        if it["order_id"] in rejected_orders:
            expected.append(
                {"file": inf, "sheet": "", "row": n + 2, "reasons": ["orphan:order_id"]}
            )
    clean = [n for n, it in enumerate(items) if it["order_id"] not in rejected_orders]
    # order 0 lost its key, so its items (which keep their order_id) are orphans too
    first_order_id = read("orders.csv")[0]["order_id"]
    for n, it in enumerate(items):
        if it["order_id"] == first_order_id:
            expected.append(
                {"file": inf, "sheet": "", "row": n + 2, "reasons": ["orphan:order_id"]}
            )
    clean = [n for n in clean if items[n]["order_id"] != first_order_id]

    def bad_item(n: int, reasons: list[str], **changes: str) -> None:
        items[n].update(changes)
        expected.append({"file": inf, "sheet": "", "row": n + 2, "reasons": sorted(reasons)})

    bad_item(clean[0], ["orphan:order_id"], order_id="999999")
    bad_item(clean[1], ["orphan:product_id"], product_id="99999")
    bad_item(clean[2], ["parent_mismatch:user_id"], user_id="1")
    ts = items[clean[3]]["order_timestamp"]
    bad_item(clean[3], ["parent_mismatch:order_timestamp"], order_timestamp=ts[:11] + "00:00:01")
    bad_item(clean[4], ["out_of_range:reordered"], reordered="2")
    bad_item(clean[5], ["null_key:id"], id="")
    bad_item(
        clean[6],
        ["bad_type:add_to_cart_order", "out_of_range:days_since_prior_order"],
        add_to_cart_order="first",
        days_since_prior_order="-1",
    )
    write(inp / inf, items, fields)

    # files rejected whole: an unexpected column, a missing required column, unreadable bytes
    extra = [dict(o, coupon="X") for o in read("orders.csv")[100:103]]
    write(inp / "orders_extra.csv", extra, [*read("orders.csv")[0].keys(), "coupon"])
    missing = [
        {k: v for k, v in i.items() if k != "reordered"} for i in read("order_items.csv")[:3]
    ]
    write(inp / "order_items_missing.csv", missing, [k for k in fields if k != "reordered"])
    (inp / "orders_broken.xlsx").write_bytes(b"this is not a workbook")
    files = {
        "orders_extra.csv": ["unexpected_column:coupon"],
        "order_items_missing.csv": ["missing_column:reordered"],
        "orders_broken.xlsx": ["unreadable_file"],
    }
    quarantined = sorted(expected, key=lambda e: (str(e["file"]), int(str(e["row"]))))
    q_orders = sum(1 for e in quarantined if e["file"] == of)
    q_items = sum(1 for e in quarantined if e["file"] == inf)
    spec = {
        "description": "Lab rows with one known defect per reason code, plus rejected files.",
        "silver_counts": {
            "products": 1000,
            "orders": len(orders) - q_orders,
            "order_items": len(items) - q_items,
        },
        "quarantine": quarantined,
        "rejected_files": files,
    }
    (OUT / "expected.json").write_text(json.dumps(spec, indent=1) + "\n")


def late_parent() -> None:
    """Order lines arrive a run before their orders: they wait in quarantine, then load."""
    out = HERE / "late_parent"
    shutil.rmtree(out, ignore_errors=True)
    orders = read("orders.csv")[:20]
    ids = {o["order_id"] for o in orders}
    items = [i for i in read("order_items.csv") if i["order_id"] in ids]
    run1, run2 = out / "input" / "run1", out / "input" / "run2"
    run1.mkdir(parents=True)
    shutil.copy(LAB / "products.csv", run1 / "products.csv")
    write(run1 / "order_items_early.csv", items, list(items[0].keys()))
    write(run2 / "orders_late.csv", orders, list(orders[0].keys()))
    spec = {
        "description": "Children first, parents one run later: all released, none left waiting.",
        "silver_counts": {"products": 1000, "orders": 20, "order_items": len(items)},
        "quarantine": [],
        "rejected_files": {},
    }
    (out / "expected.json").write_text(json.dumps(spec, indent=1) + "\n")


def corrections() -> None:
    """A re-delivered order with a newer timestamp on another day replaces the old row."""
    out = HERE / "corrections"
    shutil.rmtree(out, ignore_errors=True)
    orders = read("orders.csv")[:10]
    run1, run2 = out / "input" / "run1", out / "input" / "run2"
    write(run1 / "orders_day1.csv", orders, list(orders[0].keys()))
    moved = dict(
        orders[0], order_timestamp="2025-04-02T09:00:00", date="2025-04-02", total_amount="1.00"
    )  # newer: wins, and moves to another date partition
    stale = dict(
        orders[1], order_timestamp="2025-03-31T09:00:00", date="2025-03-31", total_amount="2.00"
    )  # older than what silver holds: ignored
    write(run2 / "orders_fix.csv", [moved, stale], list(orders[0].keys()))
    spec = {
        "description": "Newest order_timestamp wins; the key never appears twice.",
        "silver_counts": {"orders": 10},
        "silver_rows": {
            "orders": [
                {
                    "order_id": int(orders[0]["order_id"]),
                    "total_amount": "1.00",
                    "date": "2025-04-02",
                },
                {
                    "order_id": int(orders[1]["order_id"]),
                    "total_amount": orders[1]["total_amount"],
                    "date": orders[1]["date"],
                },
            ]
        },
        "quarantine": [],
        "rejected_files": {},
    }
    (out / "expected.json").write_text(json.dumps(spec, indent=1) + "\n")


if __name__ == "__main__":
    dirty_lab()
    late_parent()
    corrections()
