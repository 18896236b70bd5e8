"""The Glue zip of wheels: built once per lock and source tree, laid out as Glue 5.0 reads it,
every requirement pinned and hash-checked, nothing Glue provides itself."""

from __future__ import annotations

import re
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "infra"))

from lakehouse_stack.artifacts import ARTIFACT, glue_wheels, source_key  # noqa: E402


def _tree(root: Path) -> Path:
    (root / "requirements").mkdir(parents=True)
    (root / "requirements" / "runtime.txt").write_text("a==1 --hash=sha256:00\n")
    (root / "pyproject.toml").write_text("[project]\nname = 'lakehouse'\n")
    (root / "src" / "lakehouse" / "__pycache__").mkdir(parents=True)
    (root / "src" / "lakehouse" / "__init__.py").write_text("")
    return root


def test_the_artifact_is_keyed_by_the_lock_and_sources_and_not_rebuilt(tmp_path: Path) -> None:
    repo = _tree(tmp_path / "repo")
    key = source_key(repo)
    (repo / "src" / "lakehouse" / "__pycache__" / "x.pyc").write_bytes(b"\0")
    assert source_key(repo) == key  # byte code is not a source
    built = tmp_path / "build" / key / ARTIFACT
    built.parent.mkdir(parents=True)
    built.write_bytes(b"built before")
    (tmp_path / "build" / "0123456789abcdef0123").mkdir()  # an earlier source's artifact
    assert glue_wheels(repo, tmp_path / "build") == built  # no pip: the fake repo has no wheel
    assert [p.name for p in (tmp_path / "build").iterdir()] == [key]  # the earlier one removed
    (repo / "requirements" / "runtime.txt").write_text("a==2 --hash=sha256:01\n")
    assert source_key(repo) != key
    (repo / "requirements" / "runtime.txt").write_text("a==1 --hash=sha256:00\n")
    (repo / "src" / "lakehouse" / "models.sql").write_text("SELECT 1")
    assert source_key(repo) != key


def test_the_zip_holds_the_lakehouse_wheel_and_the_locked_wheels_hash_checked() -> None:
    with zipfile.ZipFile(glue_wheels()) as z:
        names = z.namelist()
        requirements = z.read("wheels/requirements.txt").decode()
    assert all(n.startswith("wheels/") for n in names)
    lines = re.sub(r"\s*\\\n\s*", " ", requirements).splitlines()
    pinned = [line for line in lines if line and not line.lstrip().startswith("#")]
    assert all(re.match(r"^[\w.-]+==\S+( --hash=sha256:[0-9a-f]{64})+$", x) for x in pinned)
    projects = {line.split("==")[0].lower().replace("_", "-") for line in pinned}
    assert {"lakehouse", "deltalake", "duckdb", "pyarrow", "sqlglot"} <= projects
    assert not projects & {"pyspark", "py4j", "delta-spark", "boto3", "botocore"}  # Glue's
    wheels = {n.split("/")[1].split("-")[0].lower().replace("_", "-") for n in names}
    assert wheels - {"requirements.txt"} == projects  # a wheel per requirement, nothing else
    for name in names:
        if name.endswith(".whl") and "-cp" in name:
            assert re.search(r"-cp3(11|10|9|8)-(cp311|abi3)-manylinux[\w.]*x86_64\.whl$", name)
