#!/usr/bin/env python3
"""CDK app entry (`cdk synth` / `cdk deploy` from this folder; parameters in cdk.json)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lakehouse_stack import build_app

build_app().synth()
