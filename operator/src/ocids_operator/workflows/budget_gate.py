"""The budget gate (core/budget_plan.py decides): a run whose TrainingJob a TrainingBudget covers
starts only if the budget's period can still pay for its worst case.

`prepare` prices the run (the price table's ConfigMap, maybe OCI for a fast-launch shape) before
run_gates.admit takes the namespace's ledger lock; `decide_run`, under it, reads memory only (the
run ledger, the budgets' indexes), so the figures it reads and the reservation that follows are one
step: two runs looked at together never both take the budget's last money. A namespace with no
budget costs nothing more than a dictionary look-up.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping
from typing import Any

from ..api.training_job import TrainingJobSpec
from ..api.training_job_run import TrainingJobRunSpec
from ..core.admission import GateAnswer, HoldReason
from ..core.budget_plan import Budget, coverage, covers, decide, selector_problem, selects, usage, window_of
from ..core.run_entry import hold_reason, is_waiting, queue_order
from ..runtime import Runtime
from . import run_pricing


@dataclasses.dataclass(frozen=True)
class BudgetLook:
    """What the gate read before the ledger's lock (its price may cost an API or OCI call): the
    budgets covering the run and its price."""

    covering: list[tuple[Budget, Mapping[str, Any]]]
    job_name: str
    labels: Mapping[str, str]
    worst: float | None = None
    problem: str | None = None
    table_currency: str | None = None


async def prepare(
    rt: Runtime,
    entry: Mapping[str, Any],
    spec: TrainingJobRunSpec,
    job_spec: TrainingJobSpec,
    job: Mapping[str, Any],
) -> BudgetLook:
    """The reads, outside the ledger's lock: a run no budget covers is not priced at all."""
    namespace = str((entry.get("metadata") or {}).get("namespace"))
    job_meta = job.get("metadata") or {}
    job_name, labels = str(job_meta.get("name") or spec.job_ref.name), job_meta.get("labels") or {}
    covering = [
        (Budget.of(str(found["name"]), found.get("spec") or {}), found)
        for found in rt.budgets.budgets(namespace)
        # A selector the API server could not judge is broken: its budget says so (Failed) and
        # covers nothing, as Kubernetes treats a selector it cannot parse.
        if selector_problem((found.get("spec") or {}).get("selector")) is None
        and selects((found.get("spec") or {}).get("selector"), labels)
    ]
    if not covering:
        return BudgetLook(covering, job_name, labels)
    table = await run_pricing.load_price_table(rt)
    estimate, problem = await run_pricing.run_price(rt, spec, job_spec, job)
    return BudgetLook(
        covering,
        job_name,
        labels,
        estimate.worst_case if estimate is not None else None,
        problem,
        table.currency if table is not None else None,
    )


def decide_run(rt: Runtime, entry: Mapping[str, Any], look: BudgetLook) -> GateAnswer:
    """The decision, from memory, under the namespace's ledger lock (the reservation follows)."""
    meta = entry.get("metadata") or {}
    namespace, uid = str(meta.get("namespace")), str(meta.get("uid"))
    if not look.covering:
        rt.budgets.forget_run(uid)
        return None
    worst = look.worst
    entries = rt.ledger.entries(namespace)
    job_labels = {**rt.budgets.job_labels(namespace), look.job_name: look.labels}  # as read just now
    now = datetime.datetime.now(datetime.UTC)
    rt.budgets.note(uid, namespace)
    for budget, found in look.covering:
        window = window_of(budget.period, now)
        carried = rt.budgets.carried_now(namespace, found, budget, window)
        used = usage(
            entries, coverage(budget, job_labels), window, rt.budgets.reserved, budget.currency, carried
        )
        answer = decide(budget, window, used, worst, look.problem, look.table_currency, look.job_name)
        if answer is not None:
            rt.budgets.held_by[uid] = budget.name
            if answer.reason is HoldReason.BUDGET_EXCEEDED and worst is not None:
                rt.budgets.held_worst[uid] = (namespace, worst)
            else:
                rt.budgets.held_worst.pop(uid, None)
            return answer
    rt.budgets.held_by.pop(uid, None)
    rt.budgets.held_worst.pop(uid, None)
    if worst is not None:
        rt.budgets.reserved[uid] = worst
    return None


async def check(
    rt: Runtime,
    entry: Mapping[str, Any],
    spec: TrainingJobRunSpec,
    job_spec: TrainingJobSpec,
    job: Mapping[str, Any],
) -> GateAnswer:
    """`prepare` then `decide_run` (run_gates.admit takes the lock between them)."""
    return decide_run(rt, entry, await prepare(rt, entry, spec, job_spec, job))


def _budgets_of(rt: Runtime, namespace: str) -> list[tuple[Budget, Mapping[str, Any]]]:
    return [
        (Budget.of(str(found["name"]), found.get("spec") or {}), found)
        for found in rt.budgets.budgets(namespace)
        if selector_problem((found.get("spec") or {}).get("selector")) is None
    ]


def run_deleted(rt: Runtime, entry: Mapping[str, Any]) -> None:
    """A run is gone (deleted by hand, by history limits or TTL): the budgets covering it keep what
    it cost this period (their status.carried), so its deletion gives no money back."""
    meta = entry.get("metadata") or {}
    namespace, uid = str(meta.get("namespace")), str(meta.get("uid"))
    budgets = _budgets_of(rt, namespace)
    if not budgets:
        rt.budgets.forget_run(uid)
        return
    job_labels = rt.budgets.job_labels(namespace)
    names = [budget.name for budget, _ in budgets if covers(budget, entry, job_labels)]
    rt.budgets.run_deleted(entry, names, datetime.datetime.now(datetime.UTC))


async def startable(rt: Runtime) -> list[Mapping[str, Any]]:
    """The budgets' side of the wake-up (workflows/run_wakeup.py): runs held for BudgetExceeded that
    would fit now (a run ended below its worst case, a limit was raised, a period rolled over), the
    oldest first, each taking its worst case from what is left for the next. Memory only."""
    woken: list[Mapping[str, Any]] = []
    now = datetime.datetime.now(datetime.UTC)
    for namespace in sorted({ns for ns, _ in rt.budgets.held_worst.values()}):
        entries = rt.ledger.entries(namespace)
        job_labels = rt.budgets.job_labels(namespace)
        found_budgets = _budgets_of(rt, namespace)
        budgets = [b for b, _ in found_budgets]
        spare = {}
        for b, found in found_budgets:
            window = window_of(b.period, now)
            carried = rt.budgets.carried_now(namespace, found, b, window)
            used = usage(entries, coverage(b, job_labels), window, rt.budgets.reserved, b.currency, carried)
            spare[b.name] = b.limit - used.total
        held = sorted(
            (
                e
                for e in entries
                if str((e.get("metadata") or {}).get("uid")) in rt.budgets.held_worst
                and is_waiting(e)
                and hold_reason(e) == HoldReason.BUDGET_EXCEEDED.value
            ),
            key=queue_order,
        )
        for entry in held:
            worst = rt.budgets.held_worst[str((entry.get("metadata") or {}).get("uid"))][1]
            mine = [b for b in budgets if covers(b, entry, job_labels)]
            if all(spare[b.name] + 1e-9 >= worst for b in mine):
                woken.append(entry)
                for b in mine:
                    spare[b.name] -= worst
    return woken
