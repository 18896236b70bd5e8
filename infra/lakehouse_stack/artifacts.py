"""Build what the Glue job installs: a "zip of wheels" (Glue 5.0's `--additional-python-modules`
artifact) holding the `lakehouse` wheel and every runtime dependency pinned by
`requirements/runtime.txt`, with its hashes.

Layout (AWS Glue docs, "Using Python libraries with AWS Glue", Appendix A): the file name ends in
`.gluewheels.zip`; inside, `wheels/` holds the `.whl` files and `wheels/requirements.txt`, the
lock plus a line for the lakehouse wheel, each with `--hash`, so the job's pip runs in
hash-checking mode. The job passes `--python-modules-installer-option --no-index`: nothing comes
from an index at job start (a job in a private subnet has none).

The wheels are for Glue 5.0: CPython 3.11, manylinux x86_64 (Amazon Linux 2023, glibc 2.34).
The build reuses pip's cache (offline once the wheels were fetched) and keeps the artifact under
`infra/build/<key>/` (git-ignored), `<key>` a hash of the lock, `pyproject.toml` and the
package's files: synthesizing twice builds once; a new build removes the earlier ones.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LOCK = Path("requirements") / "runtime.txt"  # below the repository
BUILD = REPO / "infra" / "build"
ARTIFACT = "lakehouse.gluewheels.zip"
PYTHON_VERSION = "3.11"
#: manylinux tags a Glue 5.0 worker (glibc 2.34, x86_64) installs; pip matches them exactly
PLATFORMS = (
    "manylinux_2_34_x86_64",
    "manylinux_2_28_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
    "manylinux_2_5_x86_64",
    "manylinux1_x86_64",
)
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed member times: same inputs, same bytes, same asset hash
_SKIP = re.compile(r"(__pycache__|\.pyc$|\.egg-info|\.DS_Store$)")


class ArtifactError(RuntimeError):
    """The Glue artifact could not be built; the message says which step and why."""


def source_key(repo: Path = REPO) -> str:
    """A hash of everything the artifact is made of: the lock, pyproject.toml, src/lakehouse."""
    digest = hashlib.sha256()
    files = [repo / LOCK, repo / "pyproject.toml"]
    files += sorted(p for p in (repo / "src" / "lakehouse").rglob("*") if p.is_file())
    for path in files:
        relative = path.relative_to(repo).as_posix()
        if _SKIP.search(relative):
            continue
        digest.update(relative.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:20]


def glue_wheels(repo: Path = REPO, build: Path = BUILD) -> Path:
    """The zip of wheels for the current sources and lock, built if not built yet."""
    lock = repo / LOCK
    if not lock.is_file():
        raise ArtifactError(f"no lock file {lock}: generate it (command in docs/glue.md)")
    target = build / source_key(repo) / ARTIFACT
    if not target.is_file():
        _build(repo, lock, target)
    for stale in build.iterdir():  # earlier sources' artifacts (170 MB each)
        if stale.is_dir() and stale != target.parent and not stale.name.startswith("."):
            shutil.rmtree(stale, ignore_errors=True)
    return target


def _build(repo: Path, lock: Path, target: Path) -> None:
    build = target.parents[1]
    build.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=build, prefix=".tmp-") as tmp:
        wheels = Path(tmp) / "wheels"
        own = _build_wheel(repo, Path(tmp) / "own")
        _download(lock, wheels)
        shutil.copy2(own, wheels / own.name)
        requirements = lock.read_text(encoding="utf-8").rstrip("\n")
        requirements += f"\n{_requirement(own)}\n"
        (wheels / "requirements.txt").write_text(requirements, encoding="utf-8")
        packed = Path(tmp) / ARTIFACT
        _pack(wheels, packed)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(packed, target)


def _pip(*args: str) -> None:
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ArtifactError(f"{' '.join(cmd[2:5])} failed: {done.stderr.strip()[-800:]}")


def _build_wheel(repo: Path, out: Path) -> Path:
    _pip("wheel", "--no-deps", "--wheel-dir", str(out), str(repo))
    built = sorted(out.glob("lakehouse-*.whl"))
    if len(built) != 1:
        raise ArtifactError(f"pip wheel built {[p.name for p in built]}, not one lakehouse wheel")
    return built[0]


def _download(lock: Path, wheels: Path) -> None:
    platforms = [arg for tag in PLATFORMS for arg in ("--platform", tag)]
    _pip(
        "download",
        "--require-hashes",
        "--only-binary=:all:",
        "--no-deps",
        "--implementation",
        "cp",
        "--python-version",
        PYTHON_VERSION,
        *platforms,
        "--dest",
        str(wheels),
        "-r",
        str(lock),
    )


def _requirement(wheel: Path) -> str:
    """`name==version --hash=sha256:...` for a wheel file."""
    name, version = wheel.name.split("-")[:2]
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    return f"{name}=={version} --hash=sha256:{digest}"


def _pack(wheels: Path, out: Path) -> None:
    """Zip `wheels/` with fixed member times (wheels are compressed already: stored)."""
    with zipfile.ZipFile(out, "w") as archive:
        for path in sorted(wheels.iterdir()):
            info = zipfile.ZipInfo(f"wheels/{path.name}", date_time=_ZIP_TIME)
            info.external_attr = 0o644 << 16
            method = zipfile.ZIP_STORED if path.suffix == ".whl" else zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes(), compress_type=method)


if __name__ == "__main__":
    print(glue_wheels())
