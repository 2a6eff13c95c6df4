"""TrainingBudget: a spending limit per period over a namespace's TrainingJobs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from .base import ApiModel, KubeObject, StatusModel
from .common import Condition
from .cost import Money
from .markers import Atomic, ListMap

BudgetPeriod = Literal["Monthly", "Daily"]
BudgetAction = Literal["Hold", "Refuse"]
TrainingBudgetPhase = Literal["Pending", "Active", "Exceeded", "Failed"]
MAX_HELD_RUNS_LISTED = 50


class LabelSelectorRequirement(ApiModel):
    """A label key, an operator and values (as in Kubernetes label selectors)."""

    key: str = Field(min_length=1, max_length=317)
    """The label key."""
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    """In, NotIn, Exists or DoesNotExist."""
    values: Annotated[list[str], Atomic()] = []
    """For In and NotIn: the values (non-empty); empty for Exists and DoesNotExist."""


class LabelSelector(ApiModel):
    """Which TrainingJobs (by their labels); an empty selector selects all of the namespace's."""

    match_labels: dict[str, str] = {}
    """Labels a TrainingJob must have, with these values."""
    match_expressions: Annotated[list[LabelSelectorRequirement], Atomic()] = []
    """Further requirements, all of which must hold."""


class TrainingBudgetSpec(ApiModel):
    """Desired state."""

    limit: Money
    """The most the selected TrainingJobs' runs may cost per period (their currency must be the
    price table's)."""
    period: BudgetPeriod = "Monthly"
    """Monthly (calendar month) or Daily, in UTC."""
    selector: LabelSelector | None = None
    """Which TrainingJobs it covers; unset: all in the namespace."""
    action: BudgetAction = "Hold"
    """What happens to a run whose worst case would cross the limit. Hold: it stays Pending (reason
    BudgetExceeded) and starts by itself when the period rolls over or the limit is raised. Refuse:
    it fails, its message giving the figures."""


class TrainingBudgetStatus(StatusModel):
    """Observed state, written by the operator."""

    phase: TrainingBudgetPhase | None = None
    """Pending: not applied yet (see message). Active: under the limit. Exceeded: spent plus
    committed reached the limit (new runs are held or refused). Failed: cannot be applied (see
    message)."""
    currency: str | None = None
    """ISO 4217 code of the figures."""
    period_start: datetime | None = None
    """The start of the current period."""
    period_end: datetime | None = None
    """When the period rolls over."""
    spent: float | None = None
    """What the period's runs cost so far: actual where OCI reported it, else the estimate."""
    committed: float | None = None
    """The worst case of the active runs not yet in `spent`: each one's price times its
    maximumRuntimeInMinutes."""
    remaining: float | None = None
    """limit - spent - committed (never below 0)."""
    held_count: int | None = None
    """Runs held by this budget right now."""
    held_runs: Annotated[list[str], Atomic(), Field(max_length=MAX_HELD_RUNS_LISTED)] = []
    """Their names (the oldest first; at most 50)."""
    runs_counted: int | None = None
    """Runs counted in spent and committed."""
    carried: float | None = None
    """Of `spent`: what runs that finished this period cost before they were deleted (by hand,
    history limits or TTL). Kept here so that a deletion gives no money back; 0 in a new period."""
    observed_generation: int | None = None
    """metadata.generation last applied."""
    conditions: Annotated[list[Condition], ListMap("type")] = []
    """Ready, Reconciling, Stalled."""
    message: str | None = None
    """Last error or notable event, for humans."""


class TrainingBudget(KubeObject):
    """A whole TrainingBudget object as the API server returns it."""

    kind: Literal["TrainingBudget"] = "TrainingBudget"
    """Kind."""
    spec: TrainingBudgetSpec
    """Desired state."""
    status: TrainingBudgetStatus | None = None
    """Observed state."""
