"""The pipeline, declared once: steps, order, parallelism, retry policies, the failure path.

Both executors read this and nothing else: `runner.execute` runs it in-process and
`asl.state_machine_definition` turns it into Amazon States Language for Step Functions. The
graph is a sequence of nodes:

- `Task`: one step (a Python function `fn(state, **params) -> StepResult | dict | None`,
  named by its import path so this module imports nothing heavy); its output dict (a typed
  result's `to_output()`) is kept as `steps.<name>` (in ASL: `$.steps.<name>`), where a later
  `Gate` can read it.
- `Parallel`: branches of tasks that run side by side; the node ends when every branch has.
- `Gate`: a Choice — when `steps.<output>` is not greater than `above`, jump to `otherwise`.

Entity steps are derived from the contracts' foreign keys: entities with no unfinished parent
run in parallel (products ‖ orders), children after their parents (order_items), because the
children's integrity checks read the parents' silver tables.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lakehouse.contracts import Contract
    from lakehouse.orchestration.results import StepResult

StepFn = Callable[..., "StepResult | Mapping[str, Any] | None"]


@dataclass(frozen=True)
class RetryPolicy:
    """Retry transient errors only: `max_attempts` in all, pauses growing by `backoff_rate`."""

    max_attempts: int = 3
    interval_seconds: float = 1.0
    backoff_rate: float = 2.0
    max_delay_seconds: float = 30.0

    def delays(self) -> list[float]:
        """The pause before each retry (attempts 2..max_attempts)."""
        return [
            min(self.interval_seconds * self.backoff_rate**i, self.max_delay_seconds)
            for i in range(max(0, self.max_attempts - 1))
        ]


NO_RETRY = RetryPolicy(max_attempts=1)
STANDARD = RetryPolicy()
STORAGE = RetryPolicy(max_attempts=5, interval_seconds=1.0, backoff_rate=2.0)


@dataclass(frozen=True)
class Task:
    name: str  # step id: discover, bronze, silver_orders, ...
    fn: str | StepFn  # "module:function", or a callable (tests inject failures this way)
    description: str
    params: Mapping[str, str] = field(default_factory=dict)
    retry: RetryPolicy = STANDARD

    @property
    def state(self) -> str:
        """The ASL state name: CamelCase of the step name."""
        return "".join(p.capitalize() for p in re.split(r"[_\W]+", self.name) if p)


@dataclass(frozen=True)
class Parallel:
    name: str
    branches: tuple[tuple[Task, ...], ...]
    description: str = ""

    @property
    def state(self) -> str:
        return "".join(p.capitalize() for p in self.name.split("_"))


@dataclass(frozen=True)
class Gate:
    name: str
    output: str  # "<step>.<key>": the value the choice reads
    above: float  # continue when output > above
    otherwise: str  # name of a later node to jump to
    description: str = ""

    @property
    def state(self) -> str:
        return "".join(p.capitalize() for p in self.name.split("_"))


Node = Task | Parallel | Gate


@dataclass(frozen=True)
class PipelineDefinition:
    name: str
    nodes: tuple[Node, ...]
    on_failure: Task  # runs when any node fails for good; the failure notification follows it

    def tasks(self) -> Iterator[Task]:
        for node in self.nodes:
            if isinstance(node, Task):
                yield node
            elif isinstance(node, Parallel):
                for branch in node.branches:
                    yield from branch
        yield self.on_failure

    def task(self, name: str) -> Task:
        for t in self.tasks():
            if t.name == name:
                return t
        raise KeyError(f"no step {name!r} in pipeline {self.name}")

    def replace_task(self, name: str, **changes: Any) -> PipelineDefinition:
        """A copy with one step changed (e.g. `fn=` a flaky double, `retry=` a faster policy)."""
        self.task(name)

        def swap(t: Task) -> Task:
            return replace(t, **changes) if t.name == name else t

        nodes: list[Node] = []
        for node in self.nodes:
            if isinstance(node, Task):
                nodes.append(swap(node))
            elif isinstance(node, Parallel):
                branches = tuple(tuple(swap(t) for t in b) for b in node.branches)
                nodes.append(replace(node, branches=branches))
            else:
                nodes.append(node)
        return replace(self, nodes=tuple(nodes), on_failure=swap(self.on_failure))

    def insert_after(self, name: str, node: Node) -> PipelineDefinition:
        names = [n.name for n in self.nodes]
        i = names.index(name)
        return replace(self, nodes=(*self.nodes[: i + 1], node, *self.nodes[i + 1 :]))

    def validate(self) -> None:
        names = [n.name for n in self.nodes]
        seen: set[str] = set()
        for t in self.tasks():
            if t.name in seen:
                raise ValueError(f"pipeline {self.name}: step {t.name!r} declared twice")
            seen.add(t.name)
        for i, node in enumerate(self.nodes):
            if isinstance(node, Gate) and node.otherwise not in names[i + 1 :]:
                raise ValueError(f"gate {node.name}: {node.otherwise!r} is not a later node")


STEPS = "lakehouse.orchestration.steps"


def entity_levels(contracts: Mapping[str, Contract]) -> list[list[str]]:
    """Entities grouped so each group depends only on earlier groups (parents first)."""
    done: set[str] = set()
    levels: list[list[str]] = []
    pending = list(contracts)
    while pending:
        level = [
            e
            for e in pending
            if all(fk.references in done or fk.references == e for fk in contracts[e].foreign_keys)
        ]
        if not level:
            raise ValueError(f"foreign keys form a cycle among {pending}")
        levels.append(level)
        done |= set(level)
        pending = [e for e in pending if e not in done]
    return levels


def _silver(entity: str) -> Task:
    return Task(
        f"silver_{entity}",
        f"{STEPS}:silver",
        f"Validate {entity} (new rows and rows waiting for a parent), merge into silver, "
        "quarantine the rest",
        params={"entity": entity},
        retry=STANDARD,
    )


def pipeline_definition(contracts: Mapping[str, Contract] | None = None) -> PipelineDefinition:
    """The lakehouse pipeline for these contracts (default: the packaged ones)."""
    if contracts is None:
        from lakehouse.contracts import load_contracts

        contracts = load_contracts()
    silver: list[Node] = []
    for n, level in enumerate(entity_levels(contracts)):
        if len(level) == 1:
            silver.append(_silver(level[0]))
        else:
            silver.append(
                Parallel(
                    f"silver_level_{n}",
                    tuple((_silver(e),) for e in level),
                    f"Entities without pending parents, side by side: {', '.join(level)}",
                )
            )
    definition = PipelineDefinition(
        name="lakehouse",
        nodes=(
            Task(
                "discover",
                f"{STEPS}:discover",
                "List complete files in landing/ and the files manifest",
                retry=STORAGE,
            ),
            Gate(
                "has_files",
                output="discover.files",
                above=0,
                otherwise="gold",
                description="Nothing landed: skip to gold (budget models may be due, a killed "
                "run's changes not yet refreshed) and the quality checks",
            ),
            Task(
                "bronze",
                f"{STEPS}:bronze",
                "Read and hash each file, reject unreadable ones, append rows to bronze",
                retry=STORAGE,
            ),
            *silver,
            Task(
                "gold",
                f"{STEPS}:gold",
                "Refresh gold for the dates, customers and products silver changed since the "
                "last gold build (read from silver's change data feed)",
                retry=STORAGE,
            ),
            Task(
                "catalog_sync",
                f"{STEPS}:catalog_sync",
                "Publish table schemas and descriptions to the catalog",
                retry=STORAGE,
            ),
            Task(
                "quality",
                f"{STEPS}:quality",
                "Check accounting, reject rates, freshness and duration against the SLAs",
            ),
            Task(
                "archive",
                f"{STEPS}:archive",
                "Record the files manifest, then move files to archive/ or quarantine/files/",
                retry=STORAGE,
            ),
            Task(
                "maintain",
                "lakehouse.maintenance.step:maintain",
                "Compact, Z-order and vacuum the tables the maintenance policy says are due "
                "(after N commits or once a day), with this run's id in each commit",
                retry=STANDARD,
            ),
            Task("notify", f"{STEPS}:notify", "Send alerts opened or resolved by this run"),
        ),
        on_failure=Task(
            "record_failure",
            f"{STEPS}:record_failure",
            "Mark the run FAILED with its error and open a run_failed alert",
            retry=STORAGE,
        ),
    )
    definition.validate()
    return definition
