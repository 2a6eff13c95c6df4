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
    # Labelled for Kueue, and what its nodes use cannot be told to Kueue (an unknown fixed shape's
    # size, node groups that do not resolve): held, or refused when no edit of a table can help.
    UNKNOWN_RESOURCES = "UnknownResources"
    # OCIDS_REQUIRE_MAXIMUM_RUNTIME, and a run of a single-node jobType EMPTY TrainingJob (which takes
    # none) that sets none: refused, as its spec cannot change.
    MAXIMUM_RUNTIME_REQUIRED = "MaximumRuntimeRequired"


@dataclasses.dataclass(frozen=True)
class Hold:
    reason: HoldReason
    message: str


@dataclasses.dataclass(frozen=True)
class Refuse:
    reason: HoldReason
    message: str


GateAnswer = Hold | Refuse | None
