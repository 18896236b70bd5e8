"""Crafted hostile inputs for the reader tests, built in code (small and reviewable)."""

from __future__ import annotations

import io
import zipfile
from xml.sax.saxutils import escape

_PKG = "http://schemas.openxmlformats.org/package/2006"
_DOC = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_OFFICE = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    f'<Types xmlns="{_PKG}/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    f'<Override PartName="/xl/workbook.xml" ContentType="{_OFFICE}.sheet.main+xml"/>'
    f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{_OFFICE}.worksheet+xml"/>'
    "</Types>"
)
_ROOT_RELS = (
    f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{_PKG}/relationships">'
    f'<Relationship Id="rId1" Type="{_DOC}/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    f'xmlns:r="{_DOC}"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{_PKG}/relationships">'
    f'<Relationship Id="rId1" Type="{_DOC}/worksheet" Target="worksheets/sheet1.xml"/>'
    "</Relationships>"
)


def cell(ref: str, value: str | float) -> str:
    """One cell: text as an inline string, numbers as numbers."""
    if isinstance(value, str):
        return f'<c r="{ref}" t="inlineStr"><is><t>{escape(value)}</t></is></c>'
    return f'<c r="{ref}"><v>{value!r}</v></c>'


def sheet_xml(cells: dict[str, str | float], dimension: str | None = None) -> str:
    """A worksheet with the given cells (by reference, e.g. "A1"), grouped into rows in order."""
    rows: dict[int, list[str]] = {}
    for ref, value in cells.items():
        number = int("".join(ch for ch in ref if ch.isdigit()))
        rows.setdefault(number, []).append(cell(ref, value))
    body = "".join(f'<row r="{n}">{"".join(cs)}</row>' for n, cs in sorted(rows.items()))
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f"{dim}<sheetData>{body}</sheetData></worksheet>"
    )


def xlsx(sheet: str, extra: dict[str, bytes] | None = None) -> bytes:
    """A minimal one-sheet workbook around `sheet` (worksheet XML), plus any extra members."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", _CONTENT_TYPES)
        zf.writestr("_rels/.rels", _ROOT_RELS)
        zf.writestr("xl/workbook.xml", _WORKBOOK)
        zf.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        zf.writestr("xl/worksheets/sheet1.xml", sheet)
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return buf.getvalue()


def last_cell_xlsx() -> bytes:
    """The reported poison file: a valid products sheet plus one cell at XFD1048576."""
    cells: dict[str, str | float] = {"A1": "product_id", "B1": "product_name", "A2": 1.0}
    cells["B2"] = "tea"
    cells["XFD1048576"] = "x"
    return xlsx(sheet_xml(cells))


def far_cell_xlsx(ref: str) -> bytes:
    """A products sheet with one more cell at `ref`: the reader allocates the whole range."""
    return xlsx(sheet_xml({"A1": "product_id", "A2": 1.0, ref: "x"}))


def zip_bomb_xlsx(inflated_bytes: int) -> bytes:
    """A workbook with a member of `inflated_bytes` zeros (compresses about 1000:1)."""
    sheet = sheet_xml({"A1": "product_id", "A2": 1.0})
    return xlsx(sheet, {"xl/media/padding.bin": b"\0" * inflated_bytes})
