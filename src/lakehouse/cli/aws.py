"""CLI commands for the aws area (`catalog sync|ddl`, `deploy`), registered on the main app by
`lakehouse.cli`. Each is a thin wrapper; boto3 and aws_cdk are imported inside, so `--help`
stays instant."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from lakehouse.cli.options import RootOpt, TableOrJson, lakehouse, out_path

if TYPE_CHECKING:
    from lakehouse.aws.next_steps import NextSteps

catalog_app = typer.Typer(
    no_args_is_help=True, help="Publish the tables to a data catalog (AWS Glue, Athena DDL)."
)
DatabaseOpt = Annotated[
    str,
    typer.Option("--database", help="Glue/Athena database.", envvar="LAKEHOUSE_GLUE_DATABASE"),
]


class Dialect(StrEnum):
    athena = "athena"


@catalog_app.command("sync")
def catalog_sync(
    glue: Annotated[bool, typer.Option("--glue", help="Sync the AWS Glue Data Catalog.")] = False,
    database: DatabaseOpt = "lakehouse",
    root: RootOpt = None,
    gold: Annotated[bool, typer.Option(help="Include the gold tables written so far.")] = True,
    format: Annotated[TableOrJson, typer.Option("--format")] = TableOrJson.table,
) -> None:
    """Create or update one catalog table per silver and gold table.

    Idempotent: a second sync changes nothing. A column the contract dropped stays in the
    catalog and is reported as drift."""
    from lakehouse.aws import glue_catalog as gc
    from lakehouse.aws.glue_sync import sync
    from lakehouse.errors import TerminalError

    if not glue:
        raise TerminalError("choose the catalog to sync: --glue (the only one so far)")
    lh = lakehouse(root)
    plan = gc.catalog_tables(lh.root, lh.contracts_dir, gold=gold)
    report = sync(plan.tables, database)
    report.skipped += plan.skipped
    if format is TableOrJson.json:
        sys.stdout.write(json.dumps(report.__dict__ | {"changed": report.changed}) + "\n")
        return
    for line in report.lines():
        sys.stdout.write(line + "\n")


@catalog_app.command("ddl")
def catalog_ddl(
    dialect: Annotated[Dialect, typer.Option("--dialect", help="SQL dialect.")] = Dialect.athena,
    database: DatabaseOpt = "lakehouse",
    root: RootOpt = None,
    out: Annotated[str | None, typer.Option("--out", help="Write here (default stdout).")] = None,
) -> None:
    """DDL for the tables (Delta, at the root's location) and the gold models as views."""
    from lakehouse.aws.athena import athena_ddl
    from lakehouse.aws.glue_catalog import ddl_tables

    lh = lakehouse(root)
    script = athena_ddl(ddl_tables(lh.root, lh.contracts_dir), database, lh.contracts)
    if out is None:
        sys.stdout.write(script)
    else:
        path = out_path(out, example="lakehouse.sql")
        path.write_text(script, encoding="utf-8")
        sys.stderr.write(f"wrote {path}\n")


def deploy(
    synth: Annotated[
        Path | None,
        typer.Option(
            "--synth",
            help="Only synthesize: the CloudFormation template (OUT.json) or the cloud "
            "assembly (folder).",
        ),
    ] = None,
    context: Annotated[
        list[str] | None,
        typer.Option("--context", "-c", help="Override a cdk.json context value: key=value."),
    ] = None,
    infra: Annotated[
        Path | None, typer.Option("--infra", help="The CDK app folder (default: ./infra).")
    ] = None,
    cdk: Annotated[
        str | None,
        typer.Option(
            "--cdk",
            help="The CDK CLI command (default: npx --yes aws-cdk@2).",
            envvar="LAKEHOUSE_CDK",
        ),
    ] = None,
    outputs_file: Annotated[
        Path,
        typer.Option("--outputs-file", help="Where the deployed stack's outputs are written."),
    ] = Path("cdk-outputs.json"),
    yes: Annotated[
        bool,
        typer.Option("--yes", help="Deploy without asking to approve IAM changes (CI)."),
    ] = False,
) -> None:
    """Deploy the AWS stack with the CDK CLI (or only synthesize it with --synth), then print
    the stack's outputs and the next steps (docs/aws.md, "First deploy")."""
    from lakehouse.aws import deploy as d
    from lakehouse.aws.next_steps import next_steps

    overrides = d.parse_overrides(context or [])
    if synth is not None:
        done = d.synth(synth, infra=infra, context=overrides)
        where = f" (cloud assembly in {done.assembly})" if done.assembly else ""
        sys.stderr.write(f"stack {done.stack}: wrote {done.template}{where}\n")
        print_next_steps(next_steps(done.stack, None), deployed=False)
        return
    extra = ["--require-approval", "never"] if yes else []
    stack, outputs = d.deploy(
        infra=infra, context=overrides, outputs_file=outputs_file, cdk=cdk, extra_args=extra
    )
    print_next_steps(next_steps(stack, outputs), deployed=True)


def print_next_steps(plan: NextSteps, *, deployed: bool) -> None:
    """The outputs and the next commands, on stdout; every value printed as data."""
    from rich.text import Text

    from lakehouse.cli.console import console, visible

    out = console()
    if deployed:
        out.print(Text(f"Deployed {visible(plan.stack)}.", style="bold green"), soft_wrap=True)
        width = max((len(name) for name, _ in plan.outputs), default=0)
        for name, value in plan.outputs:  # one line each: long ARNs stay whole to copy
            out.print(f"  {name:<{width}}  {value}", soft_wrap=True)
    else:
        out.print(
            f"Synthesized {plan.stack}. Deploy it with `lakehouse deploy` (or `npx aws-cdk@2 "
            "deploy`); the commands below then take the stack's outputs in place of <Name>.",
            soft_wrap=True,
        )
    out.print(Text("Next steps", style="bold"), soft_wrap=True)
    for n, step in enumerate(plan.steps, 1):
        out.print(f"{n}. {step.title}", soft_wrap=True)
        for command in step.commands:
            out.print(f"   {command}", soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add this area's commands to `app`."""
    app.add_typer(catalog_app, name="catalog")
    app.command()(deploy)
