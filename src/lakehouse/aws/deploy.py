"""`lakehouse deploy --synth OUT`: the CDK app in `infra/`, synthesized in-process.

Parameters come from `infra/cdk.json`'s context, overridden by `--context key=value`; the
result is the CloudFormation template (OUT ending in `.json`) or the whole cloud assembly
(any other OUT: a folder that `cdk deploy --app OUT` deploys, assets included).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping
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
    from lakehouse_stack import build_app  # type: ignore[import-not-found,unused-ignore]

    target = Path(out)
    template_only = target.suffix == ".json"
    outdir = Path(tempfile.mkdtemp(prefix="lakehouse-cdk-")) if template_only else target
    try:
        assembly = build_app(merged, outdir=str(outdir)).synth()
        stack = assembly.stacks[0]
        produced = outdir / stack.template_file
        if template_only:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(produced, target)
            return Synthesized(stack.stack_name, target, None)
        return Synthesized(stack.stack_name, produced, outdir)
    finally:
        if template_only:
            shutil.rmtree(outdir, ignore_errors=True)


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
