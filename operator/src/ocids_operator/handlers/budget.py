"""TrainingBudget handlers: the indexes the budget gate reads (budgets and TrainingJob labels by
namespace), status on create/update/resume and every poll interval (a period rolls over, runs end,
actual costs arrive: none of it changes the budget itself), and its metrics' end on delete.

Status is written through kopf's handler patch (the kind's one writer), by handlers and timer
alike. A budget owns nothing, so it has no finalizer.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from ..core.kinds import TRAINING_BUDGET_KIND, TRAINING_JOB_KIND
from ..settings import OperatorSettings
from ..workflows import budget as workflow
from ..workflows import budget_gate
from ..workflows.budget_book import BUDGETS_INDEX, JOB_LABELS_INDEX, budget_entry, job_labels_entry
from . import run_ledger, run_wakeup
from .outcome import handle, runtime_of

KIND = TRAINING_BUDGET_KIND
log = logging.getLogger(__name__)


def index_budget(body: kopf.Body, **_: Any) -> dict[str, dict[str, Any]]:
    return {str(body["metadata"]["namespace"]): budget_entry(body)}


def index_job_labels(body: kopf.Body, **_: Any) -> dict[str, dict[str, Any]]:
    return {str(body["metadata"]["namespace"]): job_labels_entry(body)}


def register(registry: kopf.OperatorRegistry, settings: OperatorSettings) -> None:
    # Watch-fed, and filled before any handler runs: a run's first look after a restart already sees
    # its namespace's budgets.
    kopf.index(*KIND.gvr, id=BUDGETS_INDEX, registry=registry)(index_budget)
    kopf.index(*TRAINING_JOB_KIND.gvr, id=JOB_LABELS_INDEX, registry=registry)(index_job_labels)
    if budget_gate.startable not in run_wakeup.SOURCES:  # held runs start as soon as the money is there
        run_wakeup.SOURCES.append(budget_gate.startable)

    @kopf.on.resume(*KIND.gvr, id="reconcile", registry=registry)
    @kopf.on.create(*KIND.gvr, id="reconcile", registry=registry)
    @kopf.on.update(*KIND.gvr, id="reconcile", field="spec", registry=registry)
    async def reconcile_budget(
        body: kopf.Body, patch: kopf.Patch, retry: int, memo: Any, **kwargs: Any
    ) -> None:
        run_ledger.attach(memo, kwargs)
        try:
            await handle(KIND, memo, body, patch, retry, lambda rt: workflow.reconcile(rt, body))
        finally:  # a new selector or action may let held runs go: look at once, not a poll later
            rt = runtime_of(memo)
            rt.waker.poke(rt)

    @kopf.timer(*KIND.gvr, id="tick", interval=settings.poll_interval_seconds, idle=None, registry=registry)
    async def tick_budget(body: kopf.Body, patch: kopf.Patch, memo: Any, **kwargs: Any) -> None:
        if body["metadata"].get("deletionTimestamp"):
            return
        run_ledger.attach(memo, kwargs)
        try:
            await handle(KIND, memo, body, patch, 0, lambda rt: workflow.reconcile(rt, body))
        except (
            kopf.TemporaryError,
            kopf.PermanentError,
        ) as exc:  # already in status; the next tick looks again
            log.info("budget %s/%s: %s", body["metadata"]["namespace"], body["metadata"]["name"], exc)

    @kopf.on.delete(*KIND.gvr, id="forget", optional=True, registry=registry)
    async def forget_budget(body: kopf.Body, memo: Any, **_: Any) -> None:
        namespace, name = str(body["metadata"]["namespace"]), str(body["metadata"]["name"])
        workflow.forget_metrics(namespace, name)
        rt = runtime_of(memo)
        rt.budgets.forget_budget(namespace, name)
        rt.waker.poke(rt)  # the runs it held may start now
