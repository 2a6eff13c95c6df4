"""The budget gate (core/budget_plan.py decides): a run whose TrainingJob a TrainingBudget covers
starts only if the budget's period can still pay for its worst case.

Called by run_gates.admit under the namespace's ledger lock, so the figures it reads and the
reservation that follows are one step: two runs looked at together never both take the budget's
last money. Reads memory only (the run ledger, the budgets' indexes, the cached price table): a
namespace with no budget costs nothing more than a dictionary look-up.
"""

from __future__ import annotations

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


async def check(
    rt: Runtime,
    entry: Mapping[str, Any],
    spec: TrainingJobRunSpec,
    job_spec: TrainingJobSpec,
    job: Mapping[str, Any],
) -> GateAnswer:
    meta = entry.get("metadata") or {}
    namespace, uid = str(meta.get("namespace")), str(meta.get("uid"))
    job_meta = job.get("metadata") or {}
    job_name, labels = str(job_meta.get("name") or spec.job_ref.name), job_meta.get("labels") or {}
    covering = [
        Budget.of(str(found["name"]), found.get("spec") or {})
        for found in rt.budgets.budgets(namespace)
        # A selector the API server could not judge is broken: its budget says so (Failed) and
        # covers nothing, as Kubernetes treats a selector it cannot parse.
        if selector_problem((found.get("spec") or {}).get("selector")) is None
        and selects((found.get("spec") or {}).get("selector"), labels)
    ]
    if not covering:
        rt.budgets.forget_run(uid)
        return None
    table = await run_pricing.load_price_table(rt)
    estimate, problem = await run_pricing.run_price(rt, spec, job_spec, job)
    worst = estimate.worst_case if estimate is not None else None
    entries = rt.ledger.entries(namespace)
    job_labels = {**rt.budgets.job_labels(namespace), job_name: labels}  # this job's as read just now
    now = datetime.datetime.now(datetime.UTC)
    for budget in covering:
        window = window_of(budget.period, now)
        used = usage(entries, coverage(budget, job_labels), window, rt.budgets.reserved)
        answer = decide(
            budget, window, used, worst, problem, table.currency if table is not None else None, job_name
        )
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


def _budgets_of(rt: Runtime, namespace: str) -> list[Budget]:
    return [
        Budget.of(str(found["name"]), found.get("spec") or {})
        for found in rt.budgets.budgets(namespace)
        if selector_problem((found.get("spec") or {}).get("selector")) is None
    ]


async def startable(rt: Runtime) -> list[Mapping[str, Any]]:
    """The budgets' side of the wake-up (workflows/run_wakeup.py): runs held for BudgetExceeded that
    would fit now (a run ended below its worst case, a limit was raised, a period rolled over), the
    oldest first, each taking its worst case from what is left for the next. Memory only."""
    woken: list[Mapping[str, Any]] = []
    now = datetime.datetime.now(datetime.UTC)
    for namespace in sorted({ns for ns, _ in rt.budgets.held_worst.values()}):
        entries = rt.ledger.entries(namespace)
        job_labels = rt.budgets.job_labels(namespace)
        budgets = _budgets_of(rt, namespace)
        spare = {
            b.name: b.limit
            - usage(entries, coverage(b, job_labels), window_of(b.period, now), rt.budgets.reserved).total
            for b in budgets
        }
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
