"""AWS CDK (v2) app for the lakehouse: the stack `Lakehouse-<env_name>` and, when the context
names a GitHub repository, the stack of its OIDC deploy role (`LakehouseDeployRole`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lakehouse_stack.deploy_role import STACK_NAME as DEPLOY_ROLE_STACK
from lakehouse_stack.deploy_role import DeployRoleSettings, DeployRoleStack
from lakehouse_stack.settings import Settings
from lakehouse_stack.stack import LakehouseStack, exported_definition

__all__ = [
    "DEPLOY_ROLE_STACK",
    "DeployRoleStack",
    "LakehouseStack",
    "Settings",
    "build_app",
    "exported_definition",
    "stack_name",
]


def stack_name(settings: Settings) -> str:
    return f"Lakehouse-{settings.env_name}"


if TYPE_CHECKING:
    import aws_cdk


def build_app(context: dict[str, object] | None = None, outdir: str | None = None) -> aws_cdk.App:
    """The CDK app with the stack, parameters from `context` (cdk.json's, or overrides); with
    `github_repository=OWNER/NAME` also the deploy role's stack (see deploy_role.py)."""
    import aws_cdk as cdk

    app = cdk.App(context=context or {}, outdir=outdir)
    settings = Settings.from_context(app.node.try_get_context)
    LakehouseStack(
        app,
        stack_name(settings),
        settings=settings,
        description=f"Lakehouse ({settings.env_name}): S3, Glue, Step Functions, Athena",
    )
    deploy_role = DeployRoleSettings.from_context(app.node.try_get_context, settings.env_name)
    if deploy_role is not None:
        DeployRoleStack(
            app,
            DEPLOY_ROLE_STACK,
            settings=deploy_role,
            description=f"GitHub OIDC deploy role for {deploy_role.repository}",
        )
    return app
