"""The pipeline definition as Amazon States Language, for AWS Step Functions.

Generated from `definition.pipeline_definition()` and nothing else — each Task, Parallel and
Gate becomes a state (Task / Parallel / Choice) with the step's retry policy as `Retry`; every
state catches `States.ALL` into the failure path: RecordFailure (Task) → NotifyFailure (SNS
publish) → RunFailed (Fail, carrying the original error and cause). Which AWS service runs a
step is the caller's choice (`AslResources`); by default one Glue job runs every step and
discovery lists the landing prefix in S3, with `${...}` placeholders that a CDK stack fills
through `definitionSubstitutions`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lakehouse.orchestration.definition import (
    Gate,
    Parallel,
    PipelineDefinition,
    RetryPolicy,
    Task,
    pipeline_definition,
)

#: a start refused because the job runs already: the run before holds it for minutes
GLUE_BUSY = "Glue.ConcurrentRunsExceededException"
GLUE_TRANSIENT = (
    GLUE_BUSY,
    "Glue.ThrottlingException",
    "Glue.InternalServiceException",
    "Glue.OperationTimeoutException",
)
LAMBDA_TRANSIENT = (
    "RetryableError",  # lakehouse.errors.RetryableError raised by the step (its class name)
    "LockBusy",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
)
S3_TRANSIENT = ("S3.SdkClientException", "S3.InternalErrorException", "S3.SlowDownException")
SNS_TRANSIENT = ("SNS.InternalErrorException", "SNS.ThrottledException", "SNS.SdkClientException")
FAILURE_STATES = ("RecordFailure", "NotifyFailure", "RunFailed")


@dataclass(frozen=True)
class TaskTarget:
    """How one step runs on AWS: a Task state's `Resource`, `Parameters` (keys ending in `.$`
    are paths or intrinsic functions), the error names worth retrying, an optional
    `ResultSelector` (the discover step must yield `{"files": <number>}`) and timeout."""

    resource: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    transient_errors: tuple[str, ...] = ()
    result_selector: Mapping[str, Any] | None = None
    timeout_seconds: int | None = None


Targets = Callable[[Task], TaskTarget]


def glue_job(
    job_name: str = "${PipelineJobName}",
    *,
    root: str = "${LakehouseRoot}",
    sync: bool = True,
    timeout_seconds: int | None = 3600,
) -> Targets:
    """Every step as a run of one Glue job (`--step <name> --run-id <execution name>`,
    `--root`, and the step's params, e.g. `--entity orders`); `.sync` waits for the job.
    `job_name` may contain `{step}` for one job per step."""

    def target(task: Task) -> TaskTarget:
        args: dict[str, Any] = {
            "--step": task.name,
            "--run-id.$": "$$.Execution.Name",
            "--root": root,
            **{f"--{k}": v for k, v in task.params.items()},
        }
        return TaskTarget(
            "arn:aws:states:::glue:startJobRun" + (".sync" if sync else ""),
            {"JobName": job_name.replace("{step}", task.name), "Arguments": args},
            GLUE_TRANSIENT,
            {"JobRunId.$": "$.Id"} if sync else {"JobRunId.$": "$.JobRunId"},
            timeout_seconds if sync else None,
        )

    return target


def lambda_function(function_arn: str, *, root: str = "${LakehouseRoot}") -> Targets:
    """Every step as a Lambda invocation (direct ARN: the function's return value is the step
    output; a raised `RetryableError` is retried by its class name)."""

    def target(task: Task) -> TaskTarget:
        return TaskTarget(
            function_arn,
            {
                "step": task.name,
                "params": dict(task.params),
                "run_id.$": "$$.Execution.Name",
                "root": root,
            },
            LAMBDA_TRANSIENT,
            timeout_seconds=900,
        )

    return target


def s3_discover(bucket: str = "${LandingBucket}", prefix: str = "${LandingPrefix}") -> TaskTarget:
    """Discovery as an S3 ListObjectsV2 of the landing prefix: `files` = keys found (≤ 1000)."""
    return TaskTarget(
        "arn:aws:states:::aws-sdk:s3:listObjectsV2",
        {"Bucket": bucket, "Prefix": prefix, "MaxKeys": 1000},
        S3_TRANSIENT,
        {"files.$": "$.KeyCount"},
    )


@dataclass(frozen=True)
class AslResources:
    """What the state machine calls.

    - `failure_topic_arn`: SNS topic that NotifyFailure publishes to.
    - `targets`: step name → `TaskTarget` for steps that run somewhere special.
    - `default`: `TaskTarget` factory for every other step (`glue_job()`, `lambda_function()`).
    - `timeout_seconds`: the whole execution's limit (keep it above `[sla] max_run_seconds`).
    - `whole_run`: one task (`--step run`) runs every step after the gate with the pipeline's
      own runner (per-step retries, failure recording and notifications happen inside), for
      jobs that cannot yet run a single step: a step's state is handed over in memory.
    """

    failure_topic_arn: str = "${FailureTopicArn}"
    targets: Mapping[str, TaskTarget] = field(default_factory=lambda: {"discover": s3_discover()})
    default: Targets = field(default_factory=glue_job)
    timeout_seconds: int = 7200
    whole_run: bool = False

    def target(self, task: Task) -> TaskTarget:
        return self.targets.get(task.name) or self.default(task)


def state_machine_definition(
    resources: AslResources | None = None, definition: PipelineDefinition | None = None
) -> dict[str, Any]:
    """The ASL document (a dict; `json.dumps` it for `DefinitionBody.from_string`).

    `resources` says which AWS service runs each step (default: Glue job `${PipelineJobName}`
    for every step, S3 listing of `${LandingBucket}`/`${LandingPrefix}` for discovery, SNS
    topic `${FailureTopicArn}`, lakehouse root `${LakehouseRoot}` — fill these with
    `definitionSubstitutions`, or pass concrete values). `definition` defaults to the pipeline
    of the packaged contracts. Step outputs are kept at `$.steps.<step>`; a caught error at
    `$.error` ({Error, Cause}), which the execution fails with.
    """
    res = resources or AslResources()
    d = definition or pipeline_definition()
    if res.whole_run:
        return _whole_run(d, res)
    nodes = d.nodes
    catch = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": FAILURE_STATES[0]}]
    states: dict[str, Any] = {}
    for i, node in enumerate(nodes):
        following = nodes[i + 1].state if i + 1 < len(nodes) else None
        if isinstance(node, Gate):
            otherwise = next(n.state for n in nodes if n.name == node.otherwise)
            states[node.state] = _choice(node, otherwise, following)
            continue
        state = _task(node, res) if isinstance(node, Task) else _parallel(node, res)
        state["Catch"] = catch
        states[node.state] = _then(state, following)
    states.update(_failure_path(d.on_failure, res))
    return {
        "Comment": f"{d.name} pipeline, generated by lakehouse.orchestration.asl from the "
        "pipeline definition — do not edit; regenerate with `lakehouse pipeline asl`",
        "StartAt": nodes[0].state,
        "TimeoutSeconds": res.timeout_seconds,
        "States": states,
    }


RUN_TASK = Task(
    "run",
    "lakehouse.orchestration.pipeline:run",
    "Every step after the gate, in one job, by the pipeline's own runner",
    retry=RetryPolicy(max_attempts=3, interval_seconds=30, backoff_rate=2.0, max_delay_seconds=300),
)


def _whole_run(d: PipelineDefinition, res: AslResources) -> dict[str, Any]:
    """Discover → gate → one Run task; a failure is recorded by the job itself, so the catch
    goes straight to NotifyFailure → RunFailed."""
    first_gate = next(i for i, n in enumerate(d.nodes) if isinstance(n, Gate))
    head = d.nodes[:first_gate]
    gate = d.nodes[first_gate]
    assert isinstance(gate, Gate) and all(isinstance(n, Task) for n in head)
    catch = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": FAILURE_STATES[1]}]
    states: dict[str, Any] = {}
    for i, node in enumerate(head):
        assert isinstance(node, Task)
        following = head[i + 1].state if i + 1 < len(head) else gate.state
        states[node.state] = _then({**_task(node, res), "Catch": catch}, following)
    states[gate.state] = _choice(gate, "NothingLanded", RUN_TASK.state)
    states[RUN_TASK.state] = _then({**_task(RUN_TASK, res), "Catch": catch}, None)
    states["NothingLanded"] = {"Type": "Succeed", "Comment": "No files: no job is started"}
    failure = _failure_path(d.on_failure, res)
    del failure[FAILURE_STATES[0]]
    states.update(failure)
    return {
        "Comment": f"{d.name} pipeline (whole run per job), generated by "
        "lakehouse.orchestration.asl from the pipeline definition — do not edit",
        "StartAt": d.nodes[0].state,
        "TimeoutSeconds": res.timeout_seconds,
        "States": states,
    }


def retry_block(
    policy: RetryPolicy, errors: tuple[str, ...], *, busy_for: int = 0
) -> list[dict[str, Any]]:
    """The Retry of a task retrying `errors` by `policy`. With `busy_for` (seconds), a Glue
    start refused because the job is busy is retried on its own for that long: a second batch
    used to give up after 90 s while the first batch's run took minutes, failing its
    execution and leaving its files in landing."""
    if policy.max_attempts <= 1 or not errors:
        return []
    first, pause = max(1, math.ceil(policy.interval_seconds)), float(policy.backoff_rate)
    longest = max(1, math.ceil(policy.max_delay_seconds))

    def retrier(names: list[str], attempts: int) -> dict[str, Any]:
        return {
            "ErrorEquals": names,
            "IntervalSeconds": first,
            "MaxAttempts": attempts,
            "BackoffRate": pause,
            "MaxDelaySeconds": longest,
        }

    out = []
    others = list(errors)
    if busy_for and GLUE_BUSY in errors:
        waited, delay, attempts = 0.0, float(first), 0
        while waited < busy_for:  # the attempts whose pauses add up to `busy_for`
            waited, delay, attempts = waited + min(delay, longest), delay * pause, attempts + 1
        out.append(retrier([GLUE_BUSY], attempts))
        others.remove(GLUE_BUSY)
    return out + ([retrier(others, policy.max_attempts - 1)] if others else [])


def _task(task: Task, res: AslResources) -> dict[str, Any]:
    t = res.target(task)
    state: dict[str, Any] = {
        "Type": "Task",
        "Comment": task.description,
        "Resource": t.resource,
        "Parameters": dict(t.parameters),
    }
    if t.result_selector:
        state["ResultSelector"] = dict(t.result_selector)
    state["ResultPath"] = f"$.steps.{task.name}"
    if t.timeout_seconds:
        state["TimeoutSeconds"] = t.timeout_seconds
    retry = retry_block(task.retry, t.transient_errors, busy_for=res.timeout_seconds)
    if retry:
        state["Retry"] = retry
    return state


def _parallel(node: Parallel, res: AslResources) -> dict[str, Any]:
    branches = []
    for branch in node.branches:
        inner: dict[str, Any] = {}
        for i, task in enumerate(branch):
            following = branch[i + 1].state if i + 1 < len(branch) else None
            inner[task.state] = _then(_task(task, res), following)
        branches.append({"StartAt": branch[0].state, "States": inner})
    return {
        "Type": "Parallel",
        "Comment": node.description,
        "Branches": branches,
        "ResultPath": None,
    }


def _choice(gate: Gate, otherwise: str, following: str | None) -> dict[str, Any]:
    var = f"$.steps.{gate.output}"
    return {
        "Type": "Choice",
        "Comment": gate.description,
        "Choices": [
            {
                "And": [
                    {"Variable": var, "IsPresent": True},
                    {"Variable": var, "IsNumeric": True},
                    {"Variable": var, "NumericLessThanEquals": gate.above},
                ],
                "Next": otherwise,
            }
        ],
        "Default": following,
    }


def _then(state: dict[str, Any], following: str | None) -> dict[str, Any]:
    if following is None:
        state["End"] = True
    else:
        state["Next"] = following
    return state


def _failure_path(record: Task, res: AslResources) -> dict[str, Any]:
    record_state = _task(record, res)
    record_state["Catch"] = [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.record_error", "Next": FAILURE_STATES[1]}
    ]
    record_state["Next"] = FAILURE_STATES[1]
    return {
        FAILURE_STATES[0]: record_state,
        FAILURE_STATES[1]: {
            "Type": "Task",
            "Comment": "Tell the operators: one SNS message per failed run",
            "Resource": "arn:aws:states:::sns:publish",
            "Parameters": {
                "TopicArn": res.failure_topic_arn,
                "Subject": "lakehouse run failed",
                "Message.$": "States.Format('lakehouse run {} failed: {}: {}', "
                "$$.Execution.Name, $.error.Error, $.error.Cause)",
            },
            "ResultPath": "$.notification",
            "Retry": retry_block(RetryPolicy(max_attempts=4), SNS_TRANSIENT),
            "Next": FAILURE_STATES[2],
        },
        FAILURE_STATES[2]: {
            "Type": "Fail",
            "Comment": "The run is FAILED, never reported as a success",
            "ErrorPath": "$.error.Error",
            "CausePath": "$.error.Cause",
        },
    }
