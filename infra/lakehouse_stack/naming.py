"""Physical names that survive a delete-and-redeploy.

Resources the stack RETAINs (buckets, log groups, the key) outlive the stack: a fixed name would
make the next deployment of the same stack fail with "already exists". They either get no
name (CloudFormation generates one) or a name carrying `stack_suffix()`, which differs per
deployment of the stack (a new stack id after a delete) and is stable across updates.
"""

from __future__ import annotations

from aws_cdk import Aws, Fn


def stack_suffix() -> str:
    """The first 8 hex digits of the stack id's GUID
    (`arn:...:stack/Lakehouse-dev/1a2b3c4d-...` -> `1a2b3c4d`): a token, resolved at deploy."""
    return Fn.select(0, Fn.split("-", Fn.select(2, Fn.split("/", Aws.STACK_ID))))
