"""The Kueue gate (workflows/run_gates.py, last): a run labelled `kueue.x-k8s.io/queue-name` gets a
Workload (core/kueue_workload.py) and is not created in OCI until Kueue admits it (held with reason
WaitingForQuota meanwhile). Unlabelled runs cost nothing here. A labelled run in a cluster without
Kueue starts as if unlabelled, with one Warning Event saying so.

The rest of the Workload's life (a wake-up when admitted, a cancel when preempted, Finished when the
run ends) is workflows/kueue.py's.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from ..adapters.kube import KubeError
from ..adapters.kueue import KueueApi
from ..api.training_job import TrainingJobSpec
from ..api.training_job_run import TrainingJobRunSpec
from ..core.admission import GateAnswer, Hold, HoldReason, Refuse
from ..core.cost import run_sizes
from ..core.kinds import TRAINING_JOB_RUN_KIND
from ..core.kueue_workload import (
    PRIORITY_LABEL,
    QUEUE_LABEL,
    WorkloadState,
    owner_uid,
    waiting_message,
    workload_for,
    workload_name,
    workload_state,
)
from ..runtime import Runtime

log = logging.getLogger(__name__)
# Runs already told Kueue is missing (uids), bounded: one Warning each, not one per look.
_warned: set[str] = set()
MAX_WARNED = 10_000


async def check(
    rt: Runtime,
    entry: Mapping[str, Any],
    spec: TrainingJobRunSpec,
    job_spec: TrainingJobSpec,
    job: Mapping[str, Any],
) -> GateAnswer:
    meta = entry.get("metadata") or {}
    labels = meta.get("labels") or {}
    queue = labels.get(QUEUE_LABEL)
    if not queue:
        return None
    api = KueueApi(rt.kube)
    namespace, name = str(meta["namespace"]), str(meta["name"])
    if not await api.installed():
        await _warn_missing(rt, meta, queue)
        return None
    wl_name = workload_name(name)
    workload = await api.get(namespace, wl_name)
    if workload is None:
        sizes = run_sizes(spec, job_spec)
        if isinstance(sizes, str):
            return Refuse(
                HoldReason.WAITING_FOR_QUOTA,
                f"Kueue cannot queue it ({QUEUE_LABEL}={queue}): its resources are not known: {sizes}",
            )
        priority = None
        if priority_class := labels.get(PRIORITY_LABEL):
            value = await api.priority_value(str(priority_class))
            if value is None:
                return Hold(
                    HoldReason.WAITING_FOR_QUOTA,
                    f"WorkloadPriorityClass {priority_class} (label {PRIORITY_LABEL}) does not exist",
                )
            priority = (str(priority_class), value)
        body = workload_for(entry, str(queue), sizes, priority)
        try:
            workload = await api.create(namespace, body)
        except KubeError as exc:
            if exc.status in (400, 403, 422):  # Kueue's webhook or the schema refused it: say why
                return Hold(HoldReason.WAITING_FOR_QUOTA, f"Kueue refused Workload {wl_name}: {exc}")
            raise
        if workload is None:
            return Hold(HoldReason.WAITING_FOR_QUOTA, f"creating Workload {wl_name} for LocalQueue {queue}")
    if owner_uid(workload) != meta.get("uid"):
        # A run of the same name before this one: its Workload goes with it (garbage collection).
        return Hold(
            HoldReason.WAITING_FOR_QUOTA,
            f"Workload {wl_name} belongs to an earlier run of this name and is being deleted",
        )
    state = workload_state(workload)
    if state is WorkloadState.ADMITTED:
        return None
    if state in (WorkloadState.EVICTED, WorkloadState.FINISHED):
        # Taken back before anything ran (or left from an earlier end): nobody else gives its quota
        # back (Kueue leaves that to the owner, as its job integrations do). A new one queues again.
        message = waiting_message(workload, str(queue))
        await api.delete(namespace, wl_name, str((workload.get("metadata") or {}).get("uid")))
        return Hold(HoldReason.WAITING_FOR_QUOTA, f"{message}; queued again")
    return Hold(HoldReason.WAITING_FOR_QUOTA, waiting_message(workload, str(queue)))


async def _warn_missing(rt: Runtime, meta: Mapping[str, Any], queue: str) -> None:
    uid = str(meta.get("uid"))
    if uid in _warned:
        return
    if len(_warned) >= MAX_WARNED:
        _warned.clear()
    _warned.add(uid)
    message = (
        f"labelled {QUEUE_LABEL}={queue}, but Kueue is not installed (no kueue.x-k8s.io Workload API): "
        "started without waiting for quota"
    )
    log.warning("%s/%s: %s", meta.get("namespace"), meta.get("name"), message)
    await rt.kube.post_event(
        TRAINING_JOB_RUN_KIND.involved_object(meta), "Warning", "KueueNotInstalled", message
    )
