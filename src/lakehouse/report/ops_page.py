"""The operations page: tiles, runs, freshness against SLA, alerts, gold freshness against the
staleness budgets; quarantine and tables come from `ops_detail`."""

from __future__ import annotations

from lakehouse.report import fmt, theme
from lakehouse.report.cards import Card, Chart, Page
from lakehouse.report.charts import figure
from lakehouse.report.data import Rows
from lakehouse.report.markup import badge, esc, status_badge, table
from lakehouse.report.ops_data import Operations
from lakehouse.report.ops_detail import quarantine_card, tables_card


def tiles(o: Operations) -> str:
    last = o.runs[0] if o.runs else None
    ok = sum(1 for r in o.runs if r["status"] == "SUCCEEDED")
    # silver past its freshness objective, and gold past its staleness budget
    stale = [f for f in o.freshness if not f["fresh"]]
    stale += [g for g in o.gold if g["state"] == "past budget"]
    open_alerts = [a for a in o.alerts if a["status"] == "open"]
    quarantined = sum(o.quarantine_rows.values())
    items = [
        (
            "Last run",
            status_badge(last["status"]) if last else "none yet",
            f"{fmt.ago(last['started_at'], o.now)} · {fmt.duration(last['duration_s'])}"
            if last
            else "run `lakehouse run`",
            "last-run",
        ),
        ("Recent runs succeeded", f"{ok} of {len(o.runs)}", f"last {len(o.runs)} runs", "runs-ok"),
        (
            "Stale tables",
            badge(str(len(stale)), "bad")
            if stale
            else "0"
            if o.runs
            else badge("none loaded", "bad"),
            f"of {len(o.freshness) + len(o.gold)} with a freshness objective or budget"
            if o.runs
            else "nothing loaded yet",
            "stale",
        ),
        (
            "Open alerts",
            badge(str(len(open_alerts)), "warn") if open_alerts else "0",
            "from _ops.alerts",
            "open-alerts",
        ),
        (
            "Rows in quarantine",
            fmt.number(quarantined),
            f"{len(o.rejected_files)} files rejected",
            "quarantined",
        ),
    ]
    return (
        '<div class="tiles">'
        + "".join(
            f'<div class="tile" data-tile="{t}"><div class="tile-label">{esc(label)}</div>'
            f'<div class="tile-value">{value}</div><div class="tile-sub">{esc(sub)}</div></div>'
            for label, value, sub, t in items
        )
        + "</div>"
    )


def runs_card(o: Operations) -> Card:
    if not o.runs:
        return Card(
            "runs",
            "No runs yet",
            note=o.notes.get("runs")
            or "_ops.runs is empty: no pipeline run has been recorded under this root.",
            wide=True,
        )
    runs = list(reversed(o.runs))
    bar = {
        "type": "bar",
        "x": [r["run_id"] for r in runs],
        "y": [r["duration_s"] or 0 for r in runs],
        "marker": {"color": [theme.STATUS.get(r["status"], theme.GREY) for r in runs]},
        "text": [r["status"].lower() for r in runs],
        "textposition": "auto",
        "customdata": [
            [
                fmt.moment(r["started_at"]),
                r["rows_in"] or 0,
                r["rows_quarantined"] or 0,
                (r["error"] or "")[:120],
            ]
            for r in runs
        ],
        "hovertemplate": "%{x}<br>%{customdata[0]} · %{y:.1f} s<br>%{customdata[1]:,} rows in, "
        "%{customdata[2]:,} quarantined<br>%{customdata[3]}<extra></extra>",
    }
    fig = figure(
        [bar],
        {
            "xaxis": {
                "type": "category",
                "showticklabels": False,
                "range": [-0.5, max(len(runs), 10) - 0.5],
            },
            "yaxis": {"title": {"text": "Duration (s)"}},
            "margin": {"b": 16},
            "showlegend": False,
        },
        height=220,
    )
    rows = [
        [
            f"<code>{esc(r['run_id'])}</code>",
            esc(r["trigger"]),
            status_badge(r["status"]),
            esc(fmt.moment(r["started_at"])),
            esc(fmt.duration(r["duration_s"])),
            esc(fmt.number(r["rows_in"])),
            esc(fmt.number(r["rows_valid"])),
            esc(fmt.number(r["rows_quarantined"])),
            esc(fmt.number(r["files"])),
            f'<span class="error">{esc(r["error"])}</span>' if r["error"] else "",
        ]
        for r in o.runs[:10]
    ]
    last = o.runs[0]
    ok = sum(1 for r in o.runs if r["status"] == "SUCCEEDED")
    title = (
        f"Last run {last['status'].lower()} in {fmt.duration(last['duration_s'])}; "
        f"{ok} of {len(o.runs)} recent runs succeeded"
    )
    return Card(
        "runs",
        title,
        "Duration per run, oldest to newest (blue: succeeded, orange: running, vermillion: "
        "failed; hover for details); the ten newest below.",
        Chart({"": fig}, height=220),
        html=table(
            [
                "Run",
                "Trigger",
                "Status",
                "Started",
                "Duration",
                "Rows in",
                "Valid",
                "Quarantined",
                "Files",
                "Error",
            ],
            rows,
            "grid",
        ),
        wide=True,
    )


def freshness_card(o: Operations) -> Card:
    if not o.freshness:
        return Card(
            "freshness",
            "Freshness: nothing to judge yet",
            note=o.notes.get("freshness") or "No table has a freshness objective yet.",
        )
    rows = list(reversed(o.freshness))
    ratio = [
        (f["lag_minutes"] / f["objective_minutes"]) if f["objective_minutes"] else 0 for f in rows
    ]
    bar = {
        "type": "bar",
        "orientation": "h",
        "y": [f["table"] for f in rows],
        "x": ratio,
        "marker": {"color": [theme.BLUE if f["fresh"] else theme.VERMILLION for f in rows]},
        "text": [
            f"{fmt.duration(f['lag_minutes'] * 60)} of {fmt.duration(f['objective_minutes'] * 60)}"
            for f in rows
        ],
        "textposition": "auto",
        "hovertemplate": "%{y}: %{x:.0%} of its freshness objective used<extra></extra>",
    }
    fig = figure(
        [bar],
        {
            "xaxis": {
                "tickformat": ".0%",
                "range": [0, max(1.1, max(ratio) * 1.1)],
                "title": {"text": "Time since data last arrived, share of the objective"},
            },
            "shapes": [
                {
                    "type": "line",
                    "x0": 1,
                    "x1": 1,
                    "y0": -0.5,
                    "y1": len(rows) - 0.5,
                    "line": {"color": theme.VERMILLION, "dash": "dash", "width": 2},
                }
            ],
            "showlegend": False,
        },
        height=max(200, 40 * len(rows) + 90),
    )
    stale = [f for f in o.freshness if not f["fresh"]]
    title = (
        f"All {len(o.freshness)} silver tables are within their freshness objective"
        if not stale
        else f"{len(stale)} of {len(o.freshness)} tables are stale: "
        + ", ".join(f["table"] for f in stale)
    )
    if not o.runs and "runs" not in o.notes:  # nothing was ever loaded: nothing is fresh
        title = "No run has loaded data under this root yet: no table is fresh"
    body = [
        [
            esc(f["table"]),
            f'<span title="last load {esc(fmt.moment(f["last_loaded"]))}">'
            f"{esc(fmt.duration(f['lag_minutes'] * 60))} / "
            f"{esc(fmt.duration(f['objective_minutes'] * 60))}</span>",
            badge("fresh", "ok") if f["fresh"] else badge("stale", "bad"),
            f"{esc(fmt.pct(f['reject_rate']))} / {esc(fmt.pct(f['max_reject_rate']))}",
            badge("ok", "ok") if f["reject_ok"] else badge("over", "bad"),
        ]
        for f in o.freshness
    ]
    return Card(
        "freshness",
        title,
        f"Measured at {fmt.moment(o.now)} (dashed line: the objective).",
        Chart({"": fig}, height=max(200, 40 * len(rows) + 90)),
        html=table(
            ["Table", "Since data / objective", "", "Rejected / limit", ""],
            body,
            "grid",
        ),
    )


def alerts_card(o: Operations) -> Card:
    open_alerts = [a for a in o.alerts if a["status"] == "open"]
    if "alerts" in o.notes:
        return Card("alerts", "Alerts could not be read", note=o.notes["alerts"])
    if not o.alerts:
        return Card(
            "alerts",
            "No alerts",
            "From _ops.alerts: freshness, reject rate, run duration and failed runs.",
            html=f"<p>{badge('all clear', 'ok')} No alert has been raised under this root.</p>",
        )
    rows = [
        [
            badge(a["severity"], "bad" if a["severity"] == "critical" else "warn")
            if a["status"] == "open"
            else badge("resolved", "ok"),
            f"<b>{esc(a['rule'])}</b> {esc(a['subject'])}<br>"
            f'<span class="muted">{esc(a["message"])}</span>',
            esc(fmt.moment(a["opened_at"]))
            + (f"<br>resolved {esc(fmt.moment(a['resolved_at']))}" if a["resolved_at"] else ""),
            esc(fmt.number(a["occurrences"])),
        ]
        for a in o.alerts
    ]
    title = (
        f"{len(open_alerts)} open alert{'s' if len(open_alerts) != 1 else ''}: "
        + ", ".join(f"{a['rule']} {a['subject']}" for a in open_alerts[:3])
        if open_alerts
        else "No open alerts"
    )
    return Card(
        "alerts",
        title,
        "Open alerts first, then recently resolved ones (from _ops.alerts).",
        html=f'<div class="scroll tall">{table(["", "Alert", "Opened", "Seen"], rows)}</div>',
    )


#: how each gold state looks (the served page's script draws the same from `/api/state`)
GOLD_LOOK = {"current": "ok", "behind": "info", "past budget": "bad"}


def gold_title(rows: Rows) -> str:
    """The finding of the gold freshness card (the page's script writes the same when live)."""
    past = [g["table"] for g in rows if g["state"] == "past budget"]
    behind = [g for g in rows if g["state"] == "behind"]
    if past:
        more = f" and {len(past) - 3} more" if len(past) > 3 else ""
        return (
            f"Gold freshness: {len(past)} of {len(rows)} budget models are past their "
            f"staleness budget: {', '.join(past[:3])}{more}"
        )
    if behind:
        return (
            f"Gold freshness: {len(behind)} of {len(rows)} budget models are behind silver, "
            "within their budget"
        )
    return f"Gold freshness: all {len(rows)} budget models are current"


def budget_minutes(value: float) -> str:
    """A budget in minutes: '15', '7.5'."""
    return fmt.number(value, 0 if float(value).is_integer() else 1)


def gold_card(o: Operations) -> Card:
    """Each gold model with a staleness budget: as of, state, minutes behind, budget; on the
    served page the rows follow `/api/state` (its `gold` map) between reloads."""
    n = len(o.gold_every_run)
    every_run = (
        f'<p class="muted" id="gold-every-run">Every-run models ({n}, not listed) are rebuilt '
        "by each run that changes what they read: current when a run ends.</p>"
        if n
        else ""
    )
    if "gold" in o.notes:
        return Card("gold-freshness", "Gold freshness could not be read", note=o.notes["gold"])
    if not o.gold:
        return Card(
            "gold-freshness", "Gold freshness: no model has a staleness budget", html=every_run
        )
    if all(g["as_of"] is None for g in o.gold):
        return Card(
            "gold-freshness",
            "Gold freshness: no gold build yet",
            note="_ops.gold_builds is empty: `lakehouse run` builds gold once silver is loaded.",
        )
    rows = [
        [
            f"<code>{esc(g['table'])}</code>",
            esc(fmt.moment(g["as_of"]) if g["as_of"] else "never"),
            badge(g["state"], GOLD_LOOK[g["state"]]),
            esc(fmt.number(g["staleness_minutes"], 1)),
            esc(budget_minutes(g["budget_minutes"])),
        ]
        for g in o.gold
    ]
    return Card(
        "gold-freshness",
        gold_title(o.gold),
        "Gold models with a staleness budget: as of the last build at which each was current, "
        "and how long it has been behind silver since; past its budget is an SLA breach "
        "([gold] staleness_minutes).",
        html=table(
            ["Model", "As of", "State", "Minutes behind", "Budget (min)"],
            rows,
            "grid",
            keys=[g["table"] for g in o.gold],
        )
        + every_run,
        wide=True,
    )


def ops_page(o: Operations) -> Page:
    cards = [
        runs_card(o),
        freshness_card(o),
        alerts_card(o),
        gold_card(o),
        quarantine_card(o),
        tables_card(o),
    ]
    return Page("ops", "Operations", cards, intro=tiles(o))
