"""TrainingJobRun handlers: create/resume (create the OCI run or resume tracking it), cancel
(spec.cancel), the retry daemon, delete.

Progress after creation comes from the poller (workflows/run_poller.py), not from per-object timers:
the one daemon runs only on objects waiting for a retry (status.nextAttemptAt), and sleeps until the
retry is due.
Every status write goes through the run status writer, never kopf's patch (see run_status_writer).
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import weakref
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import kopf

from ..core.kinds import TRAINING_JOB_RUN_KIND
from ..core.status_patch import StatusPatch
from ..core.times import parse_time
from ..runtime import Runtime
from ..settings import OperatorSettings
from ..workflows import training_job_run as workflow
from ..workflows.outcome import Outcome
from . import run_ledger
from .identity import finalize_as, for_run
from .outcome import StatusWriter, handle, register_finalizer

KIND = TRAINING_JOB_RUN_KIND
# Runs reconciled at once. A thousand runs applied together otherwise all start at once: every one
# waits in the same queues (Kubernetes connections, the OCI threads), requests time out after 30 s,
# are retried, and creation slows to a crawl (measured: 151 s for 1,000). A few at a time keep
# each request short, and the slots still outnumber the OCI client's threads so those stay busy.
RECONCILE_SLOTS = 16
_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()
# After the retry daemon's handler succeeded: how long it waits for kopf to see the cleared
# nextAttemptAt and stop it, before looking again (a write kopf has not seen yet).
RETRY_SETTLE_SECONDS = 10.0
log = logging.getLogger(__name__)
# One reconcile per object at a time: the retry daemon runs beside kopf's change handlers, and a
# cancel must never race the creation of the next attempt (it would miss the run being made).
_object_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()


def object_lock(uid: str) -> asyncio.Lock:
    lock = _object_locks.get(uid)
    if lock is None:
        lock = _object_locks[uid] = asyncio.Lock()
    return lock


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


def fresh_reconcile(body: Mapping[str, Any]) -> Callable[[Runtime], Awaitable[Outcome]]:
    """Reconcile the object as it is now (read under its lock), not as `body` saw it: a timer's
    or a cancel's body may predate the other's writes."""
    meta = body["metadata"]

    async def work(rt: Runtime) -> Outcome:
        async with reconcile_slot(), object_lock(meta["uid"]):
            current = await rt.kube.get_training_job_run(meta["namespace"], meta["name"])
            if current is None or current["metadata"].get("uid") != meta["uid"]:
                return Outcome()  # gone, or another object of the same name
            if current["metadata"].get("deletionTimestamp"):
                return Outcome()  # the finalizer handles every attempt's run
            outcome, _owners = await workflow.reconcile(await for_run(rt, current), current)
        return outcome

    return work


async def locked_finalize(rt: Runtime, body: Mapping[str, Any]) -> Outcome:
    """Deletion after any retry being created has finished (and with the status it wrote): a run
    created while the finalizer looked at an older status would be left behind in OCI."""
    meta = body["metadata"]
    async with object_lock(meta["uid"]):
        current = await rt.kube.get_training_job_run(meta["namespace"], meta["name"])
        same = current is not None and current["metadata"].get("uid") == meta["uid"]
        return await workflow.finalize(rt, current if same and current is not None else body)


def register(registry: kopf.OperatorRegistry, settings: OperatorSettings) -> None:
    @kopf.on.resume(*KIND.gvr, id="reconcile", registry=registry)
    @kopf.on.create(*KIND.gvr, id="reconcile", registry=registry)
    async def reconcile_training_job_run(
        body: kopf.Body, patch: kopf.Patch, retry: int, memo: Any, **kwargs: Any
    ) -> None:
        run_ledger.attach(memo, kwargs)

        async def work(rt: Runtime) -> Outcome:
            async with reconcile_slot(), object_lock(body["metadata"]["uid"]):
                outcome, owners = await workflow.reconcile(await for_run(rt, body, patch), body)
            if owners is not None:
                patch.metadata["ownerReferences"] = owners
            return outcome

        await handle(KIND, memo, body, patch, retry, work, writer=through_run_status_writer)

    @kopf.on.update(*KIND.gvr, id="cancel", field="spec.cancel", new=True, registry=registry)
    async def cancel_training_job_run(
        body: kopf.Body, patch: kopf.Patch, retry: int, memo: Any, **kwargs: Any
    ) -> None:
        run_ledger.attach(memo, kwargs)
        await handle(KIND, memo, body, patch, retry, fresh_reconcile(body), writer=through_run_status_writer)

    def retry_pending(status: kopf.Status, **_: Any) -> bool:
        return bool(status.get("nextAttemptAt"))

    # A daemon, not a timer: it sleeps until the retry is due, so runs waiting in backoff cost no
    # wake-up, API call or log line in between (a timer logs "succeeded" each tick). kopf stops it
    # once nextAttemptAt is cleared (the retry made, canceled, or given up), by cancelling it at
    # once: the write that clears it is the daemon's own, and its watch event can arrive before the
    # write's answer, so the step is shielded (below). No grace period: kopf would hold a deletion
    # until it is over.
    @kopf.daemon(*KIND.gvr, id="retry", when=retry_pending, cancellation_timeout=5.0, registry=registry)
    async def retry_training_job_run(
        body: kopf.Body, patch: kopf.Patch, memo: Any, stopped: Any, **kwargs: Any
    ) -> None:
        run_ledger.attach(memo, kwargs)
        failures = 0
        while not stopped:
            at = parse_time((body.get("status") or {}).get("nextAttemptAt"))
            if at is None:
                return
            wait = (at - datetime.datetime.now(datetime.UTC)).total_seconds()
            if wait > 0:
                await stopped.wait(wait)
                continue
            try:
                # Shielded: a create, its status write and the poller's tracking happen together or
                # not at all (cancelled between the write and the tracking, an attempt would stay
                # Accepted for good).
                await asyncio.shield(
                    handle(
                        KIND,
                        memo,
                        body,
                        patch,
                        failures,
                        fresh_reconcile(body),
                        writer=through_run_status_writer,
                    )
                )
            except (kopf.TemporaryError, kopf.PermanentError) as exc:
                # Status and an Event already say why; the handler is tried again after the delay.
                failures += 1
                delay = getattr(exc, "delay", None) or settings.retry_max_seconds
                log.info(
                    "retry of %s/%s: %s; looking again in %.0fs",
                    body.metadata.namespace,
                    body.metadata.name,
                    exc,
                    delay,
                )
                await stopped.wait(delay)
                continue
            failures = 0
            # Made (or nothing left to do): kopf stops this daemon once the cleared nextAttemptAt
            # reaches it; until then, no second look.
            await stopped.wait(RETRY_SETTLE_SECONDS)

    register_finalizer(
        registry, KIND, finalize_as(for_run, locked_finalize), writer=through_run_status_writer
    )
