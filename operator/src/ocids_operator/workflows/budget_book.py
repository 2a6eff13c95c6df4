"""The TrainingBudgets and TrainingJob labels the budget gate and the budgets' status read, from two
watch-fed kopf indexes (handlers/budget.py), with no LIST; plus what the gate remembers between
looks: the worst case of runs it let through that the index does not show created yet, and which
budget held which run.

The indexes reach it the way the run ledger's does: every handler is handed every kopf index, and
the run handlers attach them (handlers/run_ledger.attach), so a run's first look, even right after a
restart, already sees every budget of its namespace.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

BUDGETS_INDEX = "budgets_by_namespace"
JOB_LABELS_INDEX = "job_labels_by_namespace"

Index = Mapping[str, Iterable[Mapping[str, Any]]]


def budget_entry(body: Mapping[str, Any]) -> dict[str, Any]:
    meta = body.get("metadata") or {}
    return {
        "name": str(meta.get("name")),
        "uid": str(meta.get("uid")),
        "deleting": bool(meta.get("deletionTimestamp")),
        "spec": dict(body.get("spec") or {}),
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

    def forget_run(self, uid: str) -> None:
        self.held_by.pop(uid, None)
        self.held_worst.pop(uid, None)
        self.reserved.pop(uid, None)
