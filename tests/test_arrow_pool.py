"""Arrow allocates with jemalloc in lakehouse processes, unless the user chose an allocator.

Each case runs a fresh interpreter: Arrow chooses its default pool once, when pyarrow loads.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from lakehouse.store.arrow_pool import VARIABLE

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="jemalloc is chosen on Linux only"
)


def _backend(code: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k != VARIABLE}
    done = subprocess.run(
        [sys.executable, "-c", code + "\nprint(pyarrow.default_memory_pool().backend_name)"],
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stderr == ""  # no "unsupported backend" warning from Arrow
    return done.stdout.strip()


def test_pyarrow_default_without_lakehouse_is_not_jemalloc() -> None:
    """The premise: without lakehouse, this pyarrow would allocate with another pool."""
    assert _backend("import pyarrow") != "jemalloc"


def test_importing_lakehouse_first_makes_jemalloc_the_default() -> None:
    assert _backend("import lakehouse\nimport pyarrow") == "jemalloc"


def test_a_pyarrow_loaded_before_lakehouse_is_switched() -> None:
    assert _backend("import pyarrow\nimport lakehouse") == "jemalloc"


def test_processes_the_lakehouse_starts_inherit_the_choice() -> None:
    code = (
        "import lakehouse, subprocess, sys\n"
        "import pyarrow\n"
        "child = 'import pyarrow; print(pyarrow.default_memory_pool().backend_name)'\n"
        "print(subprocess.run([sys.executable, '-c', child], capture_output=True, text=True)"
        ".stdout.strip())"
    )
    assert _backend(code).splitlines() == ["jemalloc", "jemalloc"]


@pytest.mark.parametrize("chosen", ["system", "mimalloc"])
def test_the_users_choice_is_kept(chosen: str) -> None:
    assert _backend("import lakehouse\nimport pyarrow", **{VARIABLE: chosen}) == chosen
