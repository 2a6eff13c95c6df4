"""Kueue's Workload for a TrainingJobRun (kueue.x-k8s.io/v1beta2), made by the operator as the Spark
operator does for its own resources: Kueue admits Workloads of any owner, so ClusterQueue quotas,
cohorts, fair sharing and priorities govern OCI capacity once a run declares its shape as resources.

One pod set per node size (a single-node run: `main`), `count` = its nodes, each "pod" requesting
what one node has: `cpu` = OCPUs, `memory` = GB as Gi, `nvidia.com/gpu` = GPUs (from the shape's
name, as the price table counts them). No pod is ever made: the template only carries requests.
"""

from __future__ import annotations

import enum
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


class WorkloadState(enum.StrEnum):
    PENDING = "Pending"  # no quota yet (or quota reserved, admission checks pending)
    ADMITTED = "Admitted"
    EVICTED = "Evicted"  # Kueue took its admission back (preempted, deactivated, ...)
    FINISHED = "Finished"


def workload_name(run_name: str) -> str:
    return f"tjr-{run_name}"[:MAX_NAME]


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
            "metadata": {"labels": {"ocids.io/shape": size.shape[:63]}},
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
            "labels": {RUN_LABEL: str(meta["name"])[:63], QUEUE_LABEL: queue},
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
