#!/usr/bin/env python3
"""CDK app entry (`cdk synth` / `cdk deploy STACK` from this folder; parameters in cdk.json).

Stacks: `Lakehouse-<env_name>`, and `LakehouseDeployRole` (the GitHub OIDC deploy role) when
`-c github_repository=OWNER/NAME` is given; see docs/aws.md, "Deploying from GitHub"."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lakehouse_stack import build_app

build_app().synth()
