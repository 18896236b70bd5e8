"""OpenLineage run events: START and COMPLETE / FAIL for the run and each step, with datasets,
versions, row counts, data quality and column lineage; file (default) and HTTP transports; a
collector that is down costs one warning, never the run.

The OpenLineage JSON schema is not shipped by any package this project installs, so events are
validated by rebuilding them with the `openlineage-python` client's own (attrs-validated) classes
and by checking the spec's required fields by hand.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from openlineage.client.event_v2 import Job, Run, RunEvent, RunState
from openlineage.client.facet_v2 import column_lineage_dataset, parent_run

from conftest import TWO_ORDERS
from lakehouse.config.settings import LineageSettings, Settings
from lakehouse.errors import TerminalError
from lakehouse.orchestration.definition import pipeline_definition
from lakehouse.orchestration.pipeline import copy_sources, run
from lakehouse.store.root import Root

pytest_plugins = ["aws_fixtures"]


def deliver(tmp: Path, root: Root) -> None:
    src = tmp / "in" / "orders_1.csv"
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_text(TWO_ORDERS)
    copy_sources(root, [src])


def events_of(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines if line.strip()]


def check_spec(e: dict[str, Any]) -> None:
    """Required fields of a RunEvent (spec 2-0-2), and the client's classes accept the facets."""
    assert set(e) >= {"eventTime", "eventType", "producer", "schemaURL", "run", "job"}
    assert e["schemaURL"].startswith("https://openlineage.io/spec/")
    assert dt.datetime.fromisoformat(e["eventTime"]).tzinfo is not None
    assert uuid.UUID(e["run"]["runId"]).version == 7
    RunEvent(  # validators: event type, run id, time
        eventType=RunState(e["eventType"]),
        eventTime=e["eventTime"],
        run=Run(runId=e["run"]["runId"]),
        job=Job(namespace=e["job"]["namespace"], name=e["job"]["name"]),
        producer=e["producer"],
    )
    for facet in [
        *e["run"].get("facets", {}).values(),
        *(f for d in e.get("inputs", []) + e.get("outputs", []) for f in d["facets"].values()),
    ]:
        assert facet["_producer"] and facet["_schemaURL"].startswith("http")
    for d in e.get("outputs", []):
        lineage = d["facets"].get("columnLineage")
        if lineage:
            column_lineage_dataset.ColumnLineageDatasetFacet(
                fields={
                    k: column_lineage_dataset.Fields(
                        inputFields=[
                            column_lineage_dataset.InputField(
                                namespace=i["namespace"],
                                name=i["name"],
                                field=i["field"],
                                transformations=[
                                    column_lineage_dataset.Transformation(**t)
                                    for t in i["transformations"]
                                ],
                            )
                            for i in v["inputFields"]
                        ]
                    )
                    for k, v in lineage["fields"].items()
                }
            )


@pytest.fixture(scope="module")
def file_run(two_orders_lake: Path) -> tuple[Root, list[dict[str, Any]]]:
    lines = (two_orders_lake / "_ops" / "lineage" / "events.jsonl").read_text().splitlines()
    return Root(str(two_orders_lake)), events_of(lines)


def by_job(events: list[dict[str, Any]], job: str, kind: str) -> dict[str, Any]:
    found = [e for e in events if e["job"]["name"] == job and e["eventType"] == kind]
    assert len(found) == 1, (job, kind, [(e["job"]["name"], e["eventType"]) for e in events])
    return found[0]


def test_every_step_starts_and_completes_under_the_run(
    file_run: tuple[Root, list[dict[str, Any]]],
) -> None:
    root, events = file_run
    namespace = Path(root.uri).resolve().as_uri()
    for e in events:
        check_spec(e)
        assert e["job"]["namespace"] == namespace
    first, last = events[0], events[-1]
    assert (first["job"]["name"], first["eventType"]) == ("lakehouse", "START")
    assert (last["job"]["name"], last["eventType"]) == ("lakehouse", "COMPLETE")
    run_id = first["run"]["runId"]
    steps = [e for e in events if e["job"]["name"] != "lakehouse"]
    names = [e["job"]["name"] for e in steps if e["eventType"] == "START"]
    assert {
        "lakehouse.discover",
        "lakehouse.bronze",
        "lakehouse.silver_orders",
        "lakehouse.silver_products",
        "lakehouse.silver_order_items",
        "lakehouse.gold",
        "lakehouse.archive",
        "lakehouse.notify",
    } <= set(names)
    for name in names:
        start, end = by_job(events, name, "START"), by_job(events, name, "COMPLETE")
        assert start["run"]["runId"] == end["run"]["runId"] != run_id
        parent = end["run"]["facets"]["parent"]
        assert parent["run"]["runId"] == run_id
        assert (parent["job"]["namespace"], parent["job"]["name"]) == (namespace, "lakehouse")
        assert parent["root"]["run"]["runId"] == run_id
        parent_run.ParentRunFacet(  # the client's class accepts it
            run=parent_run.Run(runId=parent["run"]["runId"]),
            job=parent_run.Job(namespace=namespace, name="lakehouse"),
        )


def test_silver_step_reports_versions_rows_and_quarantine_reasons(
    file_run: tuple[Root, list[dict[str, Any]]],
) -> None:
    _, events = file_run
    silver = by_job(events, "lakehouse.silver_orders", "COMPLETE")
    assert [i["name"] for i in silver["inputs"]] == ["bronze.orders"]
    assertions = silver["inputs"][0]["inputFacets"]["dataQualityAssertions"]["assertions"]
    assert assertions == [
        {
            "assertion": "invalid_enum:payment_method",
            "success": False,
            "column": "payment_method",
            "params": {},
        }
    ]
    outputs = {o["name"]: o for o in silver["outputs"]}
    assert set(outputs) == {"silver.orders", "quarantine.orders"}
    s, q = outputs["silver.orders"], outputs["quarantine.orders"]
    assert s["facets"]["version"]["datasetVersion"] == "1"  # 0: created empty by the bronze step
    assert s["outputFacets"]["outputStatistics"]["rowCount"] == 1
    assert q["outputFacets"]["outputStatistics"]["rowCount"] == 1
    assert q["facets"]["lakehouse_quarantine"]["reasons"] == {"invalid_enum:payment_method": 1}
    assert s["facets"]["dataQualityMetrics"]["rowCount"] == 2
    fields = {f["name"]: f for f in s["facets"]["schema"]["fields"]}
    assert fields["total_amount"]["type"] == "decimal128(12, 2)"
    assert fields["payment_method"]["description"].startswith("How the order was paid.")
    lineage = s["facets"]["columnLineage"]["fields"]["total_amount"]["inputFields"]
    assert {
        "namespace": s["namespace"],
        "name": "bronze.orders",
        "field": "total_amount",
        "transformations": [{"type": "DIRECT"}],
    } in [
        {k: v for k, v in i.items() if k != "transformations"}
        | {"transformations": [{"type": t["type"]} for t in i["transformations"]]}
        for i in lineage
    ]


def test_gold_step_names_its_tables_versions_and_column_lineage(
    file_run: tuple[Root, list[dict[str, Any]]],
) -> None:
    _, events = file_run
    gold = by_job(events, "lakehouse.gold", "COMPLETE")
    outputs = {o["name"]: o for o in gold["outputs"]}
    assert "gold.sales_daily" in outputs and "gold.line_revenue" not in outputs  # ephemeral
    assert outputs["gold.sales_daily"]["facets"]["version"]["datasetVersion"] == "1"
    stats = outputs["gold.sales_daily"]["outputFacets"]["outputStatistics"]
    assert stats["rowCount"] == 1  # one valid order, one day
    assert {i["name"] for i in gold["inputs"]} == {
        "silver.orders",
        "silver.order_items",
        "silver.products",
    }
    revenue = outputs["gold.product_days"]["facets"]["columnLineage"]["fields"]["revenue"]
    direct = {
        (i["name"], i["field"])
        for i in revenue["inputFields"]
        if i["transformations"][0]["type"] == "DIRECT"
    }
    # looked through the ephemeral gold.line_revenue to the stored columns
    assert {
        ("silver.order_items", "quantity"),
        ("silver.order_items", "unit_price"),
        ("silver.orders", "total_amount"),
    } <= direct
    end = by_job(events, "lakehouse", "COMPLETE")
    written = {o["name"]: o["facets"]["version"]["datasetVersion"] for o in end["outputs"]}
    assert written["bronze.orders"] == "1" and written["gold.sales_daily"] == "1"


def test_a_failing_step_sends_fail_with_the_error(tmp_path: Path) -> None:
    root = Root(str(tmp_path / "lake"))
    deliver(tmp_path, root)

    def boom(state: Any) -> None:
        raise TerminalError("the disk said no")

    with pytest.raises(TerminalError):
        run(root, definition=pipeline_definition().replace_task("bronze", fn=boom))
    events = events_of((tmp_path / "lake" / "_ops/lineage/events.jsonl").read_text().splitlines())
    failed = by_job(events, "lakehouse.bronze", "FAIL")
    assert failed["run"]["facets"]["errorMessage"]["message"] == "TerminalError: the disk said no"
    end = by_job(events, "lakehouse", "FAIL")
    assert end["run"]["facets"]["errorMessage"]["message"] == "TerminalError: the disk said no"
    by_job(events, "lakehouse.record_failure", "COMPLETE")


class Collector:
    """A lineage collector on 127.0.0.1 (what Marquez exposes: POST /api/v1/lineage)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, Any], str]] = []
        self.answering = threading.Event()  # cleared: every request waits until it is set
        self.answering.set()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                outer.answering.wait()
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.received.append(
                    (self.path, json.loads(body), self.headers.get("Authorization", ""))
                )
                self.send_response(201)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def collector() -> Iterator[Collector]:
    c = Collector()
    c.thread.start()
    yield c
    c.server.shutdown()
    c.server.server_close()


def http_settings(url: str, timeout: float = 2.0) -> Settings:
    from lakehouse.config.settings import Secret

    return Settings(
        lineage=LineageSettings(
            transport="http", url=url, api_key=Secret("k-123"), timeout_seconds=timeout
        )
    )


def test_http_transport_sends_the_run_to_a_collector(tmp_path: Path, collector: Collector) -> None:
    root = Root(str(tmp_path / "lake"))
    deliver(tmp_path, root)
    summary = run(root, settings=http_settings(collector.url), definition=without_gold())
    assert summary.status == "SUCCEEDED"
    paths = {p for p, _, _ in collector.received}
    assert paths == {"/api/v1/lineage"}
    assert {a for _, _, a in collector.received} == {"Bearer k-123"}
    events = [e for _, e, _ in collector.received]
    for e in events:
        check_spec(e)
    assert (events[0]["job"]["name"], events[0]["eventType"]) == ("lakehouse", "START")
    assert (events[-1]["job"]["name"], events[-1]["eventType"]) == ("lakehouse", "COMPLETE")
    silver = by_job(events, "lakehouse.silver_orders", "COMPLETE")
    assert {o["name"] for o in silver["outputs"]} == {"silver.orders", "quarantine.orders"}
    by_job(events, "lakehouse.gold", "COMPLETE")  # its datasets: test_gold_step_names_...
    assert not (tmp_path / "lake" / "_ops" / "lineage").exists()


def test_a_slow_collector_does_not_hold_the_steps(tmp_path: Path, collector: Collector) -> None:
    """Events are sent from the emitter's own thread: while the collector answers nothing, the
    run still reads, validates and writes gold; its end waits for the events, in order."""
    root = Root(str(tmp_path / "lake"))
    deliver(tmp_path, root)
    settings = http_settings(collector.url, timeout=120)  # on the steps' path: one event stalls
    collector.answering.clear()
    done: list[Any] = []
    running = threading.Thread(target=lambda: done.append(run(root, settings=settings)))
    running.start()
    try:
        gold = tmp_path / "lake" / "gold" / "sales_daily" / "_delta_log"
        deadline = time.monotonic() + 60
        while not gold.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert gold.exists() and collector.received == []  # gold written, nothing answered
        assert running.is_alive()  # the run's end waits for its events
    finally:
        collector.answering.set()
        running.join(120)
    assert done and done[0].status == "SUCCEEDED"
    kinds = [(e["job"]["name"], e["eventType"]) for _, e, _ in collector.received]
    assert kinds[0] == ("lakehouse", "START") and kinds[-1] == ("lakehouse", "COMPLETE")
    assert kinds.index(("lakehouse.bronze", "START")) < kinds.index(("lakehouse.gold", "COMPLETE"))
    gold_done = by_job([e for _, e, _ in collector.received], "lakehouse.gold", "COMPLETE")
    assert "gold.sales_daily" in {o["name"] for o in gold_done["outputs"]}


def test_a_collector_that_is_down_costs_one_warning_not_the_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler) as s:
        down = f"http://127.0.0.1:{s.server_address[1]}"  # closed when the block ends
    root = Root(str(tmp_path / "lake"))
    deliver(tmp_path, root)
    log = logging.getLogger("lakehouse")
    log.addHandler(caplog.handler)
    caplog.set_level(logging.WARNING, logger="lakehouse")
    try:
        began = time.perf_counter()
        summary = run(root, settings=http_settings(down), definition=without_gold())
        took = time.perf_counter() - began
    finally:
        log.removeHandler(caplog.handler)
    assert summary.status == "SUCCEEDED"
    warned = {id(r): r for r in caplog.records if r.getMessage() == "lineage_emit_failed"}
    assert len(warned) == 1
    fields = next(iter(warned.values())).fields  # type: ignore[attr-defined]
    assert fields["transport"] == "http" and "ConnectionError" in fields["error"]
    assert took < 30


def without_gold() -> Any:
    """The HTTP tests need a run's events, not its gold tables: the gold step is a no-op (the
    gold events' content is tested on the shared file-transport run)."""
    return pipeline_definition().replace_task("gold", fn=lambda state: {"tables_written": 0})


@pytest.mark.aws
def test_file_transport_on_s3_writes_one_object_per_run(aws: Any) -> None:
    from lakehouse.contracts import load_contracts
    from lakehouse.gold.model import all_models
    from lakehouse.lineage.emitter import Emitter

    bucket = aws.bucket("lineage")
    root = Root(f"s3://{bucket}/prod")
    started = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    settings = LineageSettings(column_lineage=False)
    emitter = Emitter(settings, root, "r-1", started, load_contracts(), all_models, "local")
    emitter.pipeline_start()
    emitter.step_start("discover")
    emitter.pipeline_end("SUCCEEDED", None)
    body = aws.client("s3").get_object(Bucket=bucket, Key="prod/_ops/lineage/events/r-1.jsonl")
    events = events_of(body["Body"].read().decode().splitlines())
    assert [(e["job"]["name"], e["eventType"]) for e in events] == [
        ("lakehouse", "START"),
        ("lakehouse.discover", "START"),
        ("lakehouse", "COMPLETE"),
    ]
    assert {e["job"]["namespace"] for e in events} == {f"s3://{bucket}/prod"}


def test_lineage_settings_are_checked(tmp_path: Path) -> None:
    from lakehouse.config import loader

    (tmp_path / "lakehouse.toml").write_text(
        '[lineage]\ntransport = "http"\nurl = "http://collector:5000"\napi_key = "s3cret"\n'
    )
    loaded = loader.load(path=tmp_path / "lakehouse.toml", env={}, entities=[])
    assert (loaded.lineage.transport, loaded.lineage.url) == ("http", "http://collector:5000")
    assert loaded.lineage.api_key is not None and loaded.lineage.api_key.reveal() == "s3cret"
    assert loaded.redacted()["lineage"]["api_key"] == "***"
    assert loader.load(env={}, entities=[]).lineage.transport == "file"
    refused = {
        "LAKEHOUSE__LINEAGE__TRANSPORT": "kafka",
        "LAKEHOUSE__LINEAGE__TIMEOUT_SECONDS": "0",
    }
    for key, value in refused.items():
        with pytest.raises(loader.ConfigError, match=key):
            loader.load(env={key: value}, entities=[])
    with pytest.raises(loader.ConfigError, match="needs url"):
        loader.load(env={"LAKEHOUSE__LINEAGE__TRANSPORT": "http"}, entities=[])
