"""Arrow allocates with jemalloc in lakehouse processes, unless the user chose an allocator.

Each case runs a fresh interpreter: Arrow chooses its default pool once, when pyarrow loads.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from lakehouse.store.arrow_pool import VARIABLE


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


def chosen() -> str:
    """jemalloc on Linux; elsewhere pyarrow's own default is kept."""
    return "jemalloc" if sys.platform.startswith("linux") else _backend("import pyarrow")


def test_without_lakehouse_pyarrow_allocates_with_mimalloc() -> None:
    """The premise: pyarrow's wheels default to mimalloc, the pool the lakehouse replaces."""
    assert _backend("import pyarrow") == "mimalloc"


def test_importing_lakehouse_first_makes_its_choice_the_default() -> None:
    assert _backend("import lakehouse\nimport pyarrow") == chosen()


def test_a_pyarrow_loaded_before_lakehouse_is_switched() -> None:
    assert _backend("import pyarrow\nimport lakehouse") == chosen()


def test_processes_the_lakehouse_starts_inherit_the_choice() -> None:
    code = (
        "import lakehouse, subprocess, sys\n"
        "import pyarrow\n"
        "child = 'import pyarrow; print(pyarrow.default_memory_pool().backend_name)'\n"
        "print(subprocess.run([sys.executable, '-c', child], capture_output=True, text=True)"
        ".stdout.strip())"
    )
    assert _backend(code).splitlines() == [chosen(), chosen()]


@pytest.mark.parametrize("chosen", ["system", "mimalloc"])
def test_the_users_choice_is_kept(chosen: str) -> None:
    assert _backend("import lakehouse\nimport pyarrow", **{VARIABLE: chosen}) == chosen
