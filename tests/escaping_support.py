"""A small lakehouse whose data looks like markup, for the escaping tests (HTML, browser)."""

from __future__ import annotations

import csv
from pathlib import Path

from lakehouse import Lakehouse

PRODUCT = "<!--<script>"  # opens a script's double-escaped state: blanks the page if raw
DEPARTMENT = '<a href="http://x">d</a>'  # a link in every chart label if rendered as HTML
CLOSER = "</script><b>bold</b>"  # ends the data's <script> element if raw
REJECTED = "orders_<img src=x onerror=alert(1)>.csv"  # a file rejected whole (bad header)


def hostile_lake(dest: Path) -> Lakehouse:
    """Five products (all sold) in a root; product 1 is named PRODUCT and its department is
    DEPARTMENT, product 2 is named CLOSER; the file REJECTED is in quarantine/files."""
    from lakehouse.generate import generate

    source = dest / "source"
    generate(source, orders=40, days=3, products=5, fmt="csv")
    products = source / "products.csv"
    with products.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    hostile = rows[0]["department"]
    for r in rows:
        if r["department"] == hostile:
            r["department"] = DEPARTMENT
    rows[0]["product_name"] = PRODUCT
    rows[1]["product_name"] = CLOSER
    with products.open("w", newline="", encoding="utf-8") as f:
        out = csv.DictWriter(f, fieldnames=list(rows[0]))
        out.writeheader()
        out.writerows(rows)
    (source / REJECTED).write_text(f"order_num,order_id,{DEPARTMENT}\n1,2,3\n")
    lh = Lakehouse(dest / "lake")
    result = lh.run([source])
    assert result.status == "SUCCEEDED" and len(result.files_rejected) == 1, result
    return lh
