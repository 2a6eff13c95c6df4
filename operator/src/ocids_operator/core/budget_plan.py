"""TrainingBudget: its period, what it covers, what its runs spent and committed, and whether a run
may start under it. Pure.

Runs are read as the run ledger keeps them (core/run_entry.py). A budget covers a run when its
TrainingJob's labels match the budget's selector (no selector: every run of the namespace, its
TrainingJob gone or not). What counts in a period:
- spent: covered runs that finished in it (timeFinished in [start, end)), at their actual cost once
  OCI's Usage API reported it as final, else the larger of the partial actual and the estimate;
- committed: the worst case of each covered active run (its price per hour times its maximum
  runtime), however long it has run already: that is what it may still cost;
- a run not ended yet that was retried: its earlier attempts (price per hour times each attempt's
  billed time) are spent once each attempt ended in the period;
- carried: what covered runs that finished in the period cost before they were deleted (by hand,
  history limits or TTL): the budget keeps it in its status, so a deletion gives no money back.
Amounts in another currency than the budget's are left out (and named in its message).
A run starts only if spent + committed + its own worst case stays within the limit.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ..api.budget import TrainingBudgetStatus
from . import conditions as cond
from .admission import GateAnswer, Hold, HoldReason, Refuse
from .cost import cost_of, usage_ended_at
from .phases import run_finished
from .run_entry import hold_reason, is_active, is_waiting, queue_order
from .status_patch import StatusPatch
from .times import parse_time

# The reasons a budget holds a run for (a held run's Ready reason).
BUDGET_REASONS = frozenset({HoldReason.BUDGET_EXCEEDED, HoldReason.NO_MAXIMUM_RUNTIME, HoldReason.NO_PRICE})
MAX_HELD_LISTED = 50


class Period(enum.StrEnum):
    MONTHLY = "Monthly"
    DAILY = "Daily"


class Action(enum.StrEnum):
    HOLD = "Hold"
    REFUSE = "Refuse"


@dataclasses.dataclass(frozen=True)
class Window:
    """One period, [start, end) in UTC."""

    period: Period
    start: datetime.datetime
    end: datetime.datetime

    def holds(self, at: datetime.datetime) -> bool:
        return self.start <= at < self.end


def window_of(period: str, now: datetime.datetime) -> Window:
    """The calendar day or month (UTC) that `now` falls in."""
    now = now.astimezone(datetime.UTC)
    kind = Period(period)
    if kind is Period.DAILY:
        start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return Window(kind, start, start + datetime.timedelta(days=1))
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return Window(kind, start, end)


@dataclasses.dataclass(frozen=True)
class Budget:
    """A TrainingBudget's spec, as the plan reads it (wire names in, Python names here)."""

    name: str
    limit: float
    currency: str
    period: Period
    action: Action
    selector: Mapping[str, Any] | None

    @classmethod
    def of(cls, name: str, spec: Mapping[str, Any]) -> Budget:
        limit = spec.get("limit") or {}
        return cls(
            name=name,
            limit=float(limit.get("amount") or 0.0),
            currency=str(limit.get("currency") or "USD"),
            period=Period(spec.get("period") or Period.MONTHLY),
            action=Action(spec.get("action") or Action.HOLD),
            selector=spec.get("selector"),
        )


def selector_problem(selector: Mapping[str, Any] | None) -> str | None:
    """What the API server cannot check of a label selector (the field named), or None."""
    for i, requirement in enumerate((selector or {}).get("matchExpressions") or []):
        field = f"spec.selector.matchExpressions[{i}].values"
        operator, values = requirement.get("operator"), requirement.get("values") or []
        if operator in ("In", "NotIn") and not values:
            return f"{field}: operator {operator} needs at least one value"
        if operator in ("Exists", "DoesNotExist") and values:
            return f"{field}: operator {operator} takes no values"
    return None


def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str] | None) -> bool:
    """Kubernetes label selector semantics: all matchLabels and all matchExpressions hold."""
    if not selector:
        return True
    labels = labels or {}
    if any(labels.get(key) != value for key, value in (selector.get("matchLabels") or {}).items()):
        return False
    for requirement in selector.get("matchExpressions") or []:
        key, operator = requirement.get("key"), requirement.get("operator")
        values = set(requirement.get("values") or [])
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def covers(budget: Budget, entry: Mapping[str, Any], job_labels: Mapping[str, Mapping[str, str]]) -> bool:
    """Whether the run's TrainingJob (by its labels now) is the budget's. A run whose TrainingJob is
    gone is covered only by a budget without a selector: its labels cannot be known."""
    if not budget.selector:
        return True
    job = str(((entry.get("spec") or {}).get("jobRef") or {}).get("name") or "")
    labels = job_labels.get(job)
    return labels is not None and selects(budget.selector, labels)


def coverage(
    budget: Budget, job_labels: Mapping[str, Mapping[str, str]]
) -> Callable[[Mapping[str, Any]], bool]:
    """`covers` for one budget, as a predicate over runs (a broken selector covers nothing)."""
    if selector_problem(budget.selector) is not None:
        return lambda entry: False
    return lambda entry: covers(budget, entry, job_labels)


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _other_currency(money: Mapping[str, Any], currency: str | None) -> bool:
    found = money.get("currency")
    return currency is not None and found is not None and found != currency


def spent_of(status: Mapping[str, Any], currency: str | None = None) -> float | None:
    """What a finished run cost: its final actual cost, else the larger of the partial actual and
    the estimate (an actual still arriving must not make it look cheaper than it was). None when it
    is in another currency than `currency` (it cannot be added to the budget's figures)."""
    cost = status.get("cost") or {}
    actual, estimate = cost.get("actual") or {}, cost.get("estimate") or {}
    if _other_currency(actual, currency):
        actual = {}
    if _other_currency(estimate, currency):
        estimate = {}
    if not actual and not estimate and (cost.get("actual") or cost.get("estimate")):
        return None
    reported = _float(actual.get("amount"))
    if reported is not None and actual.get("final"):
        return reported
    estimated = _float(estimate.get("amount"))
    if estimated is None:  # ended before its amount was written: pricePerHour x billed time
        price = _float((estimate.get("basis") or {}).get("pricePerHour"))
        started, finished = parse_time(status.get("timeStarted")), parse_time(status.get("timeFinished"))
        if price is not None and started is not None and finished is not None:
            estimated = cost_of(price, (finished - started).total_seconds())
    return max(reported or 0.0, estimated or 0.0)


def earlier_attempts_spent(
    status: Mapping[str, Any], window: Window, currency: str | None = None
) -> float | None:
    """What the ended attempts of a run not ended yet (a retry waiting or running) cost within the
    window: pricePerHour x each attempt's billed time, counted when the attempt ended. None when in
    another currency."""
    estimate = (status.get("cost") or {}).get("estimate") or {}
    if _other_currency(estimate, currency):
        return None
    price = _float((estimate.get("basis") or {}).get("pricePerHour"))
    if price is None:
        return 0.0
    total = 0.0
    for attempt in status.get("attempts") or []:
        started, finished = parse_time(attempt.get("timeStarted")), parse_time(attempt.get("timeFinished"))
        if started is not None and finished is not None and window.holds(finished):
            total += cost_of(price, max((finished - started).total_seconds(), 0.0))
    return total


def worst_case_of(entry: Mapping[str, Any], reserved: Mapping[str, float]) -> float | None:
    """An active run's worst case: as written at its creation, or as its gate computed it for a run
    reserved but not yet shown created."""
    estimate = (((entry.get("status") or {}).get("cost") or {}).get("estimate")) or {}
    found = _float(estimate.get("worstCase"))
    if found is not None:
        return found
    return reserved.get(str((entry.get("metadata") or {}).get("uid")))


def gone_cost(
    entry: Mapping[str, Any], deleted_at: datetime.datetime, window: Window, currency: str | None = None
) -> float | None:
    """What a deleted run cost within the window, as its last state says: a finished run as
    `spent_of`, one deleted before it ended its earlier attempts plus its current one up to its
    deletion. None when in another currency."""
    status = entry.get("status") or {}
    if run_finished(status):
        finished = usage_ended_at(status)
        return spent_of(status, currency) if finished is not None and window.holds(finished) else 0.0
    total = earlier_attempts_spent(status, window, currency)
    if total is None:
        return None
    price = _float(
        (((status.get("cost") or {}).get("estimate") or {}).get("basis") or {}).get("pricePerHour")
    )
    started = parse_time(status.get("timeStarted"))
    if price is not None and started is not None and window.holds(deleted_at):
        total += cost_of(price, max((deleted_at - started).total_seconds(), 0.0))
    return total


@dataclasses.dataclass(frozen=True)
class Usage:
    spent: float
    committed: float
    runs_counted: int
    unbounded: tuple[str, ...]  # active covered runs with no worst case (started before any budget)
    other_currency: tuple[str, ...] = ()  # covered runs priced in another currency (left out)
    carried: float = 0.0  # of `spent`: runs counted in the period that are gone (deleted)

    @property
    def total(self) -> float:
        return self.spent + self.committed


def usage(
    entries: Iterable[Mapping[str, Any]],
    covered: Callable[[Mapping[str, Any]], bool],
    window: Window,
    reserved: Mapping[str, float] | None = None,
    currency: str | None = None,
    carried: float = 0.0,
) -> Usage:
    """`carried`: what runs counted in this period cost that no longer exist (the budget's
    status.carried, plus deletions not written there yet)."""
    spent = carried
    committed = 0.0
    counted = 0
    unbounded: list[str] = []
    other: list[str] = []
    for entry in entries:
        if not covered(entry):
            continue
        status = entry.get("status") or {}
        name = str((entry.get("metadata") or {}).get("name"))
        if run_finished(status):
            finished = usage_ended_at(status)
            if finished is not None and window.holds(finished):
                amount = spent_of(status, currency)
                if amount is None:
                    other.append(name)
                else:
                    spent += amount
                    counted += 1
            continue
        if status.get("attempts"):  # a retried run: its ended attempts cost already
            earlier = earlier_attempts_spent(status, window, currency)
            if earlier is None:
                other.append(name)
            else:
                spent += earlier
        if is_active(entry):
            worst = worst_case_of(entry, reserved or {})
            estimate = ((status.get("cost") or {}).get("estimate")) or {}
            if worst is not None and _other_currency(estimate, currency):
                other.append(name)
            elif worst is None:
                unbounded.append(name)
            else:
                committed += worst
            counted += 1
        elif status.get("attempts"):
            counted += 1
    return Usage(
        round(spent, 4),
        round(committed, 4),
        counted,
        tuple(sorted(unbounded)),
        tuple(sorted(set(other))),
        round(carried, 4),
    )


def money(amount: float) -> str:
    return f"{amount:.2f}"


def period_words(budget: Budget, window: Window) -> str:
    return f"{budget.period.value}, from {window.start.date().isoformat()}"


def decide(
    budget: Budget,
    window: Window,
    used: Usage,
    worst_case: float | None,
    price_problem: str | None,
    table_currency: str | None,
    job_name: str,
) -> GateAnswer:
    """Whether one covered run may start: None (it fits), else a Hold or, for a run over the limit
    under action Refuse, a Refuse. A run without a price or a bound is held either way: that is
    fixed by the price table or the TrainingJob, not by waiting for money."""
    who = f"TrainingBudget {budget.name}"
    if table_currency is not None and table_currency != budget.currency:
        return Hold(
            HoldReason.NO_PRICE,
            f"{who} is in {budget.currency} and the price table in {table_currency}: the run cannot be "
            "priced in the budget's currency; it waits until they agree",
        )
    if price_problem is not None:
        return Hold(
            HoldReason.NO_PRICE,
            f"{who} covers this run and it cannot be priced ({price_problem}); it waits until the price "
            "table prices it",
        )
    if worst_case is None:
        return Hold(
            HoldReason.NO_MAXIMUM_RUNTIME,
            f"{who} covers this run and it has no maximumRuntimeInMinutes (neither the run nor "
            f"TrainingJob {job_name} sets one), so its cost has no bound; it waits until one is set",
        )
    if used.total + worst_case <= budget.limit + 1e-9:
        return None
    if worst_case > budget.limit + 1e-9:  # no period nor ended run makes room: only a higher limit
        alone = (
            f"{who}: this run's worst case {money(worst_case)} alone is above the limit "
            f"{money(budget.limit)} {budget.currency} ({budget.period.value}): it can never fit"
        )
        if budget.action is Action.REFUSE:
            return Refuse(HoldReason.BUDGET_EXCEEDED, f"{alone}; refused (action Refuse)")
        return Hold(
            HoldReason.BUDGET_EXCEEDED,
            f"{alone} unless the limit is raised (or the run's maximumRuntimeInMinutes lowered, by a "
            "new TrainingJobRun)",
        )
    figures = (
        f"{who}: spent {money(used.spent)} + committed {money(used.committed)} + this run's worst case "
        f"{money(worst_case)} would cross the limit {money(budget.limit)} {budget.currency} "
        f"({period_words(budget, window)})"
    )
    if budget.action is Action.REFUSE:
        return Refuse(HoldReason.BUDGET_EXCEEDED, f"{figures}; refused (action Refuse)")
    return Hold(
        HoldReason.BUDGET_EXCEEDED,
        f"{figures}; it starts by itself when the period rolls over ({window.end.date().isoformat()}) "
        "or the limit is raised",
    )


def held_runs(
    entries: Iterable[Mapping[str, Any]],
    covered: Callable[[Mapping[str, Any]], bool],
    held_by: Mapping[str, str],
    budget: str,
) -> list[str]:
    """Names of the covered runs a budget holds now, the oldest first. `held_by`: run uid -> the
    budget whose gate held it last (a run not in it, after a restart, counts for every budget that
    covers it, until its gate looks again)."""
    held = [
        entry
        for entry in entries
        if is_waiting(entry)
        and hold_reason(entry) in BUDGET_REASONS
        and covered(entry)
        and held_by.get(str((entry.get("metadata") or {}).get("uid")), budget) == budget
    ]
    return [str((entry.get("metadata") or {}).get("name")) for entry in sorted(held, key=queue_order)]


@dataclasses.dataclass(frozen=True)
class Problem:
    """Why a budget cannot be applied: its status reason and message (naming the field)."""

    reason: str
    message: str


def budget_problem(
    budget: Budget, selector_error: str | None, table_currency: str | None, table_problem: str | None
) -> Problem | None:
    if selector_error is not None:
        return Problem("InvalidSelector", selector_error)
    if table_problem is not None:
        return Problem("NoPriceTable", f"{table_problem}: the runs it covers wait (reason NoPrice)")
    if table_currency is not None and table_currency != budget.currency:
        return Problem(
            "CurrencyMismatch",
            f"spec.limit.currency: {budget.currency} is not the price table's currency {table_currency}: "
            "the runs it covers wait (reason NoPrice)",
        )
    return None


def budget_status(
    *,
    budget: Budget,
    window: Window,
    used: Usage,
    held: Sequence[str],
    problem: Problem | None,
    previous: Mapping[str, Any] | None,
    generation: int | None,
    now: str,
) -> StatusPatch[TrainingBudgetStatus]:
    remaining = max(budget.limit - used.total, 0.0)
    fields: dict[str, Any] = {
        "currency": budget.currency,
        "period_start": window.start,
        "period_end": window.end,
        "spent": round(used.spent, 2),
        "committed": round(used.committed, 2),
        "remaining": round(remaining, 2),
        "held_count": len(held),
        "held_runs": list(held[:MAX_HELD_LISTED]),
        "runs_counted": used.runs_counted,
        "carried": round(used.carried, 4),
        "observed_generation": generation,
    }
    figures = (
        f"spent {money(used.spent)} + committed {money(used.committed)} of {money(budget.limit)} "
        f"{budget.currency} ({period_words(budget, window)})"
    )
    if held:
        figures += f"; {len(held)} run{'s' if len(held) != 1 else ''} held"
    if used.unbounded:
        figures += f"; active with no worst case (not counted): {', '.join(used.unbounded[:5])}"
    if used.other_currency:
        figures += (
            f"; priced in another currency than {budget.currency} (not counted): "
            f"{', '.join(used.other_currency[:5])}"
        )
    if problem is not None:
        phase, health, reason, message = "Failed", cond.Health.STALLED, problem.reason, problem.message
    elif used.total >= budget.limit - 1e-9:
        phase, health, reason = "Exceeded", cond.Health.READY, "LimitReached"
        message = f"limit reached: {figures}"
    else:
        phase, health, reason, message = "Active", cond.Health.READY, "WithinLimit", figures
    fields.update(phase=phase, message=message)
    fields["conditions"] = cond.with_health(previous, health, reason, message, generation, now)
    return StatusPatch(TrainingBudgetStatus(**fields))


def unchanged(patch: Mapping[str, Any], current: Mapping[str, Any] | None) -> bool:
    """Whether writing `patch` would change nothing a reader sees (conditions compared without their
    times): a budget's timer then makes no write."""
    current = current or {}
    for key, value in patch.items():
        if key == "conditions":
            strip = lambda items: [  # noqa: E731
                {k: v for k, v in c.items() if k != "lastTransitionTime"} for c in items or []
            ]
            if strip(value) != strip(current.get(key)):
                return False
        elif key in ("periodStart", "periodEnd"):
            if parse_time(value) != parse_time(current.get(key)):
                return False
        elif value != current.get(key):
            return False
    return True
