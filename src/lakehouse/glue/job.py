"""The Glue job: read the job's parameters, run the pipeline on the spark engine, report.

The job is a thin shell over `lakehouse.orchestration.pipeline.run(engine_name="spark")`, the
pipeline every other entry point runs. Parameters (Glue passes them as `--name value`):

- `--root` (required): the lakehouse root, `s3://bucket/prefix`.
- `--step`: `run` (default) processes everything in `<root>/landing/`. A Step Functions
  execution that starts one job run per step needs the run's state handed from step to step,
  which the pipeline does not persist yet: any other step is refused with that reason.
- `--contracts`: a folder of contract files (default: the packaged contracts).
- `--trigger`: recorded in `_ops.runs` (default `glue`).
- `--run-id`: the run's id (the state machine passes its execution name), recorded in
  `_ops.runs` and in every Delta commit of the run; 1-80 of `A-Za-z0-9_-`, else the job fails
  before touching anything. Default: a new id.

Budget gold models give way to a batch that lands during their refresh (its execution waits
for this job run): `lakehouse.orchestration.give_way.landed_since`.

A parameter given empty (`--run-id ''`) is refused, not taken for its default.

Everything else Glue passes (`--JOB_NAME`, `--TempDir`, ...) is ignored.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from lakehouse.errors import LakehouseError, TerminalError
from lakehouse.printable import one_line

WHOLE_RUN = ("run", "all")
OPTIONAL = {"step": "run", "contracts": "", "trigger": "glue", "run_id": ""}
#: parameters that, given, must say something: an empty one is a template's mistake (an empty
#: --run-id lost the execution's name to a new id)
NOT_EMPTY = ("root", "step", "trigger", "run_id")


@dataclass(frozen=True)
class JobArgs:
    root: str
    step: str = "run"
    contracts: str | None = None
    trigger: str = "glue"
    run_id: str | None = None


def _flag(name: str) -> str:
    return f"--{name.replace('_', '-')}"


def parse_args(argv: Sequence[str]) -> JobArgs:
    """Job parameters from `argv` (sys.argv: the script name first)."""
    argv = list(argv)
    try:
        from awsglue.utils import getResolvedOptions  # type: ignore[import-not-found]
    except ImportError:
        parser = argparse.ArgumentParser(prog="lakehouse.glue", description=__doc__)
        parser.add_argument("--root", required=True)
        for name in OPTIONAL:
            parser.add_argument(_flag(name))
        known, _ = parser.parse_known_args(argv[1:])
        given: dict[str, str] = {k: v for k, v in vars(known).items() if v is not None}
    else:  # Glue: getResolvedOptions fails on absent names, so ask only for those given
        names = [
            _flag(n)[2:]
            for n in OPTIONAL
            if _flag(n) in argv or any(a.startswith(f"{_flag(n)}=") for a in argv)
        ]
        resolved = getResolvedOptions(argv, ["root", *names])
        given = {k.replace("-", "_"): v for k, v in resolved.items()}
    for name in NOT_EMPTY:  # an empty --root became the current folder: a lakehouse made there
        if name in given and not given[name].strip():
            example = "the lakehouse's root, e.g. s3://bucket/lake" if name == "root" else "one"
            raise TerminalError(f"{_flag(name)} is empty: give {example}, or leave it out")
    values = {**OPTIONAL, **given}
    return JobArgs(
        root=values["root"],
        step=values["step"] or "run",
        contracts=values["contracts"] or None,
        trigger=values["trigger"] or "glue",
        run_id=values["run_id"] or None,
    )


def glue_session() -> None:
    """On Glue, start Spark through GlueContext (its logging and job settings); elsewhere the
    spark engine starts a local session itself."""
    try:
        from awsglue.context import GlueContext  # type: ignore[import-not-found]
        from pyspark.context import SparkContext
    except ImportError:
        return
    GlueContext(SparkContext.getOrCreate())


def run_job(args: JobArgs) -> int:
    from lakehouse.orchestration.give_way import landed_since
    from lakehouse.orchestration.pipeline import check_run_id, run
    from lakehouse.store.root import Root

    if args.step not in WHOLE_RUN:
        raise TerminalError(
            f"--step {args.step!r}: a Glue job run processes a whole run (--step run); running "
            "one step per job run needs the run's state persisted between steps, which the "
            "pipeline does not do yet — point the state machine at one `run` task"
        )
    if args.run_id is not None:
        check_run_id(args.run_id)  # before Spark starts: a bad id fails fast, touching nothing
    glue_session()
    root = Root(args.root)
    summary = run(
        root,
        engine_name="spark",
        trigger=args.trigger,
        contracts_dir=args.contracts,
        run_id=args.run_id,
        gold_gives_way=landed_since(root),  # another batch's execution waits for this run
    )
    print(
        json.dumps(
            {
                "run_id": summary.run_id,
                "status": summary.status,
                "files_loaded": len(summary.files_loaded),
                "files_rejected": len(summary.files_rejected),
                "rows_in": summary.rows_in,
                "rows_quarantined": summary.rows_quarantined,
                "seconds": round(summary.seconds, 1),
            }
        )
    )
    return 0 if summary.status == "SUCCEEDED" else 1


def main(argv: Sequence[str] | None = None) -> None:
    """Run the job; exit non-zero with one line on stderr when it fails (Glue marks it FAILED)."""
    try:
        code = run_job(parse_args(sys.argv if argv is None else argv))
    except LakehouseError as exc:
        print(f"lakehouse: {one_line(str(exc))}", file=sys.stderr)
        raise SystemExit(2 if not exc.retryable else 75) from exc
    raise SystemExit(code)
