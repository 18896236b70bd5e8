"""The gold step of the shared flow: refresh gold for what changed in silver since the last
build, each table committed as soon as its model is computed (`FlowEngine.refresh_gold`)."""

from __future__ import annotations

import datetime as dt
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from lakehouse.faults import fault_point
from lakehouse.log import event
from lakehouse.store.delta import CommitInfo

if TYPE_CHECKING:
    from lakehouse.config.settings import GoldSettings
    from lakehouse.engines.flow import FlowEngine
    from lakehouse.gold.builds import Build
    from lakehouse.gold.refresh import GiveWay
    from lakehouse.gold.session import GoldWrite


def refresh(
    engine: FlowEngine,
    run_id: str,
    now: dt.datetime,
    settings: GoldSettings | None = None,
    *,
    refresh_all: bool = False,
    give_way: GiveWay | None = None,
    history: list[Build] | None = None,
) -> dict[str, int]:
    """Refresh gold on `engine` for what changed in silver since the last build; versions
    written (and each table's rows in `engine.gold_rows`).

    Every-run models are refreshed for those changes; budget models only once their
    staleness budget (`settings`) is spent, or all of them with `refresh_all`
    (`lakehouse.gold.freshness`). With `give_way`, the budget models it leaves for waiting
    work are recorded as deferred, as if their budget were not spent yet. `history`: the gold
    builds as the caller read them (default: read here)."""
    from lakehouse.config.settings import GoldSettings
    from lakehouse.gold import get_model, refresh_gold
    from lakehouse.gold.builds import (
        SILVER,
        additive_inputs,
        additive_rebuilds,
        builds,
        definition_digest,
        pending,
        record_build,
    )
    from lakehouse.gold.freshness import freshness, schedule

    if history is None:  # read once for both questions
        history = builds(engine.root)
    todo = pending(engine.root, history)
    if todo is None:
        return {}
    states = freshness(engine.root, settings or GoldSettings(), history)
    plan = schedule(todo.touched, states, now, missing=todo.missing, refresh_all=refresh_all)
    if todo.nothing and not plan.rebuilds:
        return {}
    a = engine.adapter
    for entity in SILVER:
        a.put_delta(a.sources[f"silver.{entity}"], "silver", entity, (), reread=True)
    rebuilt = additive_rebuilds(engine.root, todo)
    before: dict[str, str] = {}  # silver as the previous build read it: additive models
    read_then = todo.before or {}
    for table in additive_inputs(exclude=rebuilt) if read_then else ():
        entity = table.removeprefix("silver.")
        before[table] = f"{a.sources[table]}__before"
        a.put_delta(before[table], "silver", entity, (), version=read_then[entity])
    computed: dict[str, float] = {}
    versions: dict[str, int] = {}
    written: dict[str, float] = {}
    touched = todo.touched.describe()
    commit = CommitInfo(
        run_id, "gold_refresh", (), {"touched": touched, "silver_versions": todo.versions}
    )
    writes = refresh_gold(
        a,
        todo.touched,
        lambda name: a.read_delta("gold", name),
        timings=computed,
        overrides={**rebuilt, **plan.overrides},
        before=before or None,
        give_way=give_way,
    )

    def write(w: GoldWrite[Any]) -> None:
        began = time.perf_counter()
        made = replace(commit, extra={**commit.extra, "model_digest": definition_digest(w.model)})
        version, rows = a.write_gold(w, get_model(w.model).description, made)
        versions[f"gold.{w.model}"] = version
        engine.gold_rows[f"gold.{w.model}"] = rows
        written[w.model] = time.perf_counter() - began
        fault_point(f"gold_written:{w.model}")

    # each table is written as soon as its model is computed, daily sales first, on threads
    # of their own while the next model is computed: the local engine one write at a time, in
    # order; a distributed engine, which computes a model in its write, several at once
    writers = engine.capabilities.gold_writers
    pool = ThreadPoolExecutor(writers, thread_name_prefix="gold-write")
    in_flight: deque[Future[None]] = deque()
    try:
        for w in writes:
            while len(in_flight) >= writers:
                in_flight.popleft().result()  # a failed write stops the refresh here
            in_flight.append(pool.submit(write, w))
        while in_flight:
            in_flight.popleft().result()
    finally:
        pool.shutdown(wait=True)  # writes under way end before relations go
        writes.close()  # a failed write: the models' relations are dropped first
        for entity in SILVER:
            a.forget(a.sources[f"silver.{entity}"])
        for relation in before.values():
            a.forget(relation)
    left = give_way.left if give_way is not None else []
    record_build(engine.root, todo, run_id, now, len(versions), plan.deferred | set(left))
    event(
        "gold_refreshed",
        run_id=run_id,
        touched=touched,
        deferred=sorted(plan.deferred),
        gave_way=left,
        compute_s=_slowest_first(computed),
        write_s=_slowest_first(written),
    )
    return versions


def _slowest_first(seconds: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 3) for k, v in sorted(seconds.items(), key=lambda kv: -kv[1])}
