"""TrainingJobRun handlers: create/resume (create the OCI run or resume tracking it), delete.

Progress after creation comes from the poller (workflows/run_poller.py), not from per-object timers.
Every status write goes through the run status writer, never kopf's patch (see run_status_writer).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Mapping
from typing import Any

import kopf

from ..core.kinds import TRAINING_JOB_RUN_KIND
from ..core.status_patch import StatusPatch
from ..runtime import Runtime
from ..settings import OperatorSettings
from ..workflows import training_job_run as workflow
from ..workflows.outcome import Outcome
from .identity import finalize_as, for_run
from .outcome import StatusWriter, handle, register_finalizer

KIND = TRAINING_JOB_RUN_KIND
# Runs reconciled at once. A thousand runs applied together otherwise all start at once: every one
# waits in the same queues (Kubernetes connections, the OCI threads), requests time out after 30 s,
# are retried, and creation slows to a crawl (measured: 151 s for 1,000). A few at a time keep
# each request short, and the slots still outnumber the OCI client's threads so those stay busy.
RECONCILE_SLOTS = 16
_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()


def reconcile_slot() -> asyncio.Semaphore:
    """The running loop's slots (one operator per loop; tests run several loops in turn)."""
    loop = asyncio.get_running_loop()
    slots = _slots.get(loop)
    if slots is None:
        slots = _slots[loop] = asyncio.Semaphore(RECONCILE_SLOTS)
    return slots


def through_run_status_writer(rt: Runtime, body: Mapping[str, Any], patch: kopf.Patch) -> StatusWriter:
    meta = body["metadata"]

    async def write(status: StatusPatch[Any]) -> None:
        # Computed from this handler's body, which the poller may have overtaken meanwhile.
        await rt.run_status.write_over_current(meta["namespace"], meta["name"], meta["uid"], status)

    return write


def register(registry: kopf.OperatorRegistry, settings: OperatorSettings) -> None:
    @kopf.on.resume(*KIND.gvr, id="reconcile", registry=registry)
    @kopf.on.create(*KIND.gvr, id="reconcile", registry=registry)
    async def reconcile_training_job_run(
        body: kopf.Body, patch: kopf.Patch, retry: int, memo: Any, **_: Any
    ) -> None:
        async def work(rt: Runtime) -> Outcome:
            async with reconcile_slot():
                outcome, owners = await workflow.reconcile(await for_run(rt, body, patch), body)
            if owners is not None:
                patch.metadata["ownerReferences"] = owners
            return outcome

        await handle(KIND, memo, body, patch, retry, work, writer=through_run_status_writer)

    register_finalizer(
        registry, KIND, finalize_as(for_run, workflow.finalize), writer=through_run_status_writer
    )
