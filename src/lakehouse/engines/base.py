"""What an engine must do, and what it declares it can do (no `if engine ==` elsewhere)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

from lakehouse.contracts import Contract
from lakehouse.engines.dialect import Dialect
from lakehouse.store.delta import CommitInfo
from lakehouse.store.root import LandedFile, Root

if TYPE_CHECKING:
    from lakehouse.config.settings import GoldSettings, IntakeSettings
    from lakehouse.engines.recheck import Rechecked
    from lakehouse.gold.builds import Build
    from lakehouse.gold.refresh import GiveWay
    from lakehouse.ingest.intake import Intake

#: A run's rows from the readers: an Arrow table read on the driver, or a frame the engine
#: read on its own executors (`engines/spark/intake.py`)
Rows: TypeAlias = Any


@dataclass(frozen=True)
class Capabilities:
    name: str
    sql_dialect: Dialect  # what shared definitions are rendered to (engines/dialect.py)
    # steps run one after another (the engine parallelises each itself), and a run's rows stay
    # with the engine's executors: never split into chunks on the driver
    distributed: bool
    # gold tables the gold step writes at once: a distributed engine computes a model in its
    # write, and a small table's write costs mostly the driver's time (its Delta log, its
    # commit), which several writes overlap
    gold_writers: int = 1


@dataclass
class EntityResult:
    """Counts for one entity in one run; `rows_in + rows_rechecked == valid + quarantined`."""

    entity: str
    rows_in: int = 0
    rows_rechecked: int = 0
    valid: int = 0
    quarantined: int = 0
    released: int = 0
    superseded: int = 0  # waiting rows silver holds a later row of (`engines.sql.superseded_sql`)
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    versions: dict[str, int] = field(default_factory=dict)  # "silver.orders" -> version written
    reasons: dict[str, int] = field(default_factory=dict)  # reason code -> rows

    def check_accounting(self) -> None:
        """Raise AccountingError unless every row read is valid or quarantined, and every
        valid row inserted, updated or left unchanged in silver."""
        from lakehouse.errors import AccountingError

        r = self
        if r.rows_in + r.rows_rechecked != r.valid + r.quarantined:
            raise AccountingError(
                f"{r.entity}: read {r.rows_in} rows and re-checked {r.rows_rechecked}, but "
                f"{r.valid} were valid and {r.quarantined} quarantined; nothing was archived — "
                "report this as a bug with the run id"
            )
        if r.valid != r.inserted + r.updated + r.unchanged:
            raise AccountingError(
                f"{r.entity}: {r.valid} valid rows but silver inserted {r.inserted}, updated "
                f"{r.updated}, left {r.unchanged} unchanged"
            )

    def add(self, part: EntityResult) -> None:
        """Fold in the result of one more chunk of the same entity and run."""
        for name in (
            "rows_in",
            "rows_rechecked",
            "valid",
            "quarantined",
            "released",
            "superseded",
            "inserted",
            "updated",
            "unchanged",
        ):
            setattr(self, name, getattr(self, name) + getattr(part, name))
        self.versions.update(part.versions)
        for reason, n in part.reasons.items():
            self.reasons[reason] = self.reasons.get(reason, 0) + n


@dataclass(frozen=True)
class RunContext:
    run_id: str
    now: dt.datetime
    source_files: tuple[str, ...]
    current_shas: frozenset[str]
    # re-check quarantined rows waiting for a parent: once per entity and run (the first chunk)
    recheck_waiting: bool = True
    # files of the run's earlier chunks: their rows are stored, earlier deliveries than this
    # chunk's (`lakehouse.engines.waiting`)
    done_shas: frozenset[str] = frozenset()

    def commit(self, operation: str, contract: Contract | None = None) -> CommitInfo:
        """Commit metadata: run id, step, source files and the contract version applied."""
        extra: dict[str, object] = {}
        if contract is not None:
            extra = {
                "contract": f"{contract.entity}@v{contract.version}",
                "contract_columns": contract.column_specs(),
            }
        return CommitInfo(self.run_id, operation, self.source_files, extra)


class Engine(Protocol):
    capabilities: Capabilities
    root: Root
    gold_rows: dict[str, int]  # "gold.<model>" -> rows of its last write by `refresh_gold`

    def take_in_all(
        self,
        landed: Sequence[LandedFile],
        contracts: Mapping[str, Contract],
        limits: IntakeSettings,
        run_id: str,
        now: dt.datetime,
    ) -> Iterator[Intake]:
        """Each landed file read and checked, in order (on the driver or on the executors)."""
        ...

    def bronze_rows(
        self,
        contract: Contract,
        items: list[Intake],
        seqs: dict[str, int],
        run_id: str,
        now: dt.datetime,
    ) -> Rows:
        """The accepted files' rows in the bronze layout, with the run's `_seq` and `_recheck`:
        an Arrow table, or a frame of the engine's own when it read them on its executors."""
        ...

    def write_bronze(
        self, contract: Contract, rows: Rows, shas: list[str], ctx: RunContext
    ) -> int | None:
        """Append rows of files not yet in bronze (idempotent per file hash); version or None."""
        ...

    def process_entity(self, contract: Contract, rows: Rows, ctx: RunContext) -> EntityResult:
        """Validate new rows (and waiting orphans), merge valid rows into silver, quarantine."""
        ...

    def recheck_children(
        self, contracts: Mapping[str, Contract], ctx: RunContext, history: list[Build]
    ) -> Rechecked:
        """Move child rows that disagree with a parent changed since the last gold build from
        silver to quarantine (`lakehouse.engines.recheck`)."""
        ...

    def refresh_gold(
        self,
        run_id: str,
        now: dt.datetime,
        settings: GoldSettings | None = None,
        *,
        refresh_all: bool = False,
        give_way: GiveWay | None = None,
        history: list[Build] | None = None,
    ) -> dict[str, int]:
        """Recompute gold for what changed in silver since the last build; versions written.
        With `give_way`, it may leave budget models for waiting work (`GiveWay.left`)."""
        ...

    def close(self) -> None: ...
