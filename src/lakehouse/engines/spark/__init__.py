"""The Spark engine (PySpark 3.5 + delta-spark 3.x, the AWS Glue 5 runtime).

Importing this package does not start Spark; `SparkEngine(root)` does, once per process.
"""

from lakehouse.engines.spark.engine import CAPABILITIES, SparkEngine
from lakehouse.engines.spark.session import get_session, stop_session

__all__ = ["CAPABILITIES", "SparkEngine", "get_session", "stop_session"]
