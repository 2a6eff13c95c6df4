"""The TrainingBudgets and TrainingJob labels the budget gate and the budgets' status read, from two
watch-fed kopf indexes (handlers/budget.py), with no LIST; plus what the gate remembers between
looks: the worst case of runs it let through that the index does not show created yet, and which
budget held which run.

The indexes reach it the way the run ledger's does: every handler is handed every kopf index, and
the run handlers attach them (handlers/run_ledger.attach), so a run's first look, even right after a
restart, already sees every budget of its namespace.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from typing import Any

from ..core.budget_plan import Budget, Window, gone_cost
from ..core.times import parse_time

BUDGETS_INDEX = "budgets_by_namespace"
JOB_LABELS_INDEX = "job_labels_by_namespace"

Index = Mapping[str, Iterable[Mapping[str, Any]]]


def budget_entry(body: Mapping[str, Any]) -> dict[str, Any]:
    meta, status = body.get("metadata") or {}, body.get("status") or {}
    return {
        "name": str(meta.get("name")),
        "uid": str(meta.get("uid")),
        "deleting": bool(meta.get("deletionTimestamp")),
        "spec": dict(body.get("spec") or {}),
        # What deleted runs cost this period (status.carried), for the gate.
        "carried": status.get("carried"),
        "periodStart": status.get("periodStart"),
    }


def job_labels_entry(body: Mapping[str, Any]) -> dict[str, Any]:
    meta = body.get("metadata") or {}
    return {"name": str(meta.get("name")), "labels": dict(meta.get("labels") or {})}


class BudgetBook:
    def __init__(self) -> None:
        self._budgets: Index | None = None
        self._jobs: Index | None = None
        # run uid -> its worst case, from its gate: committed until the index shows it created
        # (its create writes the same figure to status.cost.estimate.worstCase).
        self.reserved: dict[str, float] = {}
        # run uid -> the budget whose gate held it last (status.heldRuns lists it under that one).
        self.held_by: dict[str, str] = {}
        # run uid -> (namespace, its worst case): runs held for BudgetExceeded, which the wake-up
        # (budget_gate.startable) starts as soon as the money is there.
        self.held_worst: dict[str, tuple[str, float]] = {}
        # run uid -> its namespace, for every uid above: a budget's look forgets only its own
        # namespace's runs.
        self.namespace_of: dict[str, str] = {}
        # (namespace, budget) -> {run uid: (the run as last seen, when it was deleted)}: runs the
        # budget covered that were deleted and are not in its status.carried yet.
        self.gone: dict[tuple[str, str], dict[str, tuple[Mapping[str, Any], datetime.datetime]]] = {}
        # (namespace, budget) -> (periodStart, carried) as last written: the index may not show it yet.
        self.carried_written: dict[tuple[str, str], tuple[datetime.datetime, float]] = {}

    def attach_from(self, handler_kwargs: Mapping[str, Any]) -> None:
        budgets, jobs = handler_kwargs.get(BUDGETS_INDEX), handler_kwargs.get(JOB_LABELS_INDEX)
        if budgets is not None and self._budgets is None:
            self._budgets = budgets
        if jobs is not None and self._jobs is None:
            self._jobs = jobs

    @property
    def attached(self) -> bool:
        return self._budgets is not None and self._jobs is not None

    def budgets(self, namespace: str) -> list[Mapping[str, Any]]:
        """The namespace's TrainingBudgets (not being deleted), by name."""
        found = [b for b in (self._budgets or {}).get(namespace, ()) if not b.get("deleting")]
        return sorted(found, key=lambda b: str(b.get("name")))

    def job_labels(self, namespace: str) -> dict[str, Mapping[str, str]]:
        """TrainingJob name -> its labels, for the namespace."""
        return {str(j.get("name")): j.get("labels") or {} for j in (self._jobs or {}).get(namespace, ())}

    def note(self, uid: str, namespace: str) -> None:
        self.namespace_of[uid] = namespace

    def uids_of(self, namespace: str) -> set[str]:
        """The runs of the namespace the gate remembers something of."""
        return {uid for uid, ns in self.namespace_of.items() if ns == namespace}

    def forget_run(self, uid: str) -> None:
        self.held_by.pop(uid, None)
        self.held_worst.pop(uid, None)
        self.reserved.pop(uid, None)
        self.namespace_of.pop(uid, None)

    def run_deleted(self, entry: Mapping[str, Any], budgets: Iterable[str], at: datetime.datetime) -> None:
        """A run the given budgets cover is gone: what it cost stays counted (status.carried)."""
        meta = entry.get("metadata") or {}
        uid, namespace = str(meta.get("uid")), str(meta.get("namespace"))
        for budget in budgets:
            self.gone.setdefault((namespace, budget), {})[uid] = (entry, at)
        self.forget_run(uid)

    def carried(self, namespace: str, budget: Mapping[str, Any], period_start: datetime.datetime) -> float:
        """What deleted runs cost this period as the budget's status (or its last write) says."""
        found = 0.0
        start = parse_time(budget.get("periodStart"))
        if start == period_start and isinstance(budget.get("carried"), int | float):
            found = float(budget["carried"])
        written = self.carried_written.get((namespace, str(budget.get("name"))))
        if written is not None and written[0] == period_start:
            found = max(found, written[1])
        return found

    def carried_now(self, namespace: str, found: Mapping[str, Any], budget: Budget, window: Window) -> float:
        """status.carried (or its last write) plus the budget's runs deleted since: what runs that
        are gone cost this period."""
        pending = self.gone.get((namespace, budget.name)) or {}
        extra = sum(gone_cost(entry, at, window, budget.currency) or 0.0 for entry, at in pending.values())
        return self.carried(namespace, found, window.start) + extra

    def carried_settled(
        self, namespace: str, name: str, period_start: datetime.datetime, carried: float
    ) -> None:
        """The budget's look wrote `carried`: its pending deletions are in it now."""
        self.carried_written[(namespace, name)] = (period_start, carried)
        self.gone.pop((namespace, name), None)

    def forget_budget(self, namespace: str, name: str) -> None:
        self.gone.pop((namespace, name), None)
        self.carried_written.pop((namespace, name), None)
