"""The Kueue gate (workflows/run_gates.py, last): a run labelled `kueue.x-k8s.io/queue-name` gets a
Workload (core/kueue_workload.py) and is not created in OCI until Kueue admits it (held with reason
WaitingForQuota meanwhile). Unlabelled runs cost nothing here. A labelled run in a cluster without
Kueue (or with a Kueue too old to serve v1beta2) starts as if unlabelled, with one Warning Event
saying so; a compute-target run too (its own instances hold the capacity), with a Normal Event.
A Workload Kueue's webhook or schema refuses stalls the run (KueueRefusedWorkload, Kueue's words).

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
from ..core.cost import NodeSize, run_sizes
from ..core.errors import stalled
from ..core.kinds import TRAINING_JOB_RUN_KIND
from ..core.kueue_workload import (
    PRIORITY_LABEL,
    QUEUE_LABEL,
    WorkloadState,
    deactivated,
    owner_uid,
    sized,
    waiting_message,
    workload_for,
    workload_name,
    workload_state,
)
from ..runtime import Runtime
from . import kueue, run_pricing, shape_gate

log = logging.getLogger(__name__)
KUEUE_REFUSED = "KueueRefusedWorkload"
# Runs already told Kueue is missing or not used (uids), bounded: one Event each, not one per look.
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
    seen = kueue.known.get(str(meta.get("uid")))
    # A Workload made for it decides even when the label was removed since (workflows/kueue.py).
    queue = labels.get(QUEUE_LABEL) or (seen.queue if seen is not None else None)
    if not queue:
        return None
    api = KueueApi(rt.kube)
    namespace, name = str(meta["namespace"]), str(meta["name"])
    missing = await api.missing()
    if missing is not None:
        await _warn_missing(rt, meta, queue, missing)
        return None
    wl_name = seen.name if seen is not None else workload_name(name)
    workload = await api.get(namespace, wl_name)
    if workload is None:
        sizes = await _sizes(rt, spec, job_spec, job)
        if sizes is None:
            await _say_once(
                rt,
                meta,
                "Normal",
                "KueueNotUsed",
                f"labelled {QUEUE_LABEL}={queue}, but it runs on a compute target, whose own instances "
                "hold the capacity: started without a Kueue Workload",
            )
            return None
        if not isinstance(sizes, list):
            return sizes
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
            if exc.status in (400, 403, 422):  # Kueue's webhook or the schema refused it: no retry helps
                raise stalled(
                    KUEUE_REFUSED, f"Kueue refused Workload {wl_name} (LocalQueue {queue}): {exc}"
                ) from None
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
    if deactivated(workload):  # set by hand: Kueue keeps it out of the queue until it is active again
        return Hold(
            HoldReason.WAITING_FOR_QUOTA,
            f"Workload {wl_name} is deactivated (spec.active=false): waiting until it is active again",
        )
    if state is WorkloadState.ADMITTED:
        return None
    if state in (WorkloadState.EVICTED, WorkloadState.FINISHED):
        # Taken back before anything ran (or left from an earlier end): nobody
        # else gives its quota back (Kueue leaves that to the owner, as its job integrations do).
        # A new one queues again.
        message = waiting_message(workload, str(queue))
        await api.delete(namespace, wl_name, str((workload.get("metadata") or {}).get("uid")))
        return Hold(HoldReason.WAITING_FOR_QUOTA, f"{message}; queued again")
    return Hold(HoldReason.WAITING_FOR_QUOTA, waiting_message(workload, str(queue)))


async def step_aside(rt: Runtime, entry: Mapping[str, Any]) -> None:
    """Another gate holds a run whose Workload Kueue admitted (a retry gated again, a budget or cap
    that filled meanwhile): its Workload is deleted, so its quota goes to runs that can start. The
    gate makes a new one once the other gates let the run through. No call unless it has one."""
    meta = entry.get("metadata") or {}
    seen = kueue.known.get(str(meta.get("uid")))
    if seen is None or seen.state is not WorkloadState.ADMITTED:
        return  # a pending one holds no quota, and keeps its place in the queue
    await KueueApi(rt.kube).delete(seen.namespace, seen.name, seen.uid)
    log.info(
        "%s/%s: held by another gate; Workload %s deleted so its quota is not held meanwhile",
        meta.get("namespace"),
        meta.get("name"),
        seen.name,
    )


async def _sizes(
    rt: Runtime, spec: TrainingJobRunSpec, job_spec: TrainingJobSpec, job: Mapping[str, Any]
) -> list[NodeSize] | GateAnswer:
    """The nodes to declare to Kueue; None for a compute-target run (nothing to declare); else
    what holds or refuses the run."""
    if job_spec.infrastructure.fast_launch and job_spec.nodes is None:
        # The shape and size the create will send (a refusal here is the create path's own).
        job_spec, _ = await shape_gate.with_fast_launch(
            rt, job_spec, job.get("status"), (job.get("metadata") or {}).get("generation")
        )
    if job_spec.nodes is None:
        infra = job_spec.infrastructure.with_override(spec.infrastructure)
        if infra.compute_target_id is not None:
            return None
    sizes = run_sizes(spec, job_spec)
    if isinstance(sizes, str):
        return Refuse(HoldReason.UNKNOWN_RESOURCES, f"Kueue cannot be told what it uses: {sizes}")
    table = None
    filled: list[NodeSize] = []
    for size in sizes:
        done = sized(size)
        if done is None:
            table = table or await run_pricing.load_price_table(rt)
            row = table.row_for(size.shape) if table is not None else None
            done = sized(size, (row.ocpus, row.memory_gbs) if row is not None else None)
        if done is None:
            return Hold(
                HoldReason.UNKNOWN_RESOURCES,
                f"Kueue cannot be told what shape {size.shape} uses: its OCPUs and memory are not known "
                f"(set ocpus and memoryGBs on its row of the price table {rt.settings.price_table})",
            )
        filled.append(done)
    return filled


async def _warn_missing(rt: Runtime, meta: Mapping[str, Any], queue: str, missing: str) -> None:
    message = f"labelled {QUEUE_LABEL}={queue}, but {missing}: started without waiting for quota"
    await _say_once(rt, meta, "Warning", "KueueNotInstalled", message)


async def _say_once(rt: Runtime, meta: Mapping[str, Any], type_: str, reason: str, message: str) -> None:
    uid = str(meta.get("uid"))
    if uid in _warned:
        return
    if len(_warned) >= MAX_WARNED:
        _warned.clear()
    _warned.add(uid)
    log.log(
        logging.WARNING if type_ == "Warning" else logging.INFO,
        "%s/%s: %s",
        meta.get("namespace"),
        meta.get("name"),
        message,
    )
    await rt.kube.post_event(TRAINING_JOB_RUN_KIND.involved_object(meta), type_, reason, message)
