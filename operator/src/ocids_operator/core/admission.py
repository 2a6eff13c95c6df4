"""What may stop a TrainingJobRun before its OCI run is created, besides its TrainingJob: the
operator's and the namespace's caps on active runs, budgets, and Kueue's quota.

A gate answers None (go on), Hold (stay Pending with this reason; looked at again every poll
interval and whenever what held it changes) or Refuse (the run fails for good, nothing sent to OCI).
Gates are only asked about a run no create was attempted for: a run that may exist in OCI is never
held back from being found.
"""

from __future__ import annotations

import dataclasses
import enum


class HoldReason(enum.StrEnum):
    """status.conditions[Ready].reason of a run a gate holds (and of one a gate refused)."""

    ACTIVE_RUN_LIMIT = "ActiveRunLimit"  # OCIDS_MAX_ACTIVE_RUNS or ocids.io/max-active-runs
    BUDGET_EXCEEDED = "BudgetExceeded"  # its worst case would cross a TrainingBudget's limit
    NO_MAXIMUM_RUNTIME = "NoMaximumRuntime"  # a budget covers it, and its cost has no bound
    NO_PRICE = "NoPrice"  # a budget covers it, and the price table has no row for its shape
    WAITING_FOR_QUOTA = "WaitingForQuota"  # its Kueue Workload is not admitted yet
    PREEMPTED = "Preempted"  # Kueue evicted its Workload (the run is canceled)


@dataclasses.dataclass(frozen=True)
class Hold:
    reason: HoldReason
    message: str


@dataclasses.dataclass(frozen=True)
class Refuse:
    reason: HoldReason
    message: str


GateAnswer = Hold | Refuse | None
