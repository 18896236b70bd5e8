"""One SparkSession per process: Delta Lake, UTC, and a small footprint for local runs.

Where a session already exists (an AWS Glue job, a notebook) it is used as it is, after checking
that it has Delta Lake; only runtime settings that results depend on are applied to it.
Otherwise a local session is started (`local[2]`, or `LAKEHOUSE_SPARK_MASTER`).

Delta Lake's jars are found in this order, and cached under the user cache
(`$LAKEHOUSE_CACHE`, else `$XDG_CACHE_HOME/lakehouse`, else `~/.cache/lakehouse`):

1. `LAKEHOUSE_SPARK_JARS` (comma-separated jar paths), used as given;
2. the jars a previous start resolved (`jars/delta-spark_2.12-<version>.txt` lists them):
   no resolution, no network;
3. Spark's own resolver (`spark.jars.packages`, ivy cache in `ivy/`);
4. if that fails (no route to Maven Central through Spark's resolver), Maven:
   `mvn dependency:copy-dependencies` into `jars/delta-spark_2.12-<version>/`.

A local session asked for object storage (`get_session(object_store=True)`: an `s3://` root)
also gets Hadoop's S3A connector, `org.apache.hadoop:hadoop-aws` at the Hadoop version PySpark
ships (with its `aws-java-sdk-bundle`), resolved and cached the same way, and serves `s3://`
with S3A (on AWS Glue, EMRFS serves it and nothing is added). Credentials, region and endpoint
come from the standard AWS environment (`AWS_ACCESS_KEY_ID`, ..., `AWS_REGION`,
`AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL` for MinIO or an emulator: path-style access then).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from lakehouse.config.cache import cache_dir
from lakehouse.errors import TerminalError
from lakehouse.log import event

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

SCALA = "2.12"
DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"
# settings every session needs for results to be right (also applied to a Glue session)
RUNTIME_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    # Spark's default (INT96) is deprecated in Parquet; delta-rs and Athena read micros
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.databricks.delta.schema.autoMerge.enabled": "false",
}
# a small, quick local session: few partitions, no UI, no Hive, loopback only
LOCAL_CONF = {
    "spark.app.name": "lakehouse",
    "spark.sql.extensions": DELTA_EXTENSION,
    "spark.sql.catalog.spark_catalog": DELTA_CATALOG,
    "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "2",
    "spark.databricks.delta.snapshotPartitions": "2",
    "spark.sql.catalogImplementation": "in-memory",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.sql.sources.parallelPartitionDiscovery.parallelism": "2",
}

# local sessions are short: the C1 compiler alone warms up in half the time (C2 pays off only
# in long jobs; set LAKEHOUSE_SPARK_JAVA_OPTIONS="" for those). Its code cache is then 48 MB by
# default, which one lab run fills ("CodeCache is full. Compiler has been disabled."): reserved
# bigger, it is committed only as it fills
JAVA_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseParallelGC -XX:ReservedCodeCacheSize=256m"

_session: SparkSession | None = None
_session_object_store = False  # whether the local session was started with S3A
_lock = threading.Lock()


def delta_version() -> str:
    """The Delta Lake version: the installed delta-spark Python package's (Glue 5: 3.3.0)."""
    return importlib.metadata.version("delta-spark")


def delta_package() -> str:
    return f"io.delta:delta-spark_{SCALA}:{delta_version()}"


def hadoop_version() -> str:
    """The Hadoop version PySpark ships (its `hadoop-client-api` jar), e.g. 3.3.4."""
    spec = importlib.util.find_spec("pyspark")
    folder = Path(spec.origin).parent / "jars" if spec and spec.origin else None
    found = sorted(folder.glob("hadoop-client-api-*.jar")) if folder else []
    match = re.search(r"hadoop-client-api-(\d+\.\d+\.\d+)\.jar$", found[-1].name) if found else None
    if not match:
        raise TerminalError(
            "cannot tell PySpark's Hadoop version (no pyspark/jars/hadoop-client-api-*.jar): "
            "set LAKEHOUSE_SPARK_JARS to the Delta Lake and hadoop-aws jars"
        )
    return match.group(1)


def packages(object_store: bool = False) -> list[str]:
    """The Maven coordinates a local session needs: Delta Lake, and S3A for object storage."""
    found = [delta_package()]
    if object_store:
        found.append(f"org.apache.hadoop:hadoop-aws:{hadoop_version()}")
    return found


def _manifest(object_store: bool = False) -> Path:
    name = f"delta-spark_{SCALA}-{delta_version()}"
    if object_store:
        name += f"+hadoop-aws-{hadoop_version()}"
    return cache_dir() / "jars" / f"{name}.txt"


def cached_jars(object_store: bool = False) -> list[str] | None:
    """Jars given by LAKEHOUSE_SPARK_JARS or resolved by an earlier start; None if neither."""
    given = os.environ.get("LAKEHOUSE_SPARK_JARS")
    if given:
        return [j for j in given.split(",") if j]
    manifest = _manifest(object_store)
    if not manifest.exists():
        return None
    jars = [j for j in manifest.read_text().splitlines() if j]
    return jars if jars and all(Path(j).exists() for j in jars) else None


def _remember(jars: list[str], object_store: bool = False) -> None:
    manifest = _manifest(object_store)
    manifest.parent.mkdir(parents=True, exist_ok=True)
    tmp = manifest.with_suffix(f".tmp-{os.getpid()}")
    tmp.write_text("\n".join(jars) + "\n")
    tmp.replace(manifest)


def maven_jars(object_store: bool = False) -> list[str]:
    """Resolve the session's `packages` (Delta Lake, and S3A for object storage) and their
    runtime dependencies with Maven into the cache."""
    coordinates = packages(object_store)
    out = _manifest(object_store).with_suffix("")
    work = cache_dir() / "maven"
    work.mkdir(parents=True, exist_ok=True)
    dependencies = "".join(
        f"""
    <dependency><groupId>{group}</groupId><artifactId>{artifact}</artifactId>
      <version>{version}</version></dependency>"""
        for group, artifact, version in (c.split(":") for c in coordinates)
    )
    (work / "pom.xml").write_text(
        f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>lakehouse</groupId><artifactId>delta-jars</artifactId><version>1</version>
  <dependencies>{dependencies}
  </dependencies>
</project>
"""
    )
    cmd = [
        "mvn",
        "-q",
        "-B",
        "-f",
        str(work / "pom.xml"),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={out}",
        "-DincludeScope=runtime",
        "-DexcludeGroupIds=org.scala-lang",  # Spark brings its own Scala
    ]
    try:
        subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        raise TerminalError(
            f"cannot fetch the jars {', '.join(coordinates)} with Spark's resolver or Maven: "
            f"{detail.strip()[-300:]}; download them and set LAKEHOUSE_SPARK_JARS=a.jar,b.jar"
        ) from exc
    jars = sorted(str(p) for p in out.glob("*.jar"))
    for coordinate in coordinates:
        artifact = coordinate.split(":")[1]
        if not any(Path(j).name.startswith(f"{artifact}-") for j in jars):
            raise TerminalError(f"Maven copied no {artifact} jar into {out}")
    return jars


def s3a_conf() -> dict[str, str]:
    """Spark settings serving `s3://` (and `s3a://`) with S3A, from the AWS environment."""
    conf = {
        "spark.hadoop.fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        "spark.hadoop.fs.AbstractFileSystem.s3.impl": "org.apache.hadoop.fs.s3a.S3A",
    }
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        conf["spark.hadoop.fs.s3a.endpoint.region"] = region
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:  # MinIO, an emulator: addressed by path, plain HTTP if so given
        conf["spark.hadoop.fs.s3a.endpoint"] = endpoint
        conf["spark.hadoop.fs.s3a.path.style.access"] = "true"
        conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] = str(
            endpoint.startswith("https://")
        ).lower()
    return conf


def _builder_start(jars: list[str] | None, object_store: bool = False) -> SparkSession:
    from pyspark.sql import SparkSession

    # the executors' Python (they read the landed files) is this interpreter, with lakehouse
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.master(os.environ.get("LAKEHOUSE_SPARK_MASTER", "local[2]"))
    conf = {**LOCAL_CONF, **RUNTIME_CONF, **(s3a_conf() if object_store else {})}
    conf["spark.driver.memory"] = os.environ.get("LAKEHOUSE_SPARK_DRIVER_MEMORY", "2g")
    java = os.environ.get("LAKEHOUSE_SPARK_JAVA_OPTIONS", JAVA_OPTIONS)
    conf["spark.driver.extraJavaOptions"] = f"-Duser.timezone=UTC {java}".strip()
    conf["spark.sql.warehouse.dir"] = str(cache_dir() / "spark-warehouse")
    if jars:  # builders share their options: a retry with jars must also clear the package
        conf["spark.jars"] = ",".join(jars)
    conf["spark.jars.packages"] = "" if jars else ",".join(packages(object_store))
    conf["spark.jars.ivy"] = str(cache_dir() / "ivy")
    for key, value in conf.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def _start_local(object_store: bool = False) -> SparkSession:
    jars = cached_jars(object_store)
    if jars is not None:
        return _builder_start(jars, object_store)
    try:
        spark = _builder_start(None, object_store)
    except Exception as exc:  # the JVM exits when ivy cannot resolve the package
        event("spark_ivy_failed", error=f"{type(exc).__name__}: {exc}"[:300])
        jars = maven_jars(object_store)
        spark = _builder_start(jars, object_store)
        _remember(jars, object_store)
        return spark
    resolved = [
        j.removeprefix("file://").removeprefix("file:")
        for j in spark.sparkContext.getConf().get("spark.jars", "").split(",")
        if j.endswith(".jar")
    ]
    if resolved:
        _remember(resolved, object_store)
    return spark


def _existing() -> SparkSession | None:
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    if SparkContext._active_spark_context is None:
        return None
    spark = SparkSession.builder.getOrCreate()
    extensions = spark.conf.get("spark.sql.extensions", "") or ""
    if DELTA_EXTENSION not in extensions:
        raise TerminalError(
            "the running Spark session has no Delta Lake: start it with "
            f"--conf spark.sql.extensions={DELTA_EXTENSION} "
            f"--conf spark.sql.catalog.spark_catalog={DELTA_CATALOG} "
            "(AWS Glue: job parameter --datalake-formats delta and those --conf values)"
        )
    return spark


def get_session(object_store: bool = False) -> SparkSession:
    """The process's SparkSession (created on first use, then reused). `object_store`: the
    session must read and write `s3://` (a local session gets S3A; see the module's doc)."""
    global _session, _session_object_store
    with _lock:
        if _session is not None and _session.sparkContext._jsc is not None:
            if object_store and _session_object_store is False:
                raise TerminalError(
                    "this process's local Spark session was started for local roots only; "
                    "use an s3:// root in a process of its own (or start with it first)"
                )
            return _session
        try:
            existing = _existing()
            spark = existing or _start_local(object_store)
            _session_object_store = existing is not None or object_store
        except ImportError as exc:
            raise TerminalError(
                "the spark engine needs the 'spark' extra: pip install 'lakehouse[spark]'"
            ) from exc
        for key, value in RUNTIME_CONF.items():
            spark.conf.set(key, value)
        spark.sparkContext.setLogLevel(os.environ.get("LAKEHOUSE_SPARK_LOG_LEVEL", "ERROR"))
        _session = spark
        return spark


def new_session(object_store: bool = False) -> SparkSession:
    """A session of its own (temp views, SQL settings) on the process's Spark context."""
    spark = get_session(object_store).newSession()
    for key, value in RUNTIME_CONF.items():
        spark.conf.set(key, value)
    return spark


def stop_session() -> None:
    """Stop the process's session (tests and benchmarks; the engine itself never stops it)."""
    global _session
    with _lock:
        if _session is not None:
            _session.stop()
            _session = None
