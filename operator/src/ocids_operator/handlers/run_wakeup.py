"""The wake-up of held runs (workflows/run_wakeup.py): every TrainingJobRun event pokes it, and a
run it wakes is reconciled as the retry daemon does, through `handle` and the run status writer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf

from ..core.kinds import TRAINING_JOB_RUN_KIND
from ..core.run_entry import run_entry
from ..runtime import Runtime
from ..workflows import budget_gate, run_caps
from ..workflows.run_wakeup import Source
from . import run_ledger
from .outcome import handle, runtime_of
from .training_job_run import fresh_reconcile, through_run_status_writer

KIND = TRAINING_JOB_RUN_KIND
# Which held runs a freed place may start (budgets and Kueue may add theirs).
SOURCES: list[Source] = [run_caps.startable]


def frees_a_place(rt: Runtime, event_type: str | None, body: Mapping[str, Any]) -> bool:
    """Whether the event may free a place or money: a run ended, was deleted, or left the queue
    (canceled). Any other event (a held run's own status write, kopf's bookkeeping) frees nothing
    and makes no recheck."""
    return rt.ledger.observe(run_entry(body), deleted=event_type == "DELETED")


def waker_for(memo: Any) -> Any:
    async def wake(namespace: str, name: str, uid: str) -> None:
        rt = runtime_of(memo)
        current = await rt.kube.get_training_job_run(namespace, name)
        if current is None or current["metadata"].get("uid") != uid:
            return
        work = fresh_reconcile(current)
        # Held again (its gate registered it for the next look), or an error its status and Events
        # now tell: a passing one is looked at again as kopf would, a lasting one is left to kopf.
        try:
            await handle(KIND, memo, current, kopf.Patch(), 0, work, writer=through_run_status_writer)
        except kopf.TemporaryError as exc:
            if not rt.waker.is_held(uid):
                rt.waker.hold(namespace, name, uid, float(exc.delay or rt.settings.poll_interval_seconds))
        except kopf.PermanentError:
            pass

    return wake


def register(registry: kopf.OperatorRegistry) -> None:
    @kopf.on.event(*KIND.gvr, id="wake", registry=registry)
    async def run_changed(body: kopf.Body, memo: Any, type: str | None, **kwargs: Any) -> None:
        run_ledger.attach(memo, kwargs)
        rt: Runtime = runtime_of(memo)
        if not rt.waker.connected:
            rt.waker.connect(waker_for(memo), SOURCES)
        if type == "DELETED":  # what it cost stays counted by its budgets
            budget_gate.run_deleted(rt, run_entry(body))
        if frees_a_place(rt, type, body):
            rt.waker.poke(rt)
