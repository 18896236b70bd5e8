"""AWS CDK (v2) stack for the lakehouse: `LakehouseStack(app, id, settings=...)`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lakehouse_stack.settings import Settings
from lakehouse_stack.stack import LakehouseStack, exported_definition

__all__ = ["LakehouseStack", "Settings", "build_app", "exported_definition", "stack_name"]


def stack_name(settings: Settings) -> str:
    return f"Lakehouse-{settings.env_name}"


if TYPE_CHECKING:
    import aws_cdk


def build_app(context: dict[str, object] | None = None, outdir: str | None = None) -> aws_cdk.App:
    """The CDK app with the stack, parameters from `context` (cdk.json's, or overrides)."""
    import aws_cdk as cdk

    app = cdk.App(context=context or {}, outdir=outdir)
    settings = Settings.from_context(app.node.try_get_context)
    LakehouseStack(
        app,
        stack_name(settings),
        settings=settings,
        description=f"Lakehouse ({settings.env_name}): S3, Glue, Step Functions, Athena",
    )
    return app
