"""The GitHub workflows: every action pinned to a full commit SHA with its release as a comment,
dependencies installed from the hash lock, deploys only through the OIDC deploy role."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

WORKFLOWS = sorted((Path(__file__).parents[1] / ".github" / "workflows").glob("*.y*ml"))
PINNED = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$")
LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(\S+)\s*(#.*)?$")


def load(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return doc


def uses(doc: dict[str, Any]) -> Iterator[str]:
    """Every `uses:` of a workflow: steps' actions and jobs' reusable workflows."""
    for job in doc.get("jobs", {}).values():
        if "uses" in job:
            yield job["uses"]
        for step in job.get("steps", []):
            if "uses" in step:
                yield step["uses"]


def run_lines(doc: dict[str, Any]) -> list[str]:
    return [
        line.strip()
        for job in doc.get("jobs", {}).values()
        for step in job.get("steps", [])
        for line in str(step.get("run", "")).splitlines()
    ]


def test_there_are_workflows() -> None:
    assert [p.name for p in WORKFLOWS] == ["ci.yml", "deploy.yml", "synth.yml"]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_action_is_pinned_to_a_commit(path: Path) -> None:
    found = list(uses(load(path)))
    assert found
    assert [u for u in found if not PINNED.match(u)] == []
    # and the release it is, as a comment on the same line (what Dependabot updates too)
    lines = [LINE.match(x) for x in path.read_text(encoding="utf-8").splitlines()]
    comments = {m[1]: m[2] for m in lines if m}
    assert sorted(comments) == sorted(set(found))
    assert {
        u: c for u, c in comments.items() if not re.fullmatch(r"# v\d+\.\d+\.\d+", c or "")
    } == {}


def test_one_commit_per_action_across_workflows() -> None:
    pins: dict[str, set[str]] = {}
    for path in WORKFLOWS:
        for u in uses(load(path)):
            action, _, sha = u.partition("@")
            pins.setdefault(action, set()).add(sha)
    assert {a: s for a, s in pins.items() if len(s) > 1} == {}


def test_the_pin_check_rejects_tags_branches_and_short_shas() -> None:
    for ref in (
        "actions/checkout@v4",
        "actions/checkout@main",
        "actions/checkout@11bd719",
        "actions/checkout@11BD71901BBE5B1630CEEA73D27597364C9AF683",
        "docker://alpine:3.20",
        "./.github/actions/local",
    ):
        assert not PINNED.match(ref), ref
    assert PINNED.match("actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683")


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_installs_come_from_the_hash_lock(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    installs = [line for line in run_lines(load(path)) if "pip install" in line]
    allowed = {
        "python -m pip install --upgrade pip",
        "python -m pip install --require-hashes -r requirements/dev.txt",
        "python -m pip install --no-deps -e .",
    }
    assert set(installs) <= allowed
    if path.name == "ci.yml":  # make installs from the lock (tests/test_requirements_lock.py)
        assert not installs and "make test" in text
    else:
        assert set(installs) == allowed
    assert "cache-dependency-path: requirements/dev.txt" in text


def test_deploy_uses_the_deploy_role_by_oidc_only() -> None:
    doc = load(next(p for p in WORKFLOWS if p.name == "deploy.yml"))
    (job,) = doc["jobs"].values()
    assert job["permissions"] == {"contents": "read", "id-token": "write"}
    assert doc["permissions"] == {"contents": "read"}
    (creds,) = [s for s in job["steps"] if "configure-aws-credentials" in s.get("uses", "")]
    assert creds["with"]["role-to-assume"] == "${{ vars.AWS_DEPLOY_ROLE_ARN }}"
    assert creds["with"]["role-duration-seconds"] == 3600  # the role's maximum
    assert not {"aws-access-key-id", "aws-secret-access-key"} & set(creds["with"])
    assert "secrets." not in str(doc)
    runs = "\n".join(run_lines(doc))
    assert '"Lakehouse-$ENV_NAME"' in runs  # cdk diff names the stack: never the role's
    assert "lakehouse deploy --yes --outputs-file infra/cdk-outputs.json" in runs
