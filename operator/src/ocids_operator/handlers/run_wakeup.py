"""The wake-up of held runs (workflows/run_wakeup.py): every TrainingJobRun event pokes it, and a
run it wakes is reconciled as the retry daemon does, through `handle` and the run status writer."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import kopf

from ..core.admission import HoldReason
from ..core.kinds import TRAINING_JOB_RUN_KIND
from ..core.run_entry import hold_reason, is_waiting, run_entry
from ..runtime import Runtime
from ..workflows import run_caps
from ..workflows.run_wakeup import Source
from . import run_ledger
from .outcome import handle, runtime_of
from .training_job_run import fresh_reconcile, through_run_status_writer

KIND = TRAINING_JOB_RUN_KIND
# Which held runs a freed place may start (budgets and Kueue may add theirs).
SOURCES: list[Source] = [run_caps.startable]


def frees_a_place(event_type: str | None, body: Mapping[str, Any]) -> bool:
    """Every event but a capped run's own (its hold written again frees nothing)."""
    if event_type == "DELETED":
        return True
    entry = run_entry(body)
    return not (is_waiting(entry) and hold_reason(entry) == HoldReason.ACTIVE_RUN_LIMIT.value)


def waker_for(memo: Any) -> Any:
    async def wake(namespace: str, name: str, uid: str) -> None:
        rt = runtime_of(memo)
        current = await rt.kube.get_training_job_run(namespace, name)
        if current is None or current["metadata"].get("uid") != uid:
            return
        work = fresh_reconcile(current)
        # Held again, or an error its status and Events now tell: kopf's own next look follows.
        with contextlib.suppress(kopf.TemporaryError, kopf.PermanentError):
            await handle(KIND, memo, current, kopf.Patch(), 0, work, writer=through_run_status_writer)

    return wake


def register(registry: kopf.OperatorRegistry) -> None:
    @kopf.on.event(*KIND.gvr, id="wake", registry=registry)
    async def run_changed(body: kopf.Body, memo: Any, type: str | None, **kwargs: Any) -> None:
        run_ledger.attach(memo, kwargs)
        rt: Runtime = runtime_of(memo)
        if not rt.waker.connected:
            rt.waker.connect(waker_for(memo), SOURCES)
        if frees_a_place(type, body):
            rt.waker.poke(rt)
