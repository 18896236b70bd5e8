"""How fresh each gold model is, and which "budget" models a refresh takes up now.

A model declared ``freshness = "every run"`` is refreshed by every run that changes what it
reads. A ``budget`` model, a global analysis that reads everything (pairs, segments, ranks, or
a by_product model a day touches whole, such as reorder patterns), may lag silver by its
staleness budget (``[gold] staleness_minutes``, or ``[gold.models.<name>]``):

- a refresh that changes what it reads, or finds it behind already, *defers* it (the build
  records it in ``_ops.gold_builds.deferred``) until the budget is spent;
- the budget counts from the model's *as-of* time: the last build at which it was current, so
  a table is never more than its budget behind the silver it summarizes;
- once spent, the next refresh (a run, or ``watch`` between drops) rebuilds it after every
  every-run model is committed; ``--refresh all`` takes every behind model up at once;
- a due model that was current before the refresh is refreshed by its own policy, for the
  refresh's changes only (a ``by_product`` model: the touched products), as an every-run one;
- a table that does not exist yet is always built.

A budget of 0 makes a budget model refresh like an every-run one. `lakehouse status` shows each
budget model's as-of time and staleness, and a model past its budget is an SLA breach.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from lakehouse.gold.builds import Build, builds
from lakehouse.gold.model import list_models
from lakehouse.gold.plan import Override, Touched, plan_refresh
from lakehouse.store.root import Root

if TYPE_CHECKING:
    from lakehouse.config.settings import GoldSettings

ZERO = dt.timedelta(0)
#: What a run refreshes of the budget models: those whose budget is spent, or all behind.
GoldRefresh = Literal["due", "all"]


@dataclass(frozen=True)
class ModelFreshness:
    model: str
    budget: dt.timedelta | None  # None: every run
    as_of: dt.datetime | None  # the table holds silver as of this build (None: never built)
    behind: bool  # silver changed since, in what the model reads

    def staleness(self, now: dt.datetime) -> dt.timedelta:
        if not self.behind or self.as_of is None:
            return ZERO
        return max(now - self.as_of, ZERO)

    @property
    def due_at(self) -> dt.datetime | None:
        """When its budget is used up, if it is behind by then (None: never built)."""
        return None if self.as_of is None else self.as_of + (self.budget or ZERO)

    def spent(self, now: dt.datetime) -> bool:
        """Its budget is used up at `now` once it is behind (never built: always)."""
        return self.due_at is None or now >= self.due_at

    def past_budget(self, now: dt.datetime) -> bool:
        """Behind for longer than its budget: no refresh took it up in time (an SLA breach)."""
        return self.budget is not None and self.behind and self.staleness(now) > self.budget


def freshness(
    root: Root, settings: GoldSettings, history: list[Build] | None = None
) -> dict[str, ModelFreshness]:
    """Every gold model's freshness, from the recorded builds (default: `builds(root)`)."""
    history = builds(root) if history is None else history
    out = {}
    for m in list_models():
        budget = settings.budget(m.name) if m.freshness == "budget" else None
        as_of = next((b.built_at for b in history if m.name not in b.deferred), None)
        behind = not history or m.name in history[0].deferred
        out[m.name] = ModelFreshness(m.name, budget, as_of, behind)
    return out


@dataclass(frozen=True)
class Schedule:
    """What a refresh does with the budget models beyond its plan for `touched`."""

    #: budget models rebuilt now ("overwrite") or left behind ("skip")
    overrides: Mapping[str, Override]
    deferred: frozenset[str]  # behind after this refresh

    @property
    def rebuilds(self) -> bool:
        return "overwrite" in self.overrides.values()


def schedule(
    touched: Touched,
    states: Mapping[str, ModelFreshness],
    now: dt.datetime,
    *,
    missing: Collection[str] = (),
    refresh_all: bool = False,
) -> Schedule:
    """Which budget models a refresh for `touched` at `now` rebuilds, and which it defers.

    `missing`: models whose table does not exist (built whole, every-run ones too);
    `refresh_all`: every behind model is rebuilt, whatever its budget.
    """
    models = {m.name: m for m in list_models()}
    behind = {
        name
        for name, m in models.items()
        if m.freshness == "budget"
        and (states[name].behind or plan_refresh(m, touched).mode != "skip" or name in missing)
    }
    due = {n for n in behind if refresh_all or n in missing or states[n].spent(now)}
    grown = True
    while grown:  # a model rebuilt now reads current inputs: the behind ones it reads come too
        wanted = {d for n in due for d in models[n].depends_on if d in behind}
        grown = not wanted <= due
        due |= wanted
    # a due model that was current before this refresh needs only this refresh's changes: its
    # own plan (a by_product model: the touched products); one behind since an earlier build
    # does not know what changed since then, so it is rebuilt whole
    own_plan = {n for n in due if not states[n].behind and n not in missing}
    overrides: dict[str, Override] = {
        n: "overwrite" if n in due else "skip" for n in sorted(behind - own_plan)
    }
    overrides.update({n: "overwrite" for n in missing})
    return Schedule(overrides, frozenset(behind - due))
