"""cdk-nag's AWS Solutions rules over every stack of the CDK app: no unsuppressed finding.

Findings are fixed where they can be; the rest are suppressed in the infra code next to the
resource, each with its reason (and IAM5 wildcards one by one, `applies_to`). This test fails
on any error or warning cdk-nag reports, so resources added later are checked too.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from lakehouse.aws.deploy import quiet_jsii

pytestmark = pytest.mark.aws
INFRA = Path(__file__).parents[1] / "infra"


def nag_findings(context: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    """(findings, stack templates) of the app built by `build_app(context)` under
    AwsSolutions."""
    import json

    import aws_cdk as cdk
    from cdk_nag import AwsSolutionsChecks

    quiet_jsii()
    if str(INFRA) not in sys.path:
        sys.path.insert(0, str(INFRA))
    from lakehouse_stack import build_app  # type: ignore[import-not-found,unused-ignore]

    base = json.loads((INFRA / "cdk.json").read_text())["context"]
    app = build_app({**base, **context})
    cdk.Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    assembly = app.synth()
    findings = []
    for stack in assembly.stacks:
        for kind in ("aws:cdk:error", "aws:cdk:warning"):
            for entry in stack.find_metadata_by_type(kind):
                if "AwsSolutions-" in str(entry.data):
                    findings.append(f"{stack.stack_name} {entry.path}: {entry.data}")
    return findings, [s.template for s in assembly.stacks]


@pytest.mark.parametrize(
    "context",
    [
        {"notification_email": "data-ops@example.com"},
        {"env_name": "audit", "cloudtrail_data_events": True},
    ],
    ids=["default", "cloudtrail"],
)
def test_aws_solutions_checks_pass_on_every_stack(context: dict[str, Any]) -> None:
    findings, templates = nag_findings(context)
    assert templates, "the app has no stack"
    assert findings == [], "\n".join(findings)
    # every suppression says why, and an IAM5 one names the exact wildcard it accepts
    suppressions = [
        (rid, rule)
        for t in templates
        for rid, r in t["Resources"].items()
        for rule in r.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
    ]
    assert suppressions
    for rid, rule in suppressions:
        assert len(rule["reason"]) > 60 and "not needed" not in rule["reason"], (rid, rule)
        if rule["id"] == "AwsSolutions-IAM5":
            (applies,) = rule["applies_to"]
            assert applies.startswith("Resource::") and "*" in applies, (rid, rule)
    assert {rule["id"] for _, rule in suppressions} == {"AwsSolutions-S1", "AwsSolutions-IAM5"}
