"""Orchestration: the pipeline declared once (`definition`), executed locally (`runner`,
`steps`) or exported as Amazon States Language for AWS Step Functions (`asl`)."""

from lakehouse.orchestration.definition import (
    Gate,
    Parallel,
    PipelineDefinition,
    RetryPolicy,
    Task,
    pipeline_definition,
)

__all__ = ["Gate", "Parallel", "PipelineDefinition", "RetryPolicy", "Task", "pipeline_definition"]
