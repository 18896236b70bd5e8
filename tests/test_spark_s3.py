"""A local Spark session for an s3:// root: S3A's jars at PySpark's Hadoop version, `s3://`
served by S3A, endpoint and region from the standard AWS environment (a whole run on S3:
tests/test_glue_artifact.py)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from lakehouse.engines.spark import session
from lakehouse.errors import TerminalError


def test_an_object_store_session_adds_hadoop_aws_at_pysparks_hadoop_version() -> None:
    assert session.hadoop_version() == "3.3.4"  # pyspark 3.5.4 = Glue 5.0
    assert session.packages() == ["io.delta:delta-spark_2.12:3.3.0"]
    assert session.packages(object_store=True) == [
        "io.delta:delta-spark_2.12:3.3.0",
        "org.apache.hadoop:hadoop-aws:3.3.4",
    ]
    assert session._manifest(True).name == "delta-spark_2.12-3.3.0+hadoop-aws-3.3.4.txt"


def test_s3_is_served_by_s3a_with_the_environments_endpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    conf = session.s3a_conf()
    assert conf["spark.hadoop.fs.s3.impl"] == "org.apache.hadoop.fs.s3a.S3AFileSystem"
    assert conf["spark.hadoop.fs.s3a.endpoint.region"] == "eu-west-1"
    assert "spark.hadoop.fs.s3a.endpoint" not in conf  # real S3: the SDK's own endpoint
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000")
    conf = session.s3a_conf()
    assert conf["spark.hadoop.fs.s3a.endpoint"] == "http://127.0.0.1:9000"
    assert conf["spark.hadoop.fs.s3a.path.style.access"] == "true"
    assert conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] == "false"
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "https://minio.example:9000")
    assert session.s3a_conf()["spark.hadoop.fs.s3a.endpoint"] == "https://minio.example:9000"


def test_a_local_only_session_refuses_an_s3_root_with_the_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    running = SimpleNamespace(sparkContext=SimpleNamespace(_jsc=object()))
    monkeypatch.setattr(session, "_session", running)
    monkeypatch.setattr(session, "_session_object_store", False)
    assert session.get_session() is running
    with pytest.raises(TerminalError, match="started for local roots only"):
        session.get_session(object_store=True)
