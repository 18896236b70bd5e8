"""Operations page, detail cards: quarantine with example rows, and tables with history."""

from __future__ import annotations

from lakehouse.report import fmt, theme
from lakehouse.report.cards import Card, Chart
from lakehouse.report.charts import figure
from lakehouse.report.data import Rows
from lakehouse.report.markup import esc, table
from lakehouse.report.ops_data import Operations

TOP_REASONS = 15


def quarantine_card(o: Operations) -> Card:
    if not o.quarantine and not o.rejected_files:
        return Card(
            "quarantine",
            "Nothing in quarantine",
            note=o.notes.get("quarantine") or "Every row and file received was valid.",
            wide=True,
        )
    totals: dict[str, int] = {}
    for q in o.quarantine:
        totals[q["reason"]] = totals.get(q["reason"], 0) + int(q["rows"])
    reasons = sorted(totals, key=lambda r: totals[r])[-TOP_REASONS:]
    entities = sorted({q["entity"] for q in o.quarantine})
    traces = []
    for i, e in enumerate(entities):
        n = {q["reason"]: q["rows"] for q in o.quarantine if q["entity"] == e}
        traces.append(
            {
                "type": "bar",
                "orientation": "h",
                "name": e,
                "y": reasons,
                "x": [n.get(r, 0) for r in reasons],
                "marker": {"color": theme.colour(i)},
                "hovertemplate": "%{fullData.name} · %{y}: %{x:,} rows<extra></extra>",
            }
        )
    chart = None
    if traces:
        height = max(220, 24 * len(reasons) + 90)
        chart = Chart(
            {"": figure(traces, {"barmode": "stack", "bargap": 0.2, "margin": {"l": 20}}, height)},
            height=height,
        )
    held = sum(o.quarantine_rows.values())
    top = max(totals, key=lambda r: totals[r]) if totals else None
    title = (
        f"{fmt.number(held)} rows are held in quarantine; most common reason: {top} "
        f"({fmt.number(totals[top])})"
        if top
        else f"{len(o.rejected_files)} files were rejected whole"
    )
    drill = []
    for q in o.quarantine:
        examples = o.examples.get(f"{q['entity']}|{q['reason']}", [])
        drill.append(
            f'<details class="drill" data-reason="{esc(q["reason"])}">'
            f"<summary><code>{esc(q['reason'])}</code> · {esc(q['entity'])} · "
            f"<b>{esc(fmt.number(q['rows']))}</b> rows</summary>{_examples(examples)}</details>"
        )
    files = ""
    if o.rejected_files:
        files = "<h3>Files rejected whole</h3>" + table(
            ["File", "Entity", "Reasons", "Run"],
            [
                [
                    f"<code>{esc(f['file'])}</code>",
                    esc(f["entity"]),
                    esc(f["reasons"]),
                    f"<code>{esc(f['run_id'])}</code>",
                ]
                for f in o.rejected_files
            ],
        )
    return Card(
        "quarantine",
        title,
        f"Rows per reason code (top {TOP_REASONS}), by table; a row keeps all of its reasons. "
        "Open a reason below for example rows as received.",
        chart,
        html=f'<h3>Reasons — open one for examples</h3><div class="drills">{"".join(drill)}</div>'
        + files,
        wide=True,
    )


def _examples(rows: Rows) -> str:
    if not rows:
        return "<p class='muted'>No example rows.</p>"
    cols = [c for c in rows[0] if c not in ("_all_reasons", "_where")]
    head = ["Where (file:sheet:row)", "All reasons", *cols]
    body = [
        [f"<code>{esc(r['_where'])}</code>", esc(r["_all_reasons"]), *(esc(r[c]) for c in cols)]
        for r in rows
    ]
    return f'<div class="scroll">{table(head, body, "grid small")}</div>'


def tables_card(o: Operations) -> Card:
    if not o.tables:
        return Card(
            "tables",
            "No tables yet",
            note=o.notes.get("tables") or "This root holds no Delta table yet.",
            wide=True,
        )
    newest = max(o.tables, key=lambda t: t["last_update"] or o.now.replace(year=1970))
    listing = table(
        ["Table", "Version", "Rows", "Files", "Size", "Updated"],
        [
            [
                f'<a href="#ops" data-show-history="{esc(t["table"])}" '
                f'title="{esc(t["description"])}"><code>{esc(t["table"])}</code></a>',
                esc(t["version"]),
                esc(fmt.number(t["rows"])),
                esc(fmt.number(t["files"])),
                esc(fmt.size(t["size_bytes"])),
                esc(fmt.ago(t["last_update"], o.now)),
            ]
            for t in o.tables
        ],
        "grid small",
    )
    options = "".join(
        f'<option value="{esc(t["table"])}"{" selected" if t is newest else ""}>'
        f"{esc(t['table'])}</option>"
        for t in o.tables
    )
    panels = "".join(
        f'<div class="history" data-history="{esc(t["table"])}"'
        f'{"" if t is newest else " hidden"}><p class="muted">{esc(t["description"])}</p>'
        f"{_history(o.history.get(t['table'], []))}</div>"
        for t in o.tables
    )
    title = (
        f"{len(o.tables)} tables; newest change: {newest['table']} "
        f"v{newest['version']} ({fmt.ago(newest['last_update'], o.now)})"
    )
    if o.unreadable:  # charted as no data on the other pages: here is why
        title = f"{len(o.unreadable)} of {len(o.tables)} tables could not be read: "
        title += ", ".join(o.unreadable)
    return Card(
        "tables",
        title,
        "Every Delta table with its current version; pick one (or click its name) to see its "
        "newest commits with run ids, steps and rows written.",
        html=f'<div class="split"><div class="scroll tall">{listing}</div><div>'
        f'<label class="picker">History of <select id="history-select">{options}</select>'
        f"</label>{panels}</div></div>",
        note="; ".join(f"{t}: {why}" for t, why in o.unreadable.items()) or None,
        wide=True,
    )


def _history(hist: Rows) -> str:
    if not hist:
        return "<p class='muted'>No commits recorded.</p>"
    rows = [
        [
            esc(h["version"]),
            esc(fmt.moment(h["timestamp"])),
            esc(h["operation"]),
            f"<code>{esc(h['run_id'])}</code>",
            esc(h["step"]),
            esc(fmt.number(h["rows_added"])),
            esc(fmt.number(h["rows_updated"])),
            esc(fmt.number(h["rows_deleted"])),
        ]
        for h in hist
    ]
    head = ["Version", "When", "Operation", "Run", "Step", "Added", "Updated", "Deleted"]
    return table(head, rows, "grid small")
