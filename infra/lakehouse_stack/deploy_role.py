"""The role GitHub Actions deploys with: `LakehouseDeployRole`, its own stack, once per account
and region, synthesized only when the context names the repository (`github_repository`).

- Trust: only tokens of GitHub's OIDC provider (`token.actions.githubusercontent.com`) whose
  audience is `sts.amazonaws.com` and whose subject is one of the repository's protected
  environments, exactly (`repo:OWNER/NAME:environment:ENV`, `StringEquals`: no wildcard, so no
  other repository, branch, tag, pull request or environment matches). Sessions last 1 h at most.
- Permissions: `sts:AssumeRole` on the four CDK bootstrap roles the CDK CLI uses (deploy,
  file publishing, image publishing, lookup) of this account and region, nothing else. The
  deployment itself is done by those roles and by the bootstrap's CloudFormation execution
  role, which this role can neither assume nor pass (see docs/aws.md, "Deploying from GitHub").

An account has one OIDC provider per URL: the stack creates it, or imports the existing one by
ARN (`github_oidc_provider_arn`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from aws_cdk import CfnOutput, DefaultStackSynthesizer, Duration, Fn, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

STACK_NAME = "LakehouseDeployRole"
GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
GITHUB_OIDC_URL = f"https://{GITHUB_OIDC_HOST}"
AUDIENCE = "sts.amazonaws.com"
QUALIFIER_CONTEXT = "@aws-cdk/core:bootstrapQualifier"  # the synthesizer reads the same key
MAX_SESSION = Duration.hours(1)

# the role ARNs the CDK CLI assumes, as the default synthesizer names them (`${Qualifier}`,
# `${AWS::AccountId}`, `${AWS::Region}` and `${AWS::Partition}` are filled in by Fn::Sub)
BOOTSTRAP_ROLE_ARNS = {
    "deploy": DefaultStackSynthesizer.DEFAULT_DEPLOY_ROLE_ARN,
    "file-publishing": DefaultStackSynthesizer.DEFAULT_FILE_ASSET_PUBLISHING_ROLE_ARN,
    "image-publishing": DefaultStackSynthesizer.DEFAULT_IMAGE_ASSET_PUBLISHING_ROLE_ARN,
    "lookup": DefaultStackSynthesizer.DEFAULT_LOOKUP_ROLE_ARN,
}

_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_QUALIFIER = re.compile(r"^[A-Za-z0-9_-]{1,10}$")  # the bootstrap template's AllowedPattern
_PROVIDER_ARN = re.compile(
    rf"^arn:aws[a-z-]*:iam::\d{{12}}:oidc-provider/{re.escape(GITHUB_OIDC_HOST)}$"
)


@dataclass(frozen=True)
class DeployRoleSettings:
    repository: str  # OWNER/NAME
    environments: tuple[str, ...]  # GitHub environments allowed to deploy
    provider_arn: str = ""  # an existing GitHub OIDC provider; empty = create one
    qualifier: str = DefaultStackSynthesizer.DEFAULT_QUALIFIER

    @property
    def subjects(self) -> tuple[str, ...]:
        return tuple(f"repo:{self.repository}:environment:{e}" for e in self.environments)

    @classmethod
    def from_context(cls, get: Any, default_environment: str) -> DeployRoleSettings | None:
        """None without `github_repository`; environments default to `default_environment`."""
        repository = get("github_repository")
        if not repository:
            return None
        raw = get("github_environments") or default_environment
        items = raw.split(",") if isinstance(raw, str) else list(raw)
        settings = cls(
            repository=str(repository).strip(),
            environments=tuple(str(x).strip() for x in items if str(x).strip()),
            provider_arn=str(get("github_oidc_provider_arn") or "").strip(),
            qualifier=str(get(QUALIFIER_CONTEXT) or DefaultStackSynthesizer.DEFAULT_QUALIFIER),
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        if not _REPOSITORY.match(self.repository):
            raise ValueError(
                f"context github_repository={self.repository!r}: write OWNER/NAME, "
                "e.g. acme/lakehouse"
            )
        if not self.environments:
            raise ValueError("context github_environments: name at least one environment")
        for env in self.environments:
            # GitHub environment names; a wildcard or ':' would widen or forge the subject
            if not re.match(r"^[A-Za-z0-9_. -]{1,255}$", env):
                raise ValueError(
                    f"context github_environments: {env!r} is not a plain environment name"
                )
        if self.provider_arn and not _PROVIDER_ARN.match(self.provider_arn):
            raise ValueError(
                f"context github_oidc_provider_arn={self.provider_arn!r}: expected "
                f"arn:aws:iam::ACCOUNT:oidc-provider/{GITHUB_OIDC_HOST}"
            )
        if not _QUALIFIER.match(self.qualifier):
            raise ValueError(f"context {QUALIFIER_CONTEXT}={self.qualifier!r}: 1-10 of A-Za-z0-9_-")


def bootstrap_role_arns(qualifier: str) -> list[str]:
    """The bootstrap roles' ARNs for `Fn::Sub` (qualifier substituted, the rest left to it)."""
    return [arn.replace("${Qualifier}", qualifier) for arn in BOOTSTRAP_ROLE_ARNS.values()]


class DeployRoleStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, settings: DeployRoleSettings, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        if settings.provider_arn:
            provider: iam.IOidcProvider = iam.OidcProviderNative.from_oidc_provider_arn(
                self, "GitHubOidc", settings.provider_arn
            )
        else:
            # no thumbprints: IAM trusts GitHub's certificate through its own CA library
            provider = iam.OidcProviderNative(
                self, "GitHubOidc", url=GITHUB_OIDC_URL, client_ids=[AUDIENCE]
            )
        principal = iam.WebIdentityPrincipal(
            provider.oidc_provider_arn,
            conditions={
                "StringEquals": {
                    f"{GITHUB_OIDC_HOST}:aud": AUDIENCE,
                    f"{GITHUB_OIDC_HOST}:sub": list(settings.subjects),
                }
            },
        )
        assume_bootstrap = iam.PolicyDocument(
            statements=[
                iam.PolicyStatement(
                    sid="AssumeCdkBootstrapRoles",
                    actions=["sts:AssumeRole"],
                    resources=[Fn.sub(arn) for arn in bootstrap_role_arns(settings.qualifier)],
                )
            ]
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=principal,
            description=(
                f"GitHub Actions deploys of {settings.repository} "
                f"(environments: {', '.join(settings.environments)}) through the CDK bootstrap "
                "roles"
            ),
            max_session_duration=MAX_SESSION,
            inline_policies={"AssumeCdkBootstrapRoles": assume_bootstrap},
        )
        CfnOutput(
            self,
            "DeployRoleArn",
            value=self.role.role_arn,
            description="GitHub environment variable AWS_DEPLOY_ROLE_ARN",
        )
        CfnOutput(self, "OidcProviderArn", value=provider.oidc_provider_arn)
