"""`lakehouse deploy`: the CDK app in `infra/`, synthesized in-process, deployed by the CDK CLI.

Parameters come from `infra/cdk.json`'s context, overridden by `--context key=value`. With
`--synth OUT` the result is the CloudFormation template of the lakehouse stack (OUT ending in
`.json`) or the whole cloud assembly (any other OUT: a folder that `cdk deploy --app OUT`
deploys, assets included). Without it, the assembly goes to a temporary folder and the CDK CLI
(`npx --yes aws-cdk@2` unless told otherwise) deploys the lakehouse stack from it, writing the
stack's outputs to a JSON file.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lakehouse.errors import TerminalError


@dataclass(frozen=True)
class Synthesized:
    stack: str
    template: Path
    assembly: Path | None  # None when only the template was kept


def find_infra(given: str | os.PathLike[str] | None = None) -> Path:
    """The CDK app folder: `given`, `LAKEHOUSE_INFRA`, `./infra`, or the source checkout's."""
    candidates = [given, os.environ.get("LAKEHOUSE_INFRA"), Path.cwd() / "infra"]
    candidates.append(Path(__file__).resolve().parents[3] / "infra")
    for c in candidates:
        if c and (Path(c) / "cdk.json").is_file() and (Path(c) / "lakehouse_stack").is_dir():
            return Path(c).resolve()
    raise TerminalError(
        "cannot find the CDK app (a folder with cdk.json and lakehouse_stack/); run from the "
        "repository, or pass --infra DIR / set LAKEHOUSE_INFRA"
    )


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise TerminalError(f"--context {pair!r}: write key=value, e.g. env_name=prod")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def synth(
    out: str | os.PathLike[str],
    *,
    infra: str | os.PathLike[str] | None = None,
    context: Mapping[str, Any] | None = None,
) -> Synthesized:
    folder = find_infra(infra)
    base = json.loads((folder / "cdk.json").read_text(encoding="utf-8")).get("context", {})
    merged = {**base, **(context or {})}
    quiet_jsii()
    try:
        import aws_cdk  # noqa: F401
    except ImportError as exc:
        raise TerminalError("deploy needs the CDK: pip install 'lakehouse[infra]'") from exc
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    from lakehouse_stack import (  # type: ignore[import-not-found,unused-ignore]
        DEPLOY_ROLE_STACK,
        build_app,
    )

    target = Path(out)
    template_only = target.suffix == ".json"
    outdir = Path(tempfile.mkdtemp(prefix="lakehouse-cdk-")) if template_only else target
    try:
        assembly = build_app(merged, outdir=str(outdir)).synth()
        # the lakehouse stack; the deploy role's (with github_repository) is deployed by name
        stack = next(s for s in assembly.stacks if s.stack_name != DEPLOY_ROLE_STACK)
        produced = outdir / stack.template_file
        if template_only:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(produced, target)
            return Synthesized(stack.stack_name, target, None)
        return Synthesized(stack.stack_name, produced, outdir)
    finally:
        if template_only:
            shutil.rmtree(outdir, ignore_errors=True)


DEFAULT_CDK = "npx --yes aws-cdk@2"


def deploy(
    *,
    infra: str | os.PathLike[str] | None = None,
    context: Mapping[str, Any] | None = None,
    outputs_file: str | os.PathLike[str],
    cdk: str | None = None,
    extra_args: Sequence[str] = (),
) -> tuple[str, dict[str, str]]:
    """Synthesize, then `cdk deploy` the lakehouse stack; (stack name, its outputs).

    The CDK CLI runs attached to this terminal (its progress, and its prompt before IAM
    changes unless `--require-approval never` is among `extra_args`); a failed deploy raises.
    """
    command = shlex.split(cdk or os.environ.get("LAKEHOUSE_CDK") or DEFAULT_CDK)
    if shutil.which(command[0]) is None:
        raise TerminalError(
            f"deploy runs the CDK CLI ({command[0]} not found): install Node.js 18+ for npx, "
            "or pass --cdk 'cdk' / set LAKEHOUSE_CDK"
        )
    with tempfile.TemporaryDirectory(prefix="lakehouse-cdk-") as tmp:
        made = synth(Path(tmp) / "cdk.out", infra=infra, context=context)
        outputs = Path(outputs_file).resolve()
        args = [
            *command,
            "deploy",
            made.stack,
            "--app",
            str(made.assembly),
            "--outputs-file",
            str(outputs),
            "--no-notices",
            *extra_args,
        ]
        done = subprocess.run(args, check=False)
        if done.returncode != 0:
            raise TerminalError(f"cdk deploy {made.stack} failed (exit {done.returncode})")
    return made.stack, read_outputs(outputs, made.stack)


def read_outputs(path: str | os.PathLike[str], stack: str) -> dict[str, str]:
    """One stack's outputs from a `cdk deploy --outputs-file` JSON ({stack: {name: value}})."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TerminalError(f"cannot read the stack outputs in {path}: {exc}") from exc
    found = data.get(stack) if isinstance(data, dict) else None
    if not isinstance(found, dict):
        raise TerminalError(f"{path} has no outputs of stack {stack}")
    return {str(k): str(v) for k, v in found.items()}


def quiet_jsii() -> None:
    """jsii warns on stderr about the Node.js release it runs on (the template does not
    depend on it); silence that for the installed release. Call before importing aws_cdk."""
    major = _node_major()
    if major:
        for warning in ("END_OF_LIFE", "DEPRECATED", "UNTESTED"):
            os.environ.setdefault(f"JSII_SILENCE_WARNING_{warning}_NODE_VERSION", major)


def _node_major() -> str:
    import subprocess

    node = shutil.which("node")
    if node is None:
        return ""
    try:
        version = subprocess.run(
            [node, "--version"], capture_output=True, text=True, timeout=10, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    return version.strip().lstrip("v").split(".")[0]
