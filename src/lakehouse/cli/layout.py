"""Tables that fit the terminal, the way `gh` and `kubectl` print them: one line per row.

Every table the CLI prints is laid out here from its columns' kinds:

- a *name* (table, column, run id, rule) and a *value* (number, timestamp, status, short
  token) is never wrapped and never cut: its column is as wide as its widest cell;
- *text* (descriptions, messages, reasons, file lists) is never wrapped either: it gets the
  width that is left, at least `MIN_TEXT`, and is cut with an ellipsis past that;
- when even that does not fit, columns are left out in their `drop` order (1 first, then 2,
  ...; the rightmost first among equals) and a caption names them. `drop=0` columns stay.

If the names alone are wider than the terminal, the table is printed wider than the terminal
(the terminal then breaks its lines) rather than cut a name. Only the table format is laid out:
CSV and JSON are written whole by their own code.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import pyarrow as pa
    from rich.console import Console, JustifyMethod
    from rich.table import Table
    from rich.text import Text

Kind = Literal["name", "value", "text"]

MIN_TEXT = 20
"""The narrowest a text column is shown: below it, lower-priority columns are left out."""


@dataclass(frozen=True)
class Col:
    """A column: its heading, kind, when it is left out (`drop`: 0 never, else 1 first, then
    2, ...) and alignment."""

    header: str
    kind: Kind = "value"
    drop: int = 0
    justify: JustifyMethod = "left"


def name(header: str, drop: int = 0) -> Col:
    return Col(header, "name", drop)


def value(header: str, drop: int = 0, justify: JustifyMethod = "left") -> Col:
    return Col(header, "value", drop, justify)


def number(header: str, drop: int = 0) -> Col:
    return Col(header, "value", drop, "right")


def text(header: str, drop: int = 0) -> Col:
    return Col(header, "text", drop)


def show(
    con: Console,
    cols: Sequence[Col],
    rows: Iterable[Sequence[str | Text]],
    title: str | None = None,
) -> None:
    """Print `rows` under `cols` on `con`, laid out for its width."""
    table, width = fit(cols, rows, con.width, title)
    if width <= con.width:
        con.print(table)
        return
    screen = con.width  # the names alone are wider than the screen: lines too long, names whole
    con.width = width
    try:
        con.print(table)
    finally:
        con.width = screen


def fit(
    cols: Sequence[Col],
    rows: Iterable[Sequence[str | Text]],
    width: int,
    title: str | None = None,
) -> tuple[Table, int]:
    """The table laid out for `width` terminal columns, and the width it needs."""
    from rich.table import Table

    cells = [[_cell(c, v) for c, v in zip(cols, row, strict=True)] for row in rows]
    natural = [max([_len(c.header), *(r[i].cell_len for r in cells)]) for i, c in enumerate(cols)]
    least = [
        min(n, max(MIN_TEXT, _len(c.header))) if c.kind == "text" else n
        for c, n in zip(cols, natural, strict=True)
    ]
    kept = list(range(len(cols)))

    def need(keep: list[int]) -> int:  # every column has a space either side and a rule
        return sum(least[i] for i in keep) + 3 * len(keep) + 1

    while need(kept) > width and any(cols[i].drop for i in kept):
        kept.remove(min((i for i in kept if cols[i].drop), key=lambda i: (cols[i].drop, -i)))
    widths = {i: least[i] for i in kept}
    texts = [i for i in kept if cols[i].kind == "text"]
    spare = width - need(kept)
    while spare > 0:  # share what is left evenly among the text columns still cut
        short = [i for i in texts if widths[i] < natural[i]]
        if not short:
            break
        share = max(spare // len(short), 1)
        for i in short:
            step = min(share, natural[i] - widths[i], spare)
            widths[i] += step
            spare -= step
    dropped = [cols[i].header for i in range(len(cols)) if i not in kept]
    table = Table(
        title=title,
        caption=f"not shown at this width: {', '.join(dropped)}" if dropped else None,
    )
    for i in kept:
        c = cols[i]
        table.add_column(
            c.header,
            justify=c.justify,
            no_wrap=True,
            overflow="ellipsis" if c.kind == "text" else "fold",
            width=widths[i],
        )
    for r in cells:
        table.add_row(*(r[i] for i in kept))
    return table, sum(widths.values()) + 3 * len(kept) + 1


def columns_of(data: pa.Table, known: dict[str, Col] | None = None) -> list[Col]:
    """Columns for rows of any shape (`sql`): the first is a name; numbers, times and
    booleans are values; strings are names unless one holds a space (then text); anything
    nested is text. Those not in `known` are left out right to left."""
    import pyarrow.types as t

    out = []
    for i, f in enumerate(data.schema):
        if known and f.name in known:
            out.append(known[f.name])
            continue
        drop = len(data.schema) - i if i else 0
        if i == 0:
            out.append(name(f.name))
        elif (
            t.is_integer(f.type)
            or t.is_floating(f.type)
            or t.is_decimal(f.type)
            or t.is_temporal(f.type)
            or t.is_boolean(f.type)
        ):
            out.append(value(f.name, drop))
        elif t.is_string(f.type) or t.is_large_string(f.type):
            spaced = any(" " in v for v in data.column(i).to_pylist() if v)
            out.append(text(f.name, drop) if spaced else name(f.name, drop))
        else:
            out.append(text(f.name, drop))
    return out


def _cell(col: Col, v: str | Text) -> Text:
    """A cell as rich Text on one line: control characters shown as escapes; a text cell's
    whitespace runs joined into one space, a line break in any other cell shown as `\\n`
    (a name is shown as it is, and one row stays one line)."""
    from rich.text import Text

    from lakehouse.printable import one_line

    if isinstance(v, Text):
        return v
    return Text(one_line(" ".join(v.split()) if col.kind == "text" else v))


def _len(s: str) -> int:
    from rich.cells import cell_len

    from lakehouse.cli.console import visible

    return cell_len(visible(s))
