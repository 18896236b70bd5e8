"""What each step hands to the steps after it: one typed result per step (`RunState.results`).

A step returns its result; the runner keeps `result.to_output()` as the step's output
(`steps.<name>`, in ASL `$.steps.<name>`, where a Gate reads it), so that dict is derived in
one place. Steps with nothing to hand on (catalog_sync, maintain, notify, record_failure)
return their output dict directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from lakehouse.engines.base import EntityResult, Rows
    from lakehouse.ingest.intake import Intake
    from lakehouse.monitoring.sla import Finding
    from lakehouse.store import ops
    from lakehouse.store.root import LandedFile


@runtime_checkable
class StepResult(Protocol):
    """What the runner recognises as a typed result (anything else is taken as the dict)."""

    def to_output(self) -> dict[str, Any]: ...


#: A file's move when the run is archived: (path in landing/, destination, the `.reason.json`
#: written next to a rejected file, or None)
Move = tuple[str, str, str | None]


@dataclass(frozen=True)
class Discovered:
    """discover: the files this run reads, in arrival order, and the files manifest."""

    landed: tuple[LandedFile, ...] = ()
    known: Mapping[str, ops.KnownFile] = field(default_factory=dict)  # sha256 -> manifest entry
    # files not read at all, name -> (why, their path in landing/ or None if never copied in)
    refused: Mapping[str, tuple[str, str | None]] = field(default_factory=dict)

    def to_output(self) -> dict[str, Any]:
        return {
            "files": len(self.landed) + len(self.refused),
            "bytes": sum(f.size for f in self.landed),
        }


@dataclass
class BronzeResult:
    """bronze: the run's new files and their rows, and what archive will record and move.

    Not frozen: the step fills it as it reads (a retry starts a new one), so a failed
    attempt's lineage event still names the files it took in; silver takes its entity's
    `spills` (and deletes their files) once merged."""

    fresh: list[Intake] = field(default_factory=list)  # files loaded, in `_seq` order
    seqs: dict[str, int] = field(default_factory=dict)  # their sha256 -> `_seq`
    records: list[ops.FileRecord] = field(default_factory=list)  # the manifest rows
    moves: list[Move] = field(default_factory=list)
    rows: dict[str, Rows] = field(default_factory=dict)  # entity -> its rows, kept for silver
    # a run too big for memory: entity -> [(scratch Arrow file of one chunk's rows, its files)]
    spills: dict[str, list[tuple[str, list[Intake]]]] = field(default_factory=dict)
    bytes_in: dict[str, int] = field(default_factory=dict)  # entity -> bytes of its files
    rows_appended: int = 0

    def to_output(self) -> dict[str, Any]:
        # a rejected file has one "rejected" record: its names are RunSummary.files_rejected
        rejected = {r.file for r in self.records if r.status == "rejected"}
        return {"loaded": len(self.fresh), "rejected": len(rejected), "rows": self.rows_appended}


@dataclass(frozen=True)
class SilverResult:
    """silver_<entity>: the entity's counts (also `RunSummary.entities[entity]`) and the
    landing-to-silver latency of its newest file, in seconds (None: no file of it arrived)."""

    entity: EntityResult
    latency: float | None

    def to_output(self) -> dict[str, Any]:
        r = self.entity
        return {"rows_in": r.rows_in, "valid": r.valid, "quarantined": r.quarantined}


@dataclass(frozen=True)
class GoldResult:
    """gold: how many tables this attempt wrote; rows of each write of the run's engine."""

    tables_written: int = 0
    rows_written: Mapping[str, int] = field(default_factory=dict)  # "gold.<model>" -> rows
    gave_way: tuple[str, ...] = ()  # budget models left for waiting work (`GiveWay`)

    def to_output(self) -> dict[str, Any]:
        return {"tables_written": self.tables_written, "gave_way": list(self.gave_way)}


@dataclass(frozen=True)
class QualityResult:
    """quality: the SLA findings, for notify."""

    findings: tuple[Finding, ...] = ()

    def to_output(self) -> dict[str, Any]:
        breached = [f for f in self.findings if f.breached]
        return {"checks": len(self.findings), "breached": len(breached)}


@dataclass(frozen=True)
class ArchiveResult:
    """archive: `manifest` is set as soon as the manifest is written, so a retry does not
    write it twice; `moved`: files moved out of landing/."""

    manifest: bool = False
    moved: int = 0

    def to_output(self) -> dict[str, Any]:
        return {"manifest": self.manifest, "moved": self.moved}


@dataclass
class StepResults:
    """Each step's result, written only by that step. A step the gate skipped keeps its
    empty result (nothing landed: bronze moved nothing, silver merged nothing)."""

    discover: Discovered = field(default_factory=Discovered)
    bronze: BronzeResult = field(default_factory=BronzeResult)
    silver: dict[str, SilverResult] = field(default_factory=dict)  # entity -> result
    gold: GoldResult = field(default_factory=GoldResult)
    quality: QualityResult = field(default_factory=QualityResult)
    archive: ArchiveResult = field(default_factory=ArchiveResult)
