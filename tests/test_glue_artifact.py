"""The Glue job, run from what the stack deploys and nothing else, gives the tables a local run
gives, under the run id the state machine hands it.

The app is synthesized to a temporary cloud assembly; from it come the job's script
(`Command.ScriptLocation`), its `DefaultArguments` and the zip of wheels they name, each found
through the assembly's asset manifest (the staged `asset.*` files `cdk deploy` uploads). Then the
job runs the way Glue runs it:

- a fresh interpreter: a new venv (`python -m venv`), no source tree or editable install on its
  path, no PYTHONPATH;
- "the Glue runtime", what Glue 5.0 pre-installs and the artifact does not ship: PySpark 3.5.4,
  py4j and delta-spark 3.3.0, and boto3 with its dependencies. A `.pth` file in the venv points
  at a folder of symlinks to exactly those packages in the test environment's site-packages;
- the zip of wheels installed the way Glue's installer does (AWS Glue docs, Appendix A): pip,
  the template's `--python-modules-installer-option` (`--no-index`), the zip's
  `wheels/requirements.txt` (hash-checked) with its `wheels/` folder as the only source;
- the template's script run with the template's arguments (CloudFormation tokens resolved to
  emulator buckets and topic), plus what the state machine adds (`--step run`, `--run-id
  <execution name>`, `--root`); S3, SNS, CloudWatch and the Glue Data Catalog are moto's, on
  127.0.0.1. Spark reaches `s3://` through S3A here (Glue has EMRFS).

Slow (a venv, 170 MB of wheels, a Spark JVM): not in the Spark xdist group, as the job runs in a
JVM of its own and can run next to the in-process Spark tests.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from conftest import business_rows
from lakehouse import Lakehouse

if TYPE_CHECKING:
    from aws_fixtures import Aws

pytestmark = [pytest.mark.spark, pytest.mark.aws, pytest.mark.slow]
pytest_plugins = ["aws_fixtures"]

REPO = Path(__file__).resolve().parents[1]
INFRA = REPO / "infra"
EXECUTION = "lakehouse-batch_2026-12-03T16-00-00Z"  # a Step Functions execution name
#: small and varied: valid rows, quarantined rows, a file rejected whole
DELIVERY = sorted((REPO / "tests" / "scenarios" / "dirty_lab" / "input" / "run1").iterdir())
#: what Glue 5.0 provides and the zip of wheels leaves out: distribution -> import names
GLUE_RUNTIME = {
    "pyspark": ("pyspark",),
    "py4j": ("py4j",),
    "delta-spark": ("delta",),
    "boto3": ("boto3",),
    "botocore": ("botocore",),
    "s3transfer": ("s3transfer",),
    "jmespath": ("jmespath",),
    "python-dateutil": ("dateutil",),
    "urllib3": ("urllib3",),
    "six": ("six.py",),
}


def _synthesize(outdir: Path) -> tuple[dict[str, Any], dict[str, Any], dict[str, Path]]:
    """The template, the Glue job's properties, and each asset's S3 key -> staged file."""
    sys.path.insert(0, str(INFRA))
    try:
        from lakehouse_stack import build_app
    finally:
        sys.path.remove(str(INFRA))
    context = json.loads((INFRA / "cdk.json").read_text())["context"]
    assembly = build_app(context, str(outdir)).synth()
    (stack,) = assembly.stacks
    template = json.loads(Path(stack.template_full_path).read_text())
    (job,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::Glue::Job"]
    (manifest,) = outdir.glob("*.assets.json")
    files: dict[str, Path] = {}
    for asset in json.loads(manifest.read_text())["files"].values():
        for destination in asset["destinations"].values():
            files[destination["objectKey"]] = outdir / asset["source"]["path"]
    return template, job["Properties"], files


class Tokens:
    """CloudFormation values resolved for the emulator: buckets and the topic by logical id."""

    def __init__(self, template: dict[str, Any], aws: Aws) -> None:
        self.names: dict[str, str] = {"AWS::Partition": "aws", "AWS::AccountId": "123456789012"}
        self.names["AWS::Region"] = "us-east-1"
        for logical, resource in template["Resources"].items():
            if resource["Type"] == "AWS::S3::Bucket":
                self.names[logical] = aws.bucket(logical.lower()[:20])
            elif resource["Type"] == "AWS::SNS::Topic":
                topic = aws.client("sns").create_topic(Name=logical)
                self.names[logical] = topic["TopicArn"]
            elif resource["Type"] == "AWS::Glue::Database":
                name = resource["Properties"]["DatabaseInput"]["Name"]
                aws.client("glue").create_database(DatabaseInput={"Name": name})

    def __call__(self, value: Any) -> str:
        if isinstance(value, str):
            return value
        (kind, body), *_ = value.items()
        if kind == "Ref":
            return self.names[body]
        if kind == "Fn::Join":
            return str(body[0]).join(self(v) for v in body[1])
        if kind == "Fn::Sub":
            return re.sub(r"\$\{([^}]+)\}", lambda m: self.names[m.group(1)], body)
        raise AssertionError(f"no emulator value for {value}")


def _staged(url: str, files: dict[str, Path]) -> Path:
    key = url.split("/", 3)[3]
    assert key in files, f"{url}: not an asset of the assembly"
    return files[key]


def _glue_python(tmp: Path, wheels_zip: Path, installer_options: str) -> Path:
    """A fresh venv with the Glue runtime and the zip of wheels installed as Glue installs it."""
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    runtime = tmp / "glue-runtime"
    runtime.mkdir()
    site = Path(sysconfig.get_paths()["purelib"])
    for distribution, modules in GLUE_RUNTIME.items():  # installed: code and metadata
        (info,) = site.glob(f"{distribution.replace('-', '_')}-*.dist-info")
        for name in (*modules, info.name):
            (runtime / name).symlink_to(site / name)
    (venv / "lib" / "python3.11" / "site-packages" / "glue_runtime.pth").write_text(f"{runtime}\n")
    unpacked = tmp / "gluewheels"
    with zipfile.ZipFile(wheels_zip) as z:
        z.extractall(unpacked)
    wheels = unpacked / "wheels"
    # --no-compile: byte code is a speed-up only (Glue's installer may compile; results agree)
    install = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    install += ["--no-compile"]
    install += [*installer_options.split(), "--find-links", str(wheels)]
    install += ["-r", str(wheels / "requirements.txt")]
    done = subprocess.run(install, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return python


def test_the_deployed_glue_job_matches_a_local_run_under_the_state_machines_run_id(
    aws: Aws, tmp_path: Path
) -> None:
    template, job, files = _synthesize(tmp_path / "cdk.out")
    tokens = Tokens(template, aws)
    args = {name: tokens(value) for name, value in job["DefaultArguments"].items()}
    assert args["--additional-python-modules"].endswith(".gluewheels.zip")
    assert "--extra-py-files" not in args
    script = _staged(tokens(job["Command"]["ScriptLocation"]), files)
    wheels = _staged(args["--additional-python-modules"], files)
    python = _glue_python(tmp_path, wheels, args["--python-modules-installer-option"])

    landing = args["--landing"].removeprefix("s3://")
    bucket, _, prefix = landing.partition("/")
    for path in DELIVERY:
        aws.client("s3").upload_file(str(path), bucket, f"{prefix}/{path.name}")
    argv = [str(script), "--JOB_NAME", "lakehouse-job"]
    for name, value in args.items():
        argv += [name, value]
    argv += ["--step", "run", "--run-id", EXECUTION, "--root", args["--root"]]
    env = {k: v for k, v in os.environ.items() if k.startswith(("AWS_", "JAVA", "LAKEHOUSE_C"))}
    env |= {"PATH": os.environ["PATH"], "HOME": os.environ["HOME"]}
    job_run = subprocess.run(
        [str(python), *argv], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900
    )
    (tmp_path / "job.stderr").write_text(job_run.stderr)
    assert job_run.returncode == 0, job_run.stderr[-4000:]
    summary = json.loads(job_run.stdout.strip().splitlines()[-1])
    assert (summary["run_id"], summary["status"]) == (EXECUTION, "SUCCEEDED")

    local = Lakehouse(tmp_path / "local")
    expected = local.run(DELIVERY)
    assert expected.status == "SUCCEEDED"
    assert (summary["rows_in"], summary["rows_quarantined"]) == (
        expected.rows_in,
        expected.rows_quarantined,
    )
    assert summary["files_rejected"] == len(expected.files_rejected) > 0
    remote = Lakehouse(args["--root"])
    zones = ("silver", "quarantine", "gold")
    names = [t.name for t in local.tables() if t.name.split(".")[0] in zones and t.rows]
    assert {"silver.orders", "silver.order_items", "quarantine.order_items"} <= set(names)
    assert "gold.sales_daily" in names
    assert [t.name for t in remote.tables() if t.name.split(".")[0] in zones and t.rows] == names
    for name in names:
        assert business_rows(remote, name).equals(business_rows(local, name)), name
    runs = remote.sql("SELECT run_id, status, engine FROM _ops.runs").to_pylist()
    assert runs == [{"run_id": EXECUTION, "status": "SUCCEEDED", "engine": "spark"}]
    for name in ("silver.orders", "silver.order_items", "gold.sales_daily"):
        written = [h for h in remote.history(name) if h["operation"] != "CREATE TABLE"]
        assert written and {h["run_id"] for h in written} == {EXECUTION}, name
