"""A check that tells a run's budget gold models to give way to waiting work
(`pipeline.run(gold_gives_way=...)`, `lakehouse.gold.refresh.GiveWay`) when the run takes
everything in landing/: the Glue job. (`watch` asks its own watcher: a drop beside its batch.)

On AWS every batch starts a Step Functions execution of its own, whose job run waits for the
one before (Glue runs one at a time: the state machine retries a refused start; then the root's
lock). A delivery that lands while a run refreshes its budget models therefore has a run
waiting behind that refresh: the models left stay behind, still due, and the waiting run takes
them up after its own every-run models.
"""

from __future__ import annotations

from collections.abc import Callable

from lakehouse.log import event
from lakehouse.store.root import Root


def landed_since(root: Root) -> Callable[[], bool]:
    """Whether a batch has landed in landing/ since this was called: an object new since then
    (or put again with other bytes) that completes a batch by the trigger's rule
    (`lakehouse.aws.trigger.batch_of`: a file directly under landing/, or a folder's marker),
    so an execution was started for it. A file of a folder whose marker has not landed starts
    nothing, and waits for nothing. A listing that fails says no: the refresh goes on rather
    than the run failing."""
    from lakehouse.aws.trigger import S3Object, batch_of

    def listing() -> set[tuple[str, int, int]] | None:
        try:
            return {(f.relative, f.size, f.mtime_ns) for f in root.walk_files("landing")}
        except Exception as exc:
            event("give_way_listing_failed", error=f"{type(exc).__name__}: {exc}")
            return None

    seen = listing()

    def waiting() -> bool:
        now = None if seen is None else listing()
        if seen is None or now is None:  # never listed: never gives way
            return False
        return any(batch_of(S3Object("landing", rel)) is not None for rel, _, _ in now - seen)

    return waiting
