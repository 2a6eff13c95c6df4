"""A Kueue Workload's life after the gate made it (workflows/kueue_gate.py):

- admitted: the held run is woken at once (not at its next look a poll interval later);
- evicted (preempted, deactivated) while its OCI run may exist: the run is canceled as spec.cancel
  cancels it, with Kueue's reason in the `ocids.io/preempted` annotation, and ends Canceled with
  reason Preempted. Its quota is released once the OCI run has ended, not before: the capacity is
  in use until then;
- deleted (by hand) while its OCI run is active: canceled the same way (its quota is no longer
  reserved, and Kueue would give it to another run); a run not created yet is looked at again and
  gets a new Workload;
- the run ended: the Workload gets condition Finished, which releases its quota.

A canceled run's OCI run is canceled whatever its deletionPolicy: Retain keeps an ended run in OCI,
never a running one, since the quota is given to another run at once.

Which run has a Workload is kept from the Workload watch (`known`): the gate and the run handler
go by that, not by the run's `kueue.x-k8s.io/queue-name` label, which a user may remove after the
Workload was made (the run would then start without quota and its Workload never be Finished).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

from .. import metrics
from ..adapters.kueue import KueueApi
from ..api.training_job_run import TrainingJobRunStatus
from ..core import conditions as cond
from ..core.admission import HoldReason
from ..core.kinds import TRAINING_JOB_RUN_KIND
from ..core.kueue_workload import (
    PREEMPTED_ANNOTATION,
    PREEMPTED_REASON,
    QUEUE_LABEL,
    WorkloadState,
    deactivated,
    eviction_message,
    finished_condition,
    owner_name,
    owner_uid,
    preempted_conditions,
    workload_name,
    workload_state,
)
from ..core.phases import RunPhase, run_finished
from ..core.run_entry import hold_reason, is_active, is_waiting
from ..core.status_patch import StatusPatch
from ..runtime import Runtime

log = logging.getLogger(__name__)
# Runs whose Workload is already Finished (uids), bounded: a finished run's later events cost nothing.
_finished: set[str] = set()
MAX_REMEMBERED = 10_000


@dataclasses.dataclass(frozen=True)
class KnownWorkload:
    """A run's Workload as the Workload watch last saw it."""

    namespace: str
    name: str
    uid: str
    queue: str
    state: WorkloadState
    active: bool


# Run uid -> its Workload, fed by the Workload watch (a Workload is removed with its DELETED event).
known: dict[str, KnownWorkload] = {}


def remember(workload: Mapping[str, Any], deleted: bool = False) -> None:
    meta = workload.get("metadata") or {}
    run_uid = owner_uid(workload)
    if not run_uid:
        return
    if deleted:
        seen = known.get(run_uid)
        if seen is not None and seen.uid == str(meta.get("uid")):
            known.pop(run_uid, None)
        return
    known[run_uid] = KnownWorkload(
        namespace=str(meta.get("namespace")),
        name=str(meta.get("name")),
        uid=str(meta.get("uid")),
        queue=str((workload.get("spec") or {}).get("queueName") or ""),
        state=workload_state(workload),
        active=not deactivated(workload),
    )


def queued(run: Mapping[str, Any]) -> bool:
    """The run goes through Kueue: it is labelled, or a Workload of it exists (label removed since)."""
    meta = run.get("metadata") or {}
    return bool((meta.get("labels") or {}).get(QUEUE_LABEL)) or str(meta.get("uid")) in known


async def workload_deleted(rt: Runtime, workload: Mapping[str, Any]) -> None:
    """A Workload gone while its run is active in OCI: nothing holds its quota any more, so the run is
    canceled as Kueue's preemption cancels it. A run not created yet is looked at again (a new one)."""
    remember(workload, deleted=True)
    await _lost(rt, workload)


async def _lost(rt: Runtime, workload: Mapping[str, Any]) -> None:
    meta = workload.get("metadata") or {}
    namespace, uid, name = str(meta.get("namespace")), owner_uid(workload), owner_name(workload)
    if not uid or not name or uid in _finished:
        return
    wl_name = meta.get("name")
    await _preempt(rt, workload, namespace, name, uid, f"its Kueue Workload {wl_name} was deleted")


async def workload_changed(rt: Runtime, workload: Mapping[str, Any]) -> None:
    remember(workload)
    meta = workload.get("metadata") or {}
    namespace, uid, name = str(meta.get("namespace")), owner_uid(workload), owner_name(workload)
    if not uid or not name:
        return
    if meta.get("deletionTimestamp"):
        # Deleted, kept by Kueue's finalizer until its quota is given back: lost to the run already.
        await _lost(rt, workload)
        return
    state = workload_state(workload)
    if state is WorkloadState.ADMITTED:
        entry = next(
            (e for e in rt.ledger.entries(namespace) if (e.get("metadata") or {}).get("uid") == uid), None
        )
        if entry is None or is_waiting(entry):
            await rt.waker.wake_run(namespace, name, uid)
    elif state is WorkloadState.EVICTED:
        await _preempt(rt, workload, namespace, name, uid)


async def _preempt(
    rt: Runtime,
    workload: Mapping[str, Any],
    namespace: str,
    name: str,
    uid: str,
    message: str | None = None,
) -> None:
    run = await rt.kube.get_training_job_run(namespace, name)
    if run is None or run["metadata"].get("uid") != uid or run["metadata"].get("deletionTimestamp"):
        return
    status = run.get("status") or {}
    if run_finished(status) or (run.get("spec") or {}).get("cancel"):
        return
    if not is_active(run):
        # Nothing in OCI now (not created yet, or between attempts): its gate gives the quota back
        # and queues it again. One created meanwhile is canceled from its own event (run_changed).
        await rt.waker.wake_run(namespace, name, uid)
        return
    message = message or eviction_message(workload)
    if await rt.kube.cancel_training_job_run(namespace, name, uid, {PREEMPTED_ANNOTATION: message[:1000]}):
        log.info("%s/%s: %s; canceling its OCI run", namespace, name, message)
        involved = TRAINING_JOB_RUN_KIND.involved_object(run["metadata"])
        await rt.kube.post_event(involved, "Normal", PREEMPTED_REASON, f"{message}; canceling its OCI run")


def count_waiting(rt: Runtime, namespace: str) -> None:
    """`ocids_runs_held{namespace,reason="WaitingForQuota"}`, from the run ledger (no API call)."""
    held = sum(
        1
        for entry in rt.ledger.entries(namespace)
        if is_waiting(entry) and hold_reason(entry) == HoldReason.WAITING_FOR_QUOTA.value
    )
    metrics.RUNS_HELD.labels(namespace, "", HoldReason.WAITING_FOR_QUOTA.value).set(held)


async def run_changed(rt: Runtime, run: Mapping[str, Any]) -> None:
    """A Kueue run's event: once it has ended, its Workload is Finished (and a preempted run's
    conditions say Preempted). One created in OCI after its Workload was evicted (the eviction came
    between the gate's look and the create) is canceled now."""
    if not queued(run):
        return
    meta = run.get("metadata") or {}
    if rt.ledger.attached:
        count_waiting(rt, str(meta.get("namespace")))
    status = run.get("status") or {}
    uid = str(meta.get("uid"))
    if uid in _finished:
        return
    if not run_finished(status):
        seen = known.get(uid)
        evicted = seen is not None and seen.active and seen.state is WorkloadState.EVICTED
        if evicted and is_active(run) and not (run.get("spec") or {}).get("cancel"):
            assert seen is not None
            workload = await KueueApi(rt.kube).get(seen.namespace, seen.name)
            still = workload is not None and owner_uid(workload) == uid
            if still and workload_state(workload or {}) is WorkloadState.EVICTED:
                assert workload is not None
                await _preempt(rt, workload, seen.namespace, str(meta["name"]), uid)
        return
    namespace, name = str(meta["namespace"]), str(meta["name"])
    preempted = (meta.get("annotations") or {}).get(PREEMPTED_ANNOTATION)
    if preempted and status.get("phase") == RunPhase.CANCELED.value:
        await _say_preempted(rt, run, preempted)
    api = KueueApi(rt.kube)
    if not await api.installed():
        return
    wl_name = workload_name(name)
    workload = await api.get(namespace, wl_name)
    if (
        workload is not None
        and owner_uid(workload) == uid
        and workload_state(workload) is not WorkloadState.FINISHED
    ):
        phase = str(status.get("phase"))
        message = f"TrainingJobRun {name} ended {phase}: {status.get('message') or ''}".rstrip(": ")
        await api.set_condition(namespace, wl_name, finished_condition(phase, message, cond.now_rfc3339()))
        log.info("%s/%s: ended %s; Workload %s Finished (quota released)", namespace, name, phase, wl_name)
    if len(_finished) >= MAX_REMEMBERED:
        _finished.clear()
    _finished.add(uid)


async def _say_preempted(rt: Runtime, run: Mapping[str, Any], why: str) -> None:
    meta = run["metadata"]
    status = run.get("status") or {}
    ready: Mapping[str, Any] = next(
        (c for c in status.get("conditions") or [] if c.get("type") == cond.READY), {}
    )
    if ready.get("reason") == PREEMPTED_REASON:
        return
    ended = status.get("message") or ""
    retained = (run.get("spec") or {}).get("deletionPolicy") == "Retain"
    kept = "; its OCI run was canceled (deletionPolicy Retain keeps it in OCI, ended)" if retained else ""
    message = cond.bounded(f"preempted by Kueue: {why}{kept}; {ended}".rstrip("; "))
    conditions = preempted_conditions(
        status.get("conditions"), message, meta.get("generation"), cond.now_rfc3339()
    )
    patch = StatusPatch(TrainingJobRunStatus.model_validate({"message": message, "conditions": conditions}))
    await rt.run_status.write_over_current(meta["namespace"], meta["name"], meta["uid"], patch)
