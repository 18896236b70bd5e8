"""The data docs page: one self-contained HTML file (no CDN, no fetch), searchable offline.

Every name, description, check and SQL text is data: it is escaped with the report's `esc`
(HTML text and attribute values alike) and never reaches a script. The page embeds no JSON;
its script only reads the `data-search` attributes and toggles `hidden`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from lakehouse.datadocs.collect import ColumnDoc, Docs, TableDoc
from lakehouse.report.markup import badge, esc

ZONES = (
    ("landing", "Landing", "Files as producers deliver them (named by the contracts' patterns)."),
    ("bronze", "Bronze", "Every received row, values as text, with where it came from."),
    ("silver", "Silver", "Typed, validated, one row per key: what analyses read."),
    ("quarantine", "Quarantine", "Rejected rows with every reason, waiting or kept for review."),
    ("gold", "Gold", "Analytics tables computed by the gold models (SQL below each)."),
)

CSS = """
:root{--fg:#1d2433;--muted:#5b6478;--line:#d9dee8;--bg:#f6f7fb;--card:#fff;--acc:#2456c7}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,sans-serif;color:var(--fg);
background:var(--bg)}header.top{position:sticky;top:0;z-index:2;background:var(--card);
border-bottom:1px solid var(--line);padding:10px 20px;display:flex;gap:16px;align-items:center;
flex-wrap:wrap}header.top h1{font-size:18px;margin:0}#filter{flex:1;min-width:240px;
padding:7px 10px;border:1px solid var(--line);border-radius:6px;font:inherit}
#count{color:var(--muted)}main{padding:12px 20px 40px;max-width:1400px}
h2{margin:24px 0 4px}.zone-note{color:var(--muted);margin:0 0 10px}
section.tbl{background:var(--card);border:1px solid var(--line);border-radius:8px;
margin:10px 0;padding:12px 16px}section.tbl h3{margin:0 0 4px;font-size:16px}
.kind{font-size:12px;color:var(--muted);font-weight:normal}.facts{display:flex;flex-wrap:wrap;
gap:4px 18px;color:var(--muted);margin:6px 0}.facts b{color:var(--fg);font-weight:600}
table.cols{border-collapse:collapse;width:100%;margin-top:8px}table.cols th,table.cols td{
border-top:1px solid var(--line);padding:4px 6px;text-align:left;vertical-align:top}
table.cols th{font-size:12px;color:var(--muted)}td.name{font-family:ui-monospace,monospace;
white-space:nowrap}ul.refs{margin:0;padding-left:16px;font-family:ui-monospace,monospace;
font-size:12px}details{margin-top:6px}pre.sql{background:#f3f4f8;padding:10px;overflow:auto;
max-height:420px;font-size:12px}.badge{display:inline-block;padding:0 6px;border-radius:9px;
font-size:12px}.badge.ok{background:#e3f4e8;color:#17653a}.badge.bad{background:#fbe4e4;
color:#9b1c1c}.badge.warn{background:#fff3d6;color:#7a5200}.badge.info{background:#e8eefc;
color:#1f3f8f}.lineage{display:flex;gap:24px;flex-wrap:wrap}.lineage div{min-width:220px}
[hidden]{display:none!important}
"""

JS = """
(function () {
  var box = document.getElementById('filter');
  var count = document.getElementById('count');
  function apply() {
    var words = box.value.toLowerCase().split(/\\s+/).filter(Boolean);
    var shown = 0;
    document.querySelectorAll('section.tbl').forEach(function (t) {
      var own = t.getAttribute('data-search');
      var rows = t.querySelectorAll('tr[data-search]');
      var any = false;
      rows.forEach(function (r) {
        var text = own + ' ' + r.getAttribute('data-search');
        var hit = words.every(function (w) { return text.indexOf(w) >= 0; });
        r.hidden = !hit;
        any = any || hit;
      });
      var tableHit = words.every(function (w) { return own.indexOf(w) >= 0; });
      if (tableHit) { rows.forEach(function (r) { r.hidden = false; }); }
      t.hidden = !(tableHit || any);
      if (!t.hidden) { shown += 1; }
    });
    document.querySelectorAll('section.zone').forEach(function (z) {
      z.hidden = z.querySelectorAll('section.tbl:not([hidden])').length === 0;
    });
    count.textContent = shown + ' table' + (shown === 1 ? '' : 's');
  }
  box.addEventListener('input', apply);
  var hash = decodeURIComponent(location.hash.slice(1));
  if (hash) { box.value = hash; }
  apply();
  document.body.setAttribute('data-ready', 'true');
})();
"""


def write(docs: Docs, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(docs), encoding="utf-8")
    return out


def render(docs: Docs) -> str:
    zones = []
    for zone, title, note in ZONES:
        tables = [t for t in docs.tables if t.zone == zone]
        if not tables:
            continue
        zones.append(
            f'<section class="zone" id="zone-{esc(zone)}"><h2>{esc(title)}</h2>'
            f'<p class="zone-note">{esc(note)}</p>{"".join(_table(t) for t in tables)}</section>'
        )
    when = f"{docs.generated_at:%Y-%m-%d %H:%M} UTC"
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        "<meta http-equiv=Content-Security-Policy "
        "content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'\">"
        f"<title>lakehouse data docs — {esc(docs.root)}</title><style>{CSS}</style></head><body>"
        f'<header class="top"><h1>Data docs</h1><input id="filter" type="search" '
        f'placeholder="Filter tables and columns (name, description, upstream table...)" '
        f'aria-label="Filter"><span id="count"></span>'
        f'<span class="kind">{esc(docs.root)} · generated {esc(when)}</span></header>'
        f"<main>{''.join(zones)}</main><script>{JS}</script></body></html>"
    )


def _table(t: TableDoc) -> str:
    facts = [("grain", t.grain), ("key", t.key)]
    if t.partition_by:
        facts.append(("partitioned by", ", ".join(t.partition_by)))
    if t.refresh:
        facts.append(("refresh", t.refresh))
    if t.kind == "ephemeral":
        facts.append(("stored", "no: inlined where it is read"))
    elif t.zone != "landing":
        facts += [
            ("rows", "—" if t.rows is None else f"{t.rows:,}"),
            ("Delta version", "—" if t.version is None else str(t.version)),
            ("last update", _when(t.last_update)),
        ]
    fact_html = "".join(f"<span>{esc(k)} <b>{esc(v)}</b></span>" for k, v in facts if v)
    health = _health(t)
    lineage = (
        '<div class="lineage">'
        f"<div><b>Reads</b>{_refs(t.reads) or ' <i>nothing: files</i>'}</div>"
        f"<div><b>Feeds</b>{_refs(t.feeds) or ' <i>nothing yet</i>'}</div></div>"
    )
    sql = (
        f'<details><summary>SQL of the model</summary><pre class="sql"><code>{esc(t.sql)}'
        "</code></pre></details>"
        if t.sql
        else ""
    )
    search = " ".join([t.name, t.description, t.grain, t.key, *t.reads, *t.feeds]).lower()
    rows = "".join(_column(t, c) for c in t.columns)
    return (
        f'<section class="tbl" id="{esc(t.name)}" data-table="{esc(t.name)}" '
        f'data-search="{esc(search)}"><h3>{esc(t.name)} <span class="kind">{esc(t.kind)}'
        f"</span></h3><p>{esc(t.description)}</p><div class=facts>{fact_html}{health}</div>"
        f"{lineage}{sql}"
        '<table class="cols"><thead><tr><th>column</th><th>type</th><th>required</th>'
        "<th>checks</th><th>description</th><th>comes from</th><th>feeds</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></section>"
    )


def _column(t: TableDoc, c: ColumnDoc) -> str:
    required = "" if c.required is None else ("yes" if c.required else "no")
    upstream = (
        f"<details><summary>all upstream ({len(c.upstream)})</summary>{_refs(c.upstream)}</details>"
        if c.upstream
        else ""
    )
    downstream = (
        f"<details><summary>{c.downstream_columns} columns of {len(c.downstream)} tables"
        f"</summary>{_refs(c.downstream)}</details>"
        if c.downstream
        else ""
    )
    search = " ".join([c.name, c.type, c.description, *c.checks, *c.sources, *c.upstream]).lower()
    return (
        f'<tr data-column="{esc(c.name)}" data-search="{esc(search)}">'
        f'<td class="name">{esc(c.name)}</td><td>{esc(c.type)}</td><td>{esc(required)}</td>'
        f"<td>{esc('; '.join(c.checks))}</td><td>{esc(c.description)}</td>"
        f'<td class="upstream">{_refs(c.sources)}{upstream}</td>'
        f'<td class="downstream">{downstream}</td></tr>'
    )


def _refs(names: list[str]) -> str:
    if not names:
        return ""
    return '<ul class="refs">' + "".join(f"<li>{esc(n)}</li>" for n in names) + "</ul>"


def _health(t: TableDoc) -> str:
    parts = []
    if t.freshness_minutes is not None and t.staleness_minutes is not None:
        text = (
            f"staleness {t.staleness_minutes:,.0f} min of {t.freshness_minutes:,.0f} min "
            "objective" + (f" (from {t.freshness_from})" if t.freshness_from else "")
        )
        parts.append(badge(text, "ok" if t.fresh else "bad"))
    if t.reject_rate is not None and t.max_reject_rate is not None:
        text = f"reject rate {t.reject_rate:.1%} (limit {t.max_reject_rate:.1%})"
        parts.append(badge(text, "ok" if t.reject_rate <= t.max_reject_rate else "warn"))
    return "".join(f"<span>{p}</span>" for p in parts)


def _when(moment: dt.datetime | None) -> str:
    return "—" if moment is None else f"{moment:%Y-%m-%d %H:%M} UTC"
