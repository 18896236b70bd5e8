"""OpenLineage run events for every run and every step, sent with the `openlineage-python` client.

Layout (namespace = `[lineage] namespace`, default the root's URI, for jobs and datasets alike):

- job `lakehouse` — the run: START when it begins, COMPLETE or FAIL (with an errorMessage facet)
  when it ends, listing every dataset the run read and wrote.
- job `lakehouse.<step>` — each step (`lakehouse.bronze`, `lakehouse.silver_orders`,
  `lakehouse.gold`, ...): START and COMPLETE / FAIL, with a `parent` run facet naming the run's
  event (and its root), and the step's datasets.
- datasets are named `zone.table` (`landing.orders`, `bronze.orders`, `silver.orders`,
  `quarantine.orders`, `gold.sales_daily`). An output carries its schema (types and descriptions
  from the contract or model header), documentation, the Delta `version` written, the rows
  written (`outputStatistics`) and the `columnLineage` derived from the definitions
  (`lakehouse.lineage`, ephemeral models looked through). A silver step's input
  `bronze.<entity>` carries `dataQualityAssertions` (one failed assertion per reason code, or
  one passed `contract` assertion); its outputs carry `dataQualityMetrics` (rows checked), and
  quarantine the rows quarantined per reason in the custom `lakehouse_quarantine` facet.
  The run's own COMPLETE / FAIL lists every dataset with names and versions only.

Run ids are UUIDs derived from the lakehouse run id (v7 carrying the run's start time), so a
step's parent id is known without state. Emission never fails or stops a run: every error is
logged once (`lineage_emit_failed`) and the rest of the run's events are skipped.

`EventWriter` builds and sends the events; it runs on the emitter's own thread
(`lakehouse.lineage.emitter`), so neither this module's imports nor the column lineage's
derivation are on the run's path.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    data_quality_metrics_dataset,
    dataset_version_dataset,
    error_message_run,
    job_type_job,
    output_statistics_output_dataset,
    parent_run,
    processing_engine_run,
)

from lakehouse.lineage.emitter import log_failure
from lakehouse.lineage.facets import (
    QuarantineDatasetFacet,
    assertions_facet,
    column_lineage_facet,
    dataset_facets,
    namespace_of,
    run_uuid,
    stored_edges_into,
)
from lakehouse.lineage.graph import LineageGraph

if TYPE_CHECKING:
    from lakehouse.config.settings import LineageSettings
    from lakehouse.contracts import Contract
    from lakehouse.engines.base import EntityResult
    from lakehouse.gold.model import GoldModel
    from lakehouse.lineage.emitter import StepFacts
    from lakehouse.store.root import Root

PRODUCER = "https://github.com/lakehouse/lakehouse"
PIPELINE_JOB = "lakehouse"


class EventWriter:
    """Builds and sends one run's events, one call at a time (the emitter's thread). Every
    public method is safe: it never raises."""

    def __init__(
        self,
        settings: LineageSettings,
        root: Root,
        run_id: str,
        started: dt.datetime,
        contracts: Mapping[str, Contract],
        models: Callable[[], Mapping[str, GoldModel]],
        engine: str,
    ) -> None:
        from lakehouse.lineage.transport import build_transport

        self.settings = settings
        self.root = root
        self.namespace = settings.namespace or namespace_of(root)
        self.run_id = run_id
        self.started = started
        self.contracts = contracts
        self.engine = engine
        self.enabled = settings.transport != "off"
        self._models = models
        self._graph: LineageGraph | None = None
        self._derive = self.enabled and settings.column_lineage
        self._read: set[str] = set()
        self._written: dict[str, OutputDataset] = {}
        self.client: OpenLineageClient | None = None
        if not self.enabled:
            return
        try:
            transport = build_transport(settings, root, run_id)
            self.client = OpenLineageClient(transport=transport)
        except Exception as exc:
            self.failed(exc)

    # --- the run ---------------------------------------------------------------------
    @property
    def pipeline_run_id(self) -> str:
        return run_uuid(self.namespace, self.run_id, self.started)

    def pipeline_start(self) -> None:
        self._emit(RunState.START, PIPELINE_JOB, self.pipeline_run_id, run_facets=self._engine())

    def pipeline_end(self, status: str, error: str | None) -> None:
        # names and versions: the steps' events carry the facets
        inputs = [
            InputDataset(namespace=self.namespace, name=n)
            for n in sorted(self._read - set(self._written))
        ]
        outputs = [
            OutputDataset(
                namespace=self.namespace,
                name=n,
                facets={k: v for k, v in (o.facets or {}).items() if k == "version"},
                outputFacets=o.outputFacets,
            )
            for n, o in sorted(self._written.items())
        ]
        state = RunState.COMPLETE if status == "SUCCEEDED" else RunState.FAIL
        facets = {**self._engine(), **self._error(error)}
        self._emit(state, PIPELINE_JOB, self.pipeline_run_id, facets, inputs, outputs)
        self.close()

    def close(self) -> None:
        if self.client is not None:
            try:
                self.client.close(timeout=self.settings.timeout_seconds)
            except Exception as exc:
                self.failed(exc)

    # --- steps -----------------------------------------------------------------------
    def step_start(self, step: str) -> None:
        self._emit(RunState.START, f"{PIPELINE_JOB}.{step}", self._step_id(step), self._parent())

    def step_end(self, facts: StepFacts, error: str | None = None) -> None:
        if not self.enabled or self.client is None:
            return
        try:
            inputs, outputs = self._step_datasets(facts)
        except Exception as exc:
            self.failed(exc)
            return
        self._read.update(i.name for i in inputs)
        self._written.update({o.name: o for o in outputs})
        kind = RunState.FAIL if error is not None else RunState.COMPLETE
        facets = {**self._parent(), **self._error(error)}
        step = facts.step
        self._emit(kind, f"{PIPELINE_JOB}.{step}", self._step_id(step), facets, inputs, outputs)

    def _step_id(self, step: str) -> str:
        return run_uuid(self.namespace, self.run_id, self.started, step)

    def _parent(self) -> dict[str, Any]:
        root = parent_run.Root(
            run=parent_run.RootRun(runId=self.pipeline_run_id),
            job=parent_run.RootJob(namespace=self.namespace, name=PIPELINE_JOB),
        )
        return {
            "parent": parent_run.ParentRunFacet(
                run=parent_run.Run(runId=self.pipeline_run_id),
                job=parent_run.Job(namespace=self.namespace, name=PIPELINE_JOB),
                root=root,
            )
        }

    def _engine(self) -> dict[str, Any]:
        from importlib.metadata import PackageNotFoundError, version

        try:
            own = version("lakehouse")
        except PackageNotFoundError:
            own = "unknown"
        return {
            "processing_engine": processing_engine_run.ProcessingEngineRunFacet(
                version=own, name=f"lakehouse-{self.engine}"
            )
        }

    @staticmethod
    def _error(error: str | None) -> dict[str, Any]:
        if error is None:
            return {}
        return {
            "errorMessage": error_message_run.ErrorMessageRunFacet(
                message=error, programmingLanguage="python"
            )
        }

    # --- datasets --------------------------------------------------------------------
    def _step_datasets(self, facts: StepFacts) -> tuple[list[InputDataset], list[OutputDataset]]:
        step, versions = facts.step, facts.versions
        if step == "bronze":
            rows = facts.landed_rows
            ins = [self._input(f"landing.{e}") for e in rows]
            outs = [
                self._output(f"bronze.{e}", versions.get(f"bronze.{e}"), n) for e, n in rows.items()
            ]
            return ins, outs
        if step.startswith("silver_"):
            entity = step.removeprefix("silver_")
            result = facts.entity
            contract = self.contracts[entity]
            if result is None or not (result.rows_in + result.rows_rechecked or result.versions):
                return [], []  # nothing of this entity arrived or waited
            parents = [self._input(f"silver.{fk.references}") for fk in contract.foreign_keys]
            checked = self._input(f"bronze.{entity}", assertions_facet(result))
            return [checked, *parents], self._entity_outputs(entity, result)
        if step == "gold":
            written = sorted(n for n in versions if n.startswith("gold."))
            graph = self._lineage_graph()
            reads: set[str] = set()
            if graph is not None:
                for name in written:
                    reads.update(e.source.table for e in stored_edges_into(graph, name))
            ins = [self._input(n) for n in sorted(reads - set(written))]
            outs = [self._output(n, versions[n], facts.gold_rows.get(n)) for n in written]
            return ins, outs
        return [], []

    def _entity_outputs(self, entity: str, r: EntityResult) -> list[OutputDataset]:
        silver, quarantine = f"silver.{entity}", f"quarantine.{entity}"
        checked = {
            "dataQualityMetrics": data_quality_metrics_dataset.DataQualityMetricsDatasetFacet(
                columnMetrics={}, rowCount=r.rows_in + r.rows_rechecked
            )
        }
        rejected = {
            **checked,
            "lakehouse_quarantine": QuarantineDatasetFacet(
                rowsQuarantined=r.quarantined, reasons=dict(sorted(r.reasons.items()))
            ),
        }
        outputs = [self._output(silver, r.versions.get(silver), r.inserted + r.updated, checked)]
        if quarantine in r.versions:
            outputs.append(
                self._output(quarantine, r.versions[quarantine], r.quarantined, rejected)
            )
        return outputs

    def _input(self, name: str, input_facets: Mapping[str, Any] | None = None) -> InputDataset:
        return InputDataset(
            namespace=self.namespace,
            name=name,
            facets=dataset_facets(name, self.contracts, self._models()),
            inputFacets=dict(input_facets or {}),
        )

    def _output(
        self,
        name: str,
        version: int | None,
        rows: int | None,
        extra: Mapping[str, Any] | None = None,
    ) -> OutputDataset:
        facets: dict[str, Any] = {
            **dataset_facets(name, self.contracts, self._models()),
            **(extra or {}),
        }
        if version is not None:
            facets["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(
                datasetVersion=str(version)
            )
        graph = self._lineage_graph()
        lineage = None if graph is None else column_lineage_facet(graph, name, self.namespace)
        if lineage is not None:
            facets["columnLineage"] = lineage
        output_facets: dict[str, Any] = {}
        if rows is not None:
            output_facets["outputStatistics"] = (
                output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(rowCount=rows)
            )
        return OutputDataset(
            namespace=self.namespace, name=name, facets=facets, outputFacets=output_facets
        )

    # --- plumbing --------------------------------------------------------------------
    def _lineage_graph(self) -> LineageGraph | None:
        """The column lineage, read when an event first needs it (`lakehouse.lineage.cache`:
        derived only once per definitions and release); None when it is off or failed."""
        if self._graph is None and self._derive:
            from lakehouse.lineage.cache import cached_graph

            try:
                self._graph = cached_graph(self.contracts, self._models())
            except Exception as exc:
                self._derive = False
                self.failed(exc, what="column lineage")
        return self._graph

    def _emit(
        self,
        state: RunState,
        job: str,
        run_id: str,
        run_facets: Mapping[str, Any] | None = None,
        inputs: list[InputDataset] | None = None,
        outputs: list[OutputDataset] | None = None,
    ) -> None:
        if not self.enabled or self.client is None:
            return
        try:
            self.client.emit(
                RunEvent(
                    eventType=state,
                    eventTime=dt.datetime.now(dt.UTC).isoformat(),
                    run=Run(runId=run_id, facets=dict(run_facets or {})),
                    job=Job(
                        namespace=self.namespace,
                        name=job,
                        facets={
                            "jobType": job_type_job.JobTypeJobFacet(
                                processingType="BATCH",
                                integration="LAKEHOUSE",
                                jobType="PIPELINE" if job == PIPELINE_JOB else "TASK",
                            )
                        },
                    ),
                    inputs=inputs or [],
                    outputs=outputs or [],
                    producer=PRODUCER,
                )
            )
        except Exception as exc:
            self.failed(exc)

    def failed(self, exc: BaseException, what: str = "events") -> None:
        """One warning; then the rest of the run's events are skipped (a collector that is down
        would otherwise cost its timeout on every event)."""
        if what == "events":
            self.enabled = False
        log_failure(self.run_id, self.settings.transport, exc, what)
