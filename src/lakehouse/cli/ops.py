"""CLI commands for the ops area (`status`, `watch`, `pipeline show|asl`), registered on the main
app by `lakehouse.cli`. Each is a thin wrapper; imports happen inside, so `--help` stays instant.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lakehouse.cli import layout as lo
from lakehouse.cli.options import EngineName, EngineOpt, RootOpt, TableOrJson, lakehouse, out_path

if TYPE_CHECKING:
    from lakehouse.api import Lakehouse
    from lakehouse.config.settings import Settings

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config", help="Settings file (default: $LAKEHOUSE_CONFIG, else ROOT/lakehouse.toml)."
    ),
]


# on a screen: names and values whole, messages cut to fit, then columns left out
RUNS = (
    lo.name("run"),
    lo.value("trigger", drop=1),
    lo.value("status"),
    lo.value("started (UTC)", drop=3),
    lo.value("seconds", drop=2),
    lo.text("error"),
)
FRESHNESS = (
    lo.name("table"),
    lo.value("last load (UTC)", drop=3),
    lo.value("lag min"),
    lo.value("objective min", drop=1),
    lo.value("reject rate"),
    lo.value("limit", drop=2),
)
GOLD = (
    lo.name("gold table"),
    lo.value("as of (UTC)", drop=2),
    lo.value("state"),
    lo.value("behind min"),
    lo.value("budget min", drop=1),
)
ALERTS = (
    lo.name("rule"),
    lo.name("subject"),
    lo.value("severity"),
    lo.value("opened (UTC)", drop=2),
    lo.value("seen", drop=1),
    lo.text("message"),
)
PIPELINE = (
    lo.value("#"),
    lo.name("step"),
    lo.value("attempts", drop=2),
    lo.value("first pause s", drop=1),
    lo.text("what it does"),
)


def _open(
    root: str | None, config: Path | None, *, create: bool = False
) -> tuple[Lakehouse, Settings]:
    from lakehouse.config import loader

    lh = lakehouse(root, create=create)
    return lh, loader.load(lh.root, config)


def _json_default(v: object) -> object:
    if isinstance(v, dt.datetime | dt.date):
        return v.isoformat()
    return str(v)


def status(
    root: RootOpt = None,
    format: Annotated[TableOrJson, typer.Option("--format")] = TableOrJson.table,
    config: ConfigOpt = None,
    limit: Annotated[int, typer.Option(help="How many recent runs to list.", min=1)] = 10,
) -> None:
    """Last runs, freshness per table vs SLA, reject rates, open alerts. Exits 2 on a breach."""
    from lakehouse.contracts import load_contracts
    from lakehouse.monitoring.status import report
    from lakehouse.printable import one_line

    lh, settings = _open(root, config)
    rep = report(lh.root, settings, load_contracts(lh.contracts_dir), limit=limit)
    if format is TableOrJson.json:
        sys.stdout.write(json.dumps(rep.as_dict(), default=_json_default) + "\n")
    else:
        _print_status(rep)
    if not rep.ok:
        sys.stderr.write(f"lakehouse: SLA breached: {one_line('; '.join(rep.breaches))}\n")
        raise typer.Exit(2)


def _print_status(rep: Any) -> None:
    from rich.text import Text

    from lakehouse.cli.console import console, visible

    con = console()
    runs = []
    for r in rep.runs:
        colour = {"SUCCEEDED": "green", "FAILED": "red"}.get(r["status"], "yellow")
        runs.append(
            (
                r["run_id"],
                r["trigger"],
                Text(visible(r["status"]), style=colour),
                f"{r['started_at']:%Y-%m-%d %H:%M:%S}" if r["started_at"] else "",
                f"{r['duration_s']:.2f}" if r["duration_s"] is not None else "",
                r["error"] or "",
            )
        )
    lo.show(con, RUNS, runs, f"recent runs — {rep.root}")
    tables = []
    for t in rep.tables:
        lag = Text(f"{t.lag_minutes:,.1f}", style="" if t.fresh else "red")
        rate = "" if t.reject_rate is None else f"{t.reject_rate:.2%}"
        tables.append(
            (
                t.table,
                f"{t.last_loaded:%Y-%m-%d %H:%M:%S}" if t.last_loaded else "never",
                lag,
                f"{t.freshness_objective_minutes:g}",
                Text(rate, style="" if t.reject_ok else "red"),
                f"{t.max_reject_rate:.2%}",
            )
        )
    lo.show(con, FRESHNESS, tables, "freshness and reject rate vs SLA")
    gold = []
    for g in rep.gold:
        gold.append(
            (
                g.table,
                f"{g.as_of:%Y-%m-%d %H:%M:%S}" if g.as_of else "never",
                Text(g.state, style="red" if not g.within_budget else ""),
                f"{g.staleness_minutes:,.1f}",
                f"{g.budget_minutes:g}",
            )
        )
    if gold:
        lo.show(con, GOLD, gold, "gold models with a staleness budget")
    if rep.alerts:
        alerts = [
            (
                a["rule"],
                a["subject"],
                a["severity"],
                f"{a['opened_at']:%Y-%m-%d %H:%M:%S}",
                str(a["occurrences"]),
                a["message"],
            )
            for a in rep.alerts
        ]
        lo.show(con, ALERTS, alerts, "open alerts")
    con.print(Text("OK: every SLA is met", "green") if rep.ok else Text("SLA breached", "red"))


def watch(
    root: RootOpt = None,
    engine: EngineOpt = EngineName.local,  # checked at parse: each drop's run failed on it
    config: ConfigOpt = None,
) -> None:
    """Process files as they land in landing/ (near real time) until Ctrl-C / SIGTERM."""
    import signal
    import threading

    from lakehouse.orchestration.watch import watch as run_watch

    lh, settings = _open(root, config, create=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    def report(s: Any) -> None:
        sys.stdout.write(
            f"{dt.datetime.now(dt.UTC):%H:%M:%S} run {s.run_id} {s.status}: "
            f"{len(s.files_loaded)} file(s), {s.rows_in:,} rows, "
            f"{s.rows_quarantined:,} quarantined, {s.seconds:.2f} s\n"
        )
        sys.stdout.flush()

    sys.stderr.write(f"watching {lh.root.uri}/landing (Ctrl-C to stop)\n")
    runs = run_watch(
        lh.root,
        settings,
        engine_name=engine.value,
        contracts_dir=lh.contracts_dir,
        stop=stop,
        on_run=report,
    )
    sys.stderr.write(f"stopped after {runs} run(s)\n")


pipeline_app = typer.Typer(
    help="The pipeline definition: show its steps, export it for AWS Step Functions.",
    no_args_is_help=True,
)


@pipeline_app.command("show")
def show() -> None:
    """The steps in order, with parallelism and retry policy."""
    from lakehouse.cli.console import console
    from lakehouse.orchestration.definition import Gate, Parallel, pipeline_definition

    d = pipeline_definition()
    rows = []
    for n, node in enumerate(d.nodes, 1):
        if isinstance(node, Gate):
            rows.append((str(n), f"? {node.name}", "", "", node.description))
            continue
        tasks = [x for b in node.branches for x in b] if isinstance(node, Parallel) else [node]
        for task in tasks:
            prefix = "‖ " if isinstance(node, Parallel) else ""
            p = task.retry
            rows.append(
                (
                    str(n),
                    prefix + task.name,
                    str(p.max_attempts),
                    f"{p.interval_seconds:g}",
                    task.description,
                )
            )
    f = d.on_failure
    rows.append(("!", f.name, str(f.retry.max_attempts), "", f"on failure: {f.description}"))
    lo.show(console(), PIPELINE, rows, f"pipeline {d.name}")


@pipeline_app.command("asl")
def asl(
    out: Annotated[str | None, typer.Option("--out", help="Write here (default stdout).")] = None,
    glue_job: Annotated[
        str, typer.Option(help="Glue job running the steps ('{step}' for one job per step).")
    ] = "${PipelineJobName}",
    lambda_arn: Annotated[
        str | None, typer.Option(help="Run the steps as this Lambda function instead of Glue.")
    ] = None,
    topic_arn: Annotated[
        str, typer.Option(help="SNS topic for the failure notification.")
    ] = "${FailureTopicArn}",
    root: Annotated[str, typer.Option("--root", help="Root the steps process.")] = (
        "${LakehouseRoot}"
    ),
    landing_bucket: Annotated[str, typer.Option(help="Bucket listed by discover.")] = (
        "${LandingBucket}"
    ),
    landing_prefix: Annotated[str, typer.Option(help="Prefix listed by discover.")] = (
        "${LandingPrefix}"
    ),
    whole_run: Annotated[
        bool, typer.Option(help="One task runs every step after the gate (`--step run`).")
    ] = False,
) -> None:
    """The pipeline as Amazon States Language (JSON) for AWS Step Functions. `${...}`
    placeholders are meant for CDK `definitionSubstitutions`."""
    from lakehouse.orchestration import asl as a
    from lakehouse.orchestration.asl_rules import problems

    default = (
        a.lambda_function(lambda_arn, root=root) if lambda_arn else a.glue_job(glue_job, root=root)
    )
    res = a.AslResources(
        failure_topic_arn=topic_arn,
        targets={"discover": a.s3_discover(landing_bucket, landing_prefix)},
        default=default,
        whole_run=whole_run,
    )
    doc = a.state_machine_definition(res)
    found = problems(doc)
    if found:  # a bug in the generator, never the user's doing
        raise RuntimeError("generated ASL is invalid: " + "; ".join(found))
    text = json.dumps(doc, indent=2) + "\n"
    if out is None:
        sys.stdout.write(text)
    else:
        path = out_path(out, example="pipeline.asl.json")
        path.write_text(text)
        sys.stderr.write(f"wrote {path} ({len(doc['States'])} top-level states)\n")


def register(app: typer.Typer) -> None:
    """Add this area's commands to `app`."""
    app.command()(status)
    app.command()(watch)
    app.add_typer(pipeline_app, name="pipeline")
