"""What to do after `lakehouse deploy`: the stack outputs that matter and the commands to try the
deployed pipeline (drop a file, watch the execution, query gold in Athena, run the smoke test).

Pure: from the stack name and its outputs (None after `--synth`, when nothing is deployed yet:
the commands then name each output as `<OutputName>`). The CLI prints it as data, never markup.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass

# the outputs a user needs next, in this order; any other output is listed after them
KEY_OUTPUTS = (
    "LandingUri",
    "StateMachineArn",
    "AthenaWorkGroup",
    "GlueDatabase",
    "Dashboard",
    "AnalystRoleArn",
    "LakehouseRoot",
    "NotificationTopic",
)
SAMPLE_FILES = ("products.xlsx", "orders_2025_04.xlsx", "order_items_2025_04.xlsx")
GOLD_QUERY = "SELECT * FROM gold_sales_daily ORDER BY date DESC LIMIT 10"


@dataclass(frozen=True)
class Step:
    title: str
    commands: tuple[str, ...]


@dataclass(frozen=True)
class NextSteps:
    stack: str
    outputs: tuple[tuple[str, str], ...]  # (name, value), the key outputs first
    steps: tuple[Step, ...]


def region_of(outputs: Mapping[str, str]) -> str:
    """The region, from the state machine's ARN (arn:aws:states:REGION:ACCOUNT:...)."""
    parts = outputs.get("StateMachineArn", "").split(":")
    return parts[3] if len(parts) > 3 and parts[2] == "states" else ""


def next_steps(stack: str, outputs: Mapping[str, str] | None) -> NextSteps:
    known = dict(outputs or {})

    def out(name: str) -> str:
        return known.get(name) or f"<{name}>"

    listed = [(k, known[k]) for k in KEY_OUTPUTS if k in known]
    listed += sorted((k, v) for k, v in known.items() if k not in KEY_OUTPUTS)
    landing = out("LandingUri").rstrip("/")
    batch = f"{landing}/first-deploy"
    q = shlex.quote
    region = region_of(known)
    dashboard = (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#dashboards:name={known['Dashboard']}"
        if region and "Dashboard" in known
        else f"CloudWatch console -> Dashboards -> {out('Dashboard')}"
    )
    steps = (
        Step(
            "Drop the sample files into landing as one batch (the _SUCCESS marker, last, "
            "completes it and starts one execution)",
            (
                *(f"aws s3 cp sample-data/{f} {q(f'{batch}/{f}')}" for f in SAMPLE_FILES),
                f"aws s3 cp - {q(f'{batch}/_SUCCESS')} < /dev/null",
            ),
        ),
        Step(
            "Watch the execution (RUNNING, then SUCCEEDED; a Glue run takes a few minutes)",
            (
                f"aws stepfunctions list-executions --state-machine-arn {q(out('StateMachineArn'))}"
                " --max-results 5",
                "aws stepfunctions describe-execution --execution-arn <executionArn from the list>",
            ),
        ),
        Step(
            "Query gold in Athena",
            (
                f"aws athena start-query-execution --work-group {q(out('AthenaWorkGroup'))}"
                f" --query-execution-context Database={q(out('GlueDatabase'))}"
                f" --query-string {q(GOLD_QUERY)}",
                "aws athena get-query-results --query-execution-id <QueryExecutionId>",
            ),
        ),
        Step("See the alarms and runs on the dashboard", (dashboard,)),
        Step(
            "Run the end-to-end smoke test (drops a batch, waits, checks silver and gold)",
            (f"infra/smoke.sh {q(stack)}",),
        ),
    )
    return NextSteps(stack, tuple(listed), steps)
