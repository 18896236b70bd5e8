"""Spark for tests: one SparkSession for the whole pytest process, and the marks Spark tests carry.

Test modules use it with `pytestmark = SPARK_MARKS` and
`from spark_fixtures import spark_session_fixture  # noqa: F401`, then ask for `spark`.
The session is the process's own (`lakehouse.engines.spark.get_session`), so the engine under
test and the test's assertions share it, and it starts once however many modules ask for it.
Under pytest-xdist, `xdist_group("spark")` keeps every Spark test on one worker when the run
uses `--dist loadgroup`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

SPARK_MARKS = [pytest.mark.spark, pytest.mark.xdist_group("spark")]


def spark_installed() -> bool:
    try:
        import delta  # noqa: F401
        import pyspark  # noqa: F401
    except ImportError:
        return False
    return True


def need_spark() -> None:
    """Skip the calling test when the `spark` extra is not installed."""
    if not spark_installed():
        pytest.fail("needs the spark extra: pip install -e '.[spark]' (`make test` installs it)")


@pytest.fixture(scope="session", name="spark")
def spark_session_fixture() -> SparkSession:
    need_spark()
    from lakehouse.engines.spark import get_session

    return get_session()
