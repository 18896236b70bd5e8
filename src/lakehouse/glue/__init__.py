"""AWS Glue 5 entry point: one Glue job run processes the lakehouse root with the spark engine.

Glue runs `python -m lakehouse.glue` (via `infra/glue/launch.py`, or any script that calls
`lakehouse.glue.job.main()`); job parameters are read with `awsglue.utils.getResolvedOptions`
on Glue and with argparse elsewhere. See docs/glue.md for the job's parameters.
"""

from lakehouse.glue.job import JobArgs, main, parse_args

__all__ = ["JobArgs", "main", "parse_args"]
