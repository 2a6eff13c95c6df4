"""Kueue's Workload for a TrainingJobRun (kueue.x-k8s.io/v1beta2), made by the operator as the Spark
operator does for its own resources: Kueue admits Workloads of any owner, so ClusterQueue quotas,
cohorts, fair sharing and priorities govern OCI capacity once a run declares its shape as resources.

One pod set per node size (a single-node run: `main`), `count` = its nodes, each "pod" requesting
what one node has: `cpu` = OCPUs, `memory` = GB as Gi (a fixed shape's from the price table row or
the known fixed shapes), `nvidia.com/gpu` = GPUs (from the shape's name, as the price table counts
them). No pod is ever made: the template only carries requests, so a ClusterQueue must cover cpu
and memory (and nvidia.com/gpu for GPU shapes), or Kueue never admits the run.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from ..api import API_VERSION
from . import conditions as cond
from .cost import NodeSize, gpus_per_node
from .kinds import TRAINING_JOB_RUN_KIND

GROUP = "kueue.x-k8s.io"
VERSION = "v1beta2"
WORKLOADS = "workloads"
PRIORITY_CLASSES = "workloadpriorityclasses"
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
PRIORITY_LABEL = "kueue.x-k8s.io/priority-class"
# On the Workload: which run it stands for (what the operator's Workload watch selects).
RUN_LABEL = "ocids.io/training-job-run"
# On a run Kueue preempted: Kueue's reason, set with spec.cancel (shows why it was canceled).
PREEMPTED_ANNOTATION = "ocids.io/preempted"
GPU_RESOURCE = "nvidia.com/gpu"
PREEMPTED_REASON = "Preempted"
MAX_NAME = 253
MAX_LABEL = 63
# OCPUs and GB of memory per node of the fixed shapes Oracle documents (ListJobShapes' coreCount and
# memoryInGBs): a fixed shape's spec carries no size, and a Workload without cpu and memory would
# be admitted against no quota. A price table row's ocpus/memoryGBs wins (a shape newer than this).
FIXED_SHAPE_SIZES: dict[str, tuple[float, float]] = {
    "VM.Standard2.1": (1, 15),
    "VM.Standard2.2": (2, 30),
    "VM.Standard2.4": (4, 60),
    "VM.Standard2.8": (8, 120),
    "VM.Standard2.16": (16, 240),
    "VM.Standard2.24": (24, 320),
    "VM.Standard.E2.2": (2, 16),
    "VM.Standard.E2.4": (4, 32),
    "VM.Standard.E2.8": (8, 64),
    "VM.GPU2.1": (12, 72),
    "VM.GPU3.1": (6, 90),
    "VM.GPU3.2": (12, 180),
    "VM.GPU3.4": (24, 360),
    "VM.GPU3.8": (52, 768),
    "VM.GPU.A10.1": (15, 240),
    "VM.GPU.A10.2": (30, 480),
    "BM.GPU.A10.4": (64, 1024),
    "BM.GPU4.8": (64, 2048),
    "BM.GPU.H100.8": (112, 2048),
}


class WorkloadState(enum.StrEnum):
    PENDING = "Pending"  # no quota yet (or quota reserved, admission checks pending)
    ADMITTED = "Admitted"
    EVICTED = "Evicted"  # Kueue took its admission back (preempted, deactivated, ...)
    FINISHED = "Finished"


def _bounded(value: str, limit: int) -> str:
    """`value`, or when longer than `limit` its head and a hash of the whole (distinct names stay
    distinct; never ending in '-' or '.', which names and label values may not)."""
    if len(value) <= limit:
        return value
    digest = hashlib.sha256(value.encode()).hexdigest()[:10]
    return f"{value[: limit - len(digest) - 1].rstrip('-.')}-{digest}"


def workload_name(run_name: str) -> str:
    return _bounded(f"tjr-{run_name}", MAX_NAME)


def run_label_value(run_name: str) -> str:
    return _bounded(run_name, MAX_LABEL)


def sized(size: NodeSize, catalog: tuple[float | None, float | None] | None = None) -> NodeSize | None:
    """The size with a fixed shape's OCPUs and memory filled in (from `catalog`, else the known fixed
    shapes); None when a fixed shape's size is not known (Kueue would admit it against no quota)."""
    if size.ocpus is not None and size.memory_in_gbs is not None:
        return size
    ocpus, memory = catalog or (None, None)
    known = FIXED_SHAPE_SIZES.get(size.shape)
    if known is not None:
        ocpus, memory = ocpus or known[0], memory or known[1]
    ocpus, memory = size.ocpus or ocpus, size.memory_in_gbs or memory
    if not ocpus or not memory:
        return None
    return dataclasses.replace(size, ocpus=float(ocpus), memory_in_gbs=float(memory))


def node_requests(size: NodeSize) -> dict[str, str]:
    requests: dict[str, str] = {}
    if size.ocpus:
        requests["cpu"] = _quantity(size.ocpus)
    if size.memory_in_gbs:
        requests["memory"] = f"{_quantity(size.memory_in_gbs)}Gi"
    gpus = size.gpus if size.gpus is not None else gpus_per_node(size.shape)
    if gpus:
        requests[GPU_RESOURCE] = str(gpus)
    return requests


def _quantity(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def pod_sets(sizes: Sequence[NodeSize]) -> list[dict[str, Any]]:
    sets = []
    for index, size in enumerate(sizes):
        name = "main" if len(sizes) == 1 else f"nodes-{index}"
        container = {"name": "node", "image": "none", "resources": {"requests": node_requests(size)}}
        template = {
            "metadata": {"labels": {"ocids.io/shape": _bounded(size.shape, MAX_LABEL)}},
            "spec": {"containers": [container], "restartPolicy": "Never"},
        }
        sets.append({"name": name, "count": size.count, "template": template})
    return sets


def workload_for(
    run: Mapping[str, Any],
    queue: str,
    sizes: Sequence[NodeSize],
    priority: tuple[str, int] | None = None,
) -> dict[str, Any]:
    """The Workload for this run (its `metadata` as the run ledger keeps it). `priority`: the
    WorkloadPriorityClass's name and value (Kueue's schema wants both; it copies neither)."""
    meta = run.get("metadata") or {}
    spec: dict[str, Any] = {"queueName": queue, "podSets": pod_sets(sizes)}
    if priority is not None:
        spec["priorityClassRef"] = {"group": GROUP, "kind": "WorkloadPriorityClass", "name": priority[0]}
        spec["priority"] = priority[1]
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Workload",
        "metadata": {
            "name": workload_name(str(meta["name"])),
            "namespace": meta["namespace"],
            "labels": {RUN_LABEL: run_label_value(str(meta["name"])), QUEUE_LABEL: queue},
            "ownerReferences": [
                {
                    "apiVersion": API_VERSION,
                    "kind": TRAINING_JOB_RUN_KIND.name,
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "controller": True,
                    "blockOwnerDeletion": False,
                }
            ],
        },
        "spec": spec,
    }


def condition(workload: Mapping[str, Any] | None, type_: str) -> Mapping[str, Any] | None:
    for item in ((workload or {}).get("status") or {}).get("conditions") or []:
        if item.get("type") == type_:
            return dict(item)
    return None


def _true(workload: Mapping[str, Any] | None, type_: str) -> bool:
    return (condition(workload, type_) or {}).get("status") == "True"


def workload_state(workload: Mapping[str, Any]) -> WorkloadState:
    if _true(workload, "Finished"):
        return WorkloadState.FINISHED
    if _true(workload, "Evicted"):
        return WorkloadState.EVICTED
    if _true(workload, "Admitted"):
        return WorkloadState.ADMITTED
    return WorkloadState.PENDING


def deactivated(workload: Mapping[str, Any]) -> bool:
    """spec.active=false: Kueue evicts it and holds it out of the queue until it is active again."""
    return (workload.get("spec") or {}).get("active") is False


def owner_uid(workload: Mapping[str, Any]) -> str | None:
    for ref in (workload.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller") and ref.get("kind") == TRAINING_JOB_RUN_KIND.name:
            return str(ref.get("uid"))
    return None


def owner_name(workload: Mapping[str, Any]) -> str | None:
    for ref in (workload.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller") and ref.get("kind") == TRAINING_JOB_RUN_KIND.name:
            return str(ref.get("name"))
    return None


def waiting_message(workload: Mapping[str, Any], queue: str) -> str:
    """Why it waits, in Kueue's words where it gave them (QuotaReserved=False says which quota)."""
    name = (workload.get("metadata") or {}).get("name")
    base = f"waiting for Kueue to admit Workload {name} (LocalQueue {queue})"
    evicted = condition(workload, "Evicted")
    if _true(workload, "Evicted") and evicted:
        return f"{base}; evicted before it started ({evicted.get('reason')}: {evicted.get('message')})"
    reserved = condition(workload, "QuotaReserved")
    if reserved and reserved.get("status") == "False" and reserved.get("message"):
        return f"{base}: {reserved.get('message')}"
    return base


def eviction_message(workload: Mapping[str, Any]) -> str:
    evicted = condition(workload, "Evicted") or {}
    preempted = condition(workload, "Preempted") or {}
    why = preempted.get("message") or evicted.get("message") or ""
    reason = evicted.get("reason") or PREEMPTED_REASON
    return f"Kueue evicted Workload {(workload.get('metadata') or {}).get('name')} ({reason}): {why}".rstrip(
        ": "
    )


def finished_condition(phase: str, message: str, now: str) -> dict[str, Any]:
    """The Finished condition that releases a Workload's quota once its run ended."""
    reason = "Succeeded" if phase == "Succeeded" else "Failed"
    return {
        "type": "Finished",
        "status": "True",
        "reason": reason,
        "message": cond.bounded(message or f"the TrainingJobRun ended {phase}"),
        "lastTransitionTime": now,
    }


def preempted_conditions(
    previous: Sequence[Mapping[str, Any]] | None, message: str, generation: int | None, now: str
) -> list[dict[str, Any]]:
    """A canceled run's conditions with reason Preempted (the cancel was Kueue's, not the user's)."""
    desired = [
        *cond.health_conditions(cond.Health.STALLED, PREEMPTED_REASON, message),
        cond.Cond(cond.SUCCEEDED, False, PREEMPTED_REASON, message),
        cond.Cond(cond.FAILED, True, PREEMPTED_REASON, message),
    ]
    return cond.merge_conditions(previous, desired, generation, now)
