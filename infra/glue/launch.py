"""AWS Glue job script: run the lakehouse's Glue entry point, then publish the run's metrics.

Glue runs this file; the lakehouse package and its dependencies are installed from the zip of
wheels in `--additional-python-modules` (built at `cdk synth`, see docs/glue.md). The module
to run is the job argument `--entry-module` (default `lakehouse.glue`), run as `__main__` with
the job's arguments in `sys.argv` (`--root`, `--step`, `--run-id`, ...).

Deployment settings arrive as job arguments and are handed to the lakehouse as the environment
variables it reads (`ENVIRONMENT` below), so the entry point needs no AWS-specific options.
When a run has ended, two things follow that the Glue entry point does not do itself:
the newest run's metrics go to CloudWatch (with `--metrics-namespace` and `--environment`),
and the Glue Data Catalog is synced from the contracts (with `--glue-database`). Neither can
change the run's outcome; a failure is reported on stderr (the job's error log).
"""

from __future__ import annotations

import os
import runpy
import sys

#: job argument -> environment variable(s) it sets
ENVIRONMENT = {
    "--landing": ("LAKEHOUSE_LANDING",),
    "--archive": ("LAKEHOUSE_ARCHIVE",),
    "--glue-database": ("LAKEHOUSE_GLUE_DATABASE",),
    "--environment": ("LAKEHOUSE_ENVIRONMENT",),
    "--sns-topic-arn": ("LAKEHOUSE__NOTIFIERS__SNS__TOPIC_ARN",),
    "--max-run-seconds": ("LAKEHOUSE__SLA__MAX_RUN_SECONDS",),
    "--lf-tag-key": ("LAKEHOUSE_LF_TAG_KEY",),  # Lake Formation classification of the tables
}
RUN_ENDS = ("run", "all", "notify", "record_failure")  # steps after which a run is complete


def argument(argv: list[str], name: str, default: str = "") -> str:
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(f"{name}="):
            return arg.split("=", 1)[1]
    return default


def environment(argv: list[str]) -> dict[str, str]:
    """The environment variables the job's arguments ask for."""
    env: dict[str, str] = {}
    for name, variables in ENVIRONMENT.items():
        value = argument(argv, name)
        if value:
            env.update(dict.fromkeys(variables, value))
    if "LAKEHOUSE__NOTIFIERS__SNS__TOPIC_ARN" in env:
        env["LAKEHOUSE__NOTIFIERS__SNS__TYPE"] = "sns"
    return env


def publish_metrics(argv: list[str]) -> None:
    """Send the newest run's metrics to CloudWatch; a failure here never fails the job."""
    environment_name = argument(argv, "--environment")
    if not argument(argv, "--metrics-namespace") or not environment_name:
        return
    if argument(argv, "--step", "run") not in RUN_ENDS:
        return
    try:
        from lakehouse.aws.cloudwatch import publish_latest
        from lakehouse.store.root import Root

        run_id = publish_latest(Root(argument(argv, "--root")), environment_name)
        print(f"lakehouse: published the metrics of run {run_id} to CloudWatch", file=sys.stderr)
    except Exception as exc:  # metrics are best effort; the run's outcome stands
        print(f"lakehouse: could not publish metrics: {exc!r}", file=sys.stderr)


def sync_catalog(argv: list[str]) -> None:
    """Create or update the catalog tables (silver from the contracts, gold as written)."""
    database = argument(argv, "--glue-database")
    if not database or argument(argv, "--step", "run") not in RUN_ENDS:
        return
    try:
        from lakehouse.aws.glue_catalog import catalog_tables
        from lakehouse.aws.glue_sync import sync
        from lakehouse.store.root import Root

        plan = catalog_tables(Root(argument(argv, "--root")))
        report = sync(plan.tables, database)
        for line in [*report.lines(), *(f"skipped   {s}" for s in plan.skipped)]:
            print(f"lakehouse: catalog: {line}", file=sys.stderr)
    except Exception as exc:  # the data are committed; only their catalog entry lags
        print(f"lakehouse: could not sync the Glue catalog: {exc!r}", file=sys.stderr)


def main(argv: list[str]) -> None:
    os.environ.update(environment(argv))
    try:
        runpy.run_module(
            argument(argv, "--entry-module", "lakehouse.glue"), run_name="__main__", alter_sys=True
        )
    finally:
        sync_catalog(argv)
        publish_metrics(argv)


if __name__ == "__main__":
    main(sys.argv)
