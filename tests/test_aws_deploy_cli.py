"""`lakehouse deploy`: the real synthesis, the CDK CLI played by a stub that records its arguments
and writes the outputs file `cdk deploy --outputs-file` would, and the next steps printed from
those outputs as data (never as Rich markup)."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lakehouse.aws.next_steps import next_steps, region_of
from lakehouse.cli import app

pytestmark = pytest.mark.aws
INFRA = Path(__file__).parents[1] / "infra"
OUTPUTS = {
    "LandingUri": "s3://lakehouse-dev-landing-1a2b/incoming",
    "StateMachineArn": "arn:aws:states:eu-west-1:123456789012:stateMachine:Pipeline-x1",
    "AthenaWorkGroup": "lakehouse-dev",
    "GlueDatabase": "lakehouse_dev",
    "Dashboard": "lakehouse-dev",
    "NotificationTopic": "arn:aws:sns:eu-west-1:123456789012:"
    + "Lakehouse-dev-NotificationsTopic1A2B3C4D-AbCdEfGhIjKl",
    "LakeBucket": "lakehouse-dev-lake-1a2b",
    "Hostile": "[bold]not markup[/x] \x1b[2J",
}
FAKE_CDK = """
import json, sys
from pathlib import Path
args = sys.argv[1:]
Path(sys.argv[0]).with_suffix(".args.json").write_text(json.dumps(args))
stack = args[1]
outputs = json.loads(Path(sys.argv[0]).with_suffix(".outputs.json").read_text())
assert Path(args[args.index("--app") + 1], stack + ".template.json").is_file()
Path(args[args.index("--outputs-file") + 1]).write_text(json.dumps({stack: outputs}))
sys.exit(int(outputs.get("_exit", 0)))
"""


def fake_cdk(tmp_path: Path, outputs: dict[str, str]) -> tuple[str, Path]:
    script = tmp_path / "fakecdk.py"
    script.write_text(FAKE_CDK)
    script.with_suffix(".outputs.json").write_text(json.dumps(outputs))
    return f"{shlex.quote(sys.executable)} {shlex.quote(str(script))}", script


def test_deploy_runs_the_cdk_cli_and_prints_outputs_and_next_steps(tmp_path: Path) -> None:
    command, script = fake_cdk(tmp_path, OUTPUTS)
    written = tmp_path / "out" / "outputs.json"
    written.parent.mkdir()
    result = CliRunner().invoke(
        app,
        [
            *("deploy", "--infra", str(INFRA), "--cdk", command, "--yes"),
            *("--outputs-file", str(written), "-c", "env_name=dev"),
        ],
    )
    assert result.exit_code == 0, result.output
    args = json.loads(script.with_suffix(".args.json").read_text())
    assert args[:2] == ["deploy", "Lakehouse-dev"]
    assert args[args.index("--outputs-file") + 1] == str(written)
    assert args[-3:] == ["--no-notices", "--require-approval", "never"]
    assert json.loads(written.read_text())["Lakehouse-dev"]["GlueDatabase"] == "lakehouse_dev"
    lines = result.stdout.splitlines()
    assert lines[0] == "Deployed Lakehouse-dev."
    # the key outputs first, then the others by name, every value as written
    rows = [line.split(None, 1) for line in lines[1 : lines.index("Next steps")]]
    assert [r[0] for r in rows] == [
        "LandingUri",
        "StateMachineArn",
        "AthenaWorkGroup",
        "GlueDatabase",
        "Dashboard",
        "NotificationTopic",
        "Hostile",
        "LakeBucket",
    ]
    assert rows[5][1].strip() == OUTPUTS["NotificationTopic"]  # longer than the terminal
    assert rows[6][1].strip() == "[bold]not markup[/x] \\x1b[2J"
    landing = OUTPUTS["LandingUri"]
    assert lines[lines.index("Next steps") + 1 :] == [
        "1. Drop the sample files into landing as one batch (the _SUCCESS marker, last, "
        "completes it and starts one execution)",
        f"   aws s3 cp sample-data/products.xlsx {landing}/first-deploy/products.xlsx",
        f"   aws s3 cp sample-data/orders_2025_04.xlsx {landing}/first-deploy/orders_2025_04.xlsx",
        "   aws s3 cp sample-data/order_items_2025_04.xlsx "
        f"{landing}/first-deploy/order_items_2025_04.xlsx",
        f"   aws s3 cp - {landing}/first-deploy/_SUCCESS < /dev/null",
        "2. Watch the execution (RUNNING, then SUCCEEDED; a Glue run takes a few minutes)",
        f"   aws stepfunctions list-executions --state-machine-arn {OUTPUTS['StateMachineArn']}"
        " --max-results 5",
        "   aws stepfunctions describe-execution --execution-arn <executionArn from the list>",
        "3. Query gold in Athena",
        "   aws athena start-query-execution --work-group lakehouse-dev "
        "--query-execution-context Database=lakehouse_dev "
        "--query-string 'SELECT * FROM gold_sales_daily ORDER BY date DESC LIMIT 10'",
        "   aws athena get-query-results --query-execution-id <QueryExecutionId>",
        "4. See the alarms and runs on the dashboard",
        "   https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1"
        "#dashboards:name=lakehouse-dev",
        "5. Run the end-to-end smoke test (drops a batch, waits, checks silver and gold)",
        "   infra/smoke.sh Lakehouse-dev",
    ]


def test_a_failed_cdk_deploy_fails_the_command(tmp_path: Path) -> None:
    command, _ = fake_cdk(tmp_path, {"_exit": "3"})
    result = CliRunner().invoke(
        app,
        [
            *("deploy", "--infra", str(INFRA), "--cdk", command),
            *("--outputs-file", str(tmp_path / "o.json")),
        ],
    )
    assert result.exit_code != 0
    assert "cdk deploy Lakehouse-dev failed (exit 3)" in str(result.exception)
    assert "Next steps" not in result.stdout


def test_no_cdk_cli(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["deploy", "--infra", str(INFRA), "--cdk", str(tmp_path / "no-such-cdk")]
    )
    assert result.exit_code != 0
    assert "deploy runs the CDK CLI" in str(result.exception)


def test_synth_prints_the_next_steps_with_placeholders(tmp_path: Path) -> None:
    out = tmp_path / "t.json"
    result = CliRunner().invoke(app, ["deploy", "--synth", str(out), "--infra", str(INFRA)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["Resources"]
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Synthesized Lakehouse-dev. Deploy it with `lakehouse deploy`")
    assert "   aws s3 cp - '<LandingUri>/first-deploy/_SUCCESS' < /dev/null" in lines
    assert "   CloudWatch console -> Dashboards -> <Dashboard>" in lines
    assert lines[-1] == "   infra/smoke.sh Lakehouse-dev"


def test_next_steps_quote_what_the_shell_would_split() -> None:
    plan = next_steps("Lakehouse-a b", {"LandingUri": "s3://b/in coming/"})
    drop = plan.steps[0].commands[0]
    assert drop == (
        "aws s3 cp sample-data/products.xlsx 's3://b/in coming/first-deploy/products.xlsx'"
    )
    assert plan.steps[-1].commands == ("infra/smoke.sh 'Lakehouse-a b'",)
    assert region_of({"StateMachineArn": "arn:aws:states:ap-south-1:1:stateMachine:x"}) == (
        "ap-south-1"
    )
    assert region_of({"StateMachineArn": "oops"}) == ""
