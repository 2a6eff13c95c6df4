"""A TrainingBudget's status (the kind's one writer: kopf's handler patch, from its handlers and its
timer alike): the period, spent, committed, remaining, the runs it holds, its phase and conditions;
and its metrics.

Everything is read from memory (the run ledger, the budgets' indexes, the cached price table): a
budget's look every poll interval makes no API call, and writes only when a figure changed.
"""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Mapping
from typing import Any

from .. import metrics
from ..core import conditions as cond
from ..core.budget_plan import (
    BUDGET_REASONS,
    Budget,
    budget_problem,
    budget_status,
    coverage,
    held_runs,
    selector_problem,
    unchanged,
    usage,
    window_of,
)
from ..core.run_entry import hold_reason, is_active, is_waiting
from ..core.times import parse_time
from ..runtime import Runtime
from .outcome import Outcome
from .run_pricing import load_price_table, table_ref


async def reconcile(rt: Runtime, body: Mapping[str, Any]) -> Outcome:
    """The status step; a budget that may let held runs go now (its limit raised, a new period)
    pokes the wake-up, which starts those that fit (budget_gate.startable)."""
    meta = body["metadata"]
    namespace, name = str(meta["namespace"]), str(meta["name"])
    budget = Budget.of(name, body.get("spec") or {})
    previous = body.get("status") or {}
    selector_error = selector_problem(budget.selector)
    table = await load_price_table(rt)
    table_problem = None
    if table is None:
        where = "/".join(table_ref(rt.settings.price_table))
        table_problem = f"there is no usable price table (ConfigMap {where}, OCIDS_PRICE_TABLE)"
    entries = rt.ledger.entries(namespace)
    job_labels = rt.budgets.job_labels(namespace)
    window = window_of(budget.period, datetime.datetime.now(datetime.UTC))
    covered = coverage(budget, job_labels)
    found = {"name": name, "carried": previous.get("carried"), "periodStart": previous.get("periodStart")}
    carried = rt.budgets.carried_now(namespace, found, budget, window)
    used = usage(entries, covered, window, rt.budgets.reserved, budget.currency, carried)
    held = held_runs(entries, covered, rt.budgets.held_by, name)
    problem = budget_problem(budget, selector_error, table.currency if table else None, table_problem)
    patch = budget_status(
        budget=budget,
        window=window,
        used=used,
        held=held,
        problem=problem,
        previous=previous,
        generation=meta.get("generation"),
        now=cond.now_rfc3339(),
    )
    rt.budgets.carried_settled(namespace, name, window.start, used.carried)
    _forget_settled(rt, namespace, entries)
    reasons = {str((e.get("metadata") or {}).get("name")): hold_reason(e) for e in entries}
    _export(namespace, budget, used.spent, used.committed, [str(reasons.get(run)) for run in held])
    if held and _more_money(previous, patch):
        rt.waker.poke(rt)
    if unchanged(patch, previous):
        return Outcome()
    return Outcome(patch, _events(previous, patch))


def _more_money(previous: Mapping[str, Any], patch: Mapping[str, Any]) -> bool:
    """Whether held runs may fit now that did not: more remaining, or a new period."""
    was = previous.get("remaining")
    return (
        was is None
        or float(patch.get("remaining") or 0.0) > float(was)
        or parse_time(previous.get("periodStart")) != parse_time(patch.get("periodStart"))
    )


def _events(previous: Mapping[str, Any], patch: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """An Event when the phase changes or a new period starts: what a team reading `kubectl describe`
    needs to know, not every change of a figure."""
    phase, message = patch.get("phase"), str(patch.get("message") or "")
    if previous.get("phase") != phase:
        reason = next((c["reason"] for c in patch.get("conditions") or [] if c["type"] == cond.READY), "")
        if phase == "Failed":
            return [("Warning", reason or "Failed", message)]
        return [("Normal", reason, message)]
    if previous.get("periodStart") and parse_time(previous["periodStart"]) != parse_time(
        patch.get("periodStart")
    ):
        return [("Normal", "PeriodStarted", message)]
    return []


def _forget_settled(rt: Runtime, namespace: str, entries: list[Mapping[str, Any]]) -> None:
    """Drop what the gate remembered of the namespace's runs that no longer need it: a reservation
    the index now shows created (its own worstCase), or one never created; a hold the run is no
    longer in. Only this namespace's: `entries` says nothing of the others'."""
    by_uid = {str((e.get("metadata") or {}).get("uid")): e for e in entries}
    mine = rt.budgets.uids_of(namespace)
    for uid in [uid for uid in rt.budgets.reserved if uid in mine]:
        entry = by_uid.get(uid)
        written = (((entry or {}).get("status") or {}).get("cost") or {}).get("estimate")
        if entry is None or not is_active(entry) or (written or {}).get("worstCase") is not None:
            rt.budgets.reserved.pop(uid, None)
    for uid in [uid for uid in rt.budgets.held_by if uid in mine]:
        entry = by_uid.get(uid)
        if entry is None or not is_waiting(entry) or hold_reason(entry) not in BUDGET_REASONS:
            rt.budgets.held_by.pop(uid, None)
            rt.budgets.held_worst.pop(uid, None)
    for uid in mine:
        if uid not in rt.budgets.reserved and uid not in rt.budgets.held_by:
            rt.budgets.namespace_of.pop(uid, None)


_EXPORTED: dict[tuple[str, str], str] = {}  # (namespace, budget) -> the currency its series carry


def _export(namespace: str, budget: Budget, spent: float, committed: float, held_reasons: list[str]) -> None:
    key = (namespace, budget.name)
    if _EXPORTED.get(key, budget.currency) != budget.currency:
        forget_metrics(namespace, budget.name)
    metrics.BUDGET_SPENT.labels(namespace, budget.name, budget.currency).set(spent)
    metrics.BUDGET_COMMITTED.labels(namespace, budget.name, budget.currency).set(committed)
    metrics.BUDGET_LIMIT.labels(namespace, budget.name, budget.currency).set(budget.limit)
    for reason in sorted(BUDGET_REASONS):
        metrics.RUNS_HELD.labels(namespace, budget.name, reason.value).set(held_reasons.count(reason.value))
    _EXPORTED[key] = budget.currency


def forget_metrics(namespace: str, name: str) -> None:
    """A deleted budget's series go with it."""
    was = _EXPORTED.pop((namespace, name), None)
    if was is None:
        return
    series = [
        (gauge, (namespace, name, was))
        for gauge in (metrics.BUDGET_SPENT, metrics.BUDGET_COMMITTED, metrics.BUDGET_LIMIT)
    ]
    series += [(metrics.RUNS_HELD, (namespace, name, reason.value)) for reason in BUDGET_REASONS]
    for gauge, labels in series:
        with contextlib.suppress(KeyError):
            gauge.remove(*labels)
