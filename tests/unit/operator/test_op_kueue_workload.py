"""The Workload a labelled TrainingJobRun gets (core/kueue_workload.py): what Kueue counts for it, how
its state is read, and what the run says when it waits or is preempted."""

from __future__ import annotations

from typing import Any

from ocids_operator.api import TrainingJob, TrainingJobRun
from ocids_operator.core.cost import NodeSize, run_sizes
from ocids_operator.core.kueue_workload import (
    WorkloadState,
    eviction_message,
    finished_condition,
    owner_uid,
    pod_sets,
    preempted_conditions,
    waiting_message,
    workload_for,
    workload_state,
)

RUN = {"metadata": {"name": "train-1", "namespace": "team-a", "uid": "u-1"}}


def _job(infrastructure: dict[str, Any], **extra: Any) -> TrainingJob:
    return TrainingJob.model_validate(
        {
            "apiVersion": "ocids.io/v1alpha1",
            "kind": "TrainingJob",
            "metadata": {"name": "j", "namespace": "team-a"},
            "spec": {
                "compartmentId": "ocid1.compartment.oc1..x",
                "projectId": "ocid1.datascienceproject.oc1.iad.x",
                "artifact": {"inline": {"fileName": "t.py", "content": "print(1)"}},
                "infrastructure": infrastructure,
                **extra,
            },
        }
    )


def _run() -> TrainingJobRun:
    return TrainingJobRun.model_validate(
        {
            "apiVersion": "ocids.io/v1alpha1",
            "kind": "TrainingJobRun",
            "metadata": {"name": "train-1", "namespace": "team-a"},
            "spec": {"jobRef": {"name": "j"}},
        }
    )


def _requests(sets: list[dict[str, Any]], index: int = 0) -> dict[str, str]:
    return dict(sets[index]["template"]["spec"]["containers"][0]["resources"]["requests"])


def test_a_gpu_shape_asks_for_its_gpus_and_a_flex_shape_for_its_ocpus_and_memory() -> None:
    gpu = run_sizes(_run().spec, _job({"shape": "VM.GPU.A10.2"}).spec)
    assert not isinstance(gpu, str)
    assert _requests(pod_sets(gpu)) == {"nvidia.com/gpu": "2"}
    flex = run_sizes(_run().spec, _job({"shape": "VM.Standard.E4.Flex", "ocpus": 4, "memoryInGBs": 64}).spec)
    assert not isinstance(flex, str)
    sets = pod_sets(flex)
    assert sets[0]["name"] == "main" and sets[0]["count"] == 1
    assert _requests(sets) == {"cpu": "4", "memory": "64Gi"}
    assert _requests(pod_sets([NodeSize("VM.Standard.E4.Flex", ocpus=1.5, memory_in_gbs=8)])) == {
        "cpu": "1.5",
        "memory": "8Gi",
    }


def test_a_multi_node_run_has_one_pod_set_per_node_group_with_its_replicas() -> None:
    sets = pod_sets([NodeSize("BM.GPU.H100.8", count=2), NodeSize("VM.Standard.E4.Flex", 2, 32, count=1)])
    assert [(s["name"], s["count"]) for s in sets] == [("nodes-0", 2), ("nodes-1", 1)]
    assert _requests(sets, 0) == {"nvidia.com/gpu": "8"}


def test_the_workload_is_owned_by_the_run_and_carries_queue_and_priority() -> None:
    body = workload_for(RUN, "team-a", [NodeSize("VM.GPU.A10.1")], ("urgent", 1000))
    assert body["metadata"]["name"] == "tjr-train-1"
    assert body["metadata"]["labels"]["ocids.io/training-job-run"] == "train-1"
    [owner] = body["metadata"]["ownerReferences"]
    assert owner["kind"] == "TrainingJobRun" and owner["uid"] == "u-1" and owner["controller"] is True
    assert owner_uid(body) == "u-1"
    # Kueue's schema wants the value next to the reference (its webhook does not copy it).
    assert body["spec"]["priorityClassRef"] == {
        "group": "kueue.x-k8s.io",
        "kind": "WorkloadPriorityClass",
        "name": "urgent",
    }
    assert body["spec"]["priority"] == 1000
    assert body["spec"]["queueName"] == "team-a"
    plain = workload_for(RUN, "team-a", [NodeSize("VM.GPU.A10.1")])
    assert "priorityClassRef" not in plain["spec"] and "priority" not in plain["spec"]


def _wl(*conditions: tuple[str, str, str, str]) -> dict[str, Any]:
    return {
        "metadata": {"name": "tjr-train-1"},
        "status": {
            "conditions": [{"type": t, "status": s, "reason": r, "message": m} for t, s, r, m in conditions]
        },
    }


def test_state_finished_wins_then_evicted_then_admitted() -> None:
    assert workload_state(_wl()) is WorkloadState.PENDING
    assert workload_state(_wl(("Admitted", "True", "Admitted", ""))) is WorkloadState.ADMITTED
    evicted = _wl(("Admitted", "True", "Admitted", ""), ("Evicted", "True", "Preempted", "by x"))
    assert workload_state(evicted) is WorkloadState.EVICTED
    assert workload_state(
        _wl(("Evicted", "True", "Preempted", ""), ("Finished", "True", "Succeeded", ""))
    ) is (WorkloadState.FINISHED)
    assert workload_state(_wl(("Admitted", "False", "NoReservation", ""))) is WorkloadState.PENDING


def test_a_waiting_run_says_which_workload_and_kueues_reason() -> None:
    pending = _wl(("QuotaReserved", "False", "Pending", "insufficient unused quota for nvidia.com/gpu"))
    assert waiting_message(pending, "team-a") == (
        "waiting for Kueue to admit Workload tjr-train-1 (LocalQueue team-a): "
        "insufficient unused quota for nvidia.com/gpu"
    )
    assert (
        waiting_message(_wl(), "team-a")
        == "waiting for Kueue to admit Workload tjr-train-1 (LocalQueue team-a)"
    )


def test_a_preempted_run_names_kueues_reason_and_ends_with_reason_preempted() -> None:
    evicted = _wl(
        (
            "Evicted",
            "True",
            "Preempted",
            "Preempted to accommodate a workload (UID: 1) due to prioritization",
        ),
        (
            "Preempted",
            "True",
            "InClusterQueue",
            "Preempted to accommodate a workload (UID: 1) due to prioritization",
        ),
    )
    assert eviction_message(evicted) == (
        "Kueue evicted Workload tjr-train-1 (Preempted): "
        "Preempted to accommodate a workload (UID: 1) due to prioritization"
    )
    previous = [{"type": "Ready", "status": "False", "reason": "Canceled", "message": "x"}]
    conds = {c["type"]: c for c in preempted_conditions(previous, "preempted", 1, "2026-12-07T00:00:00Z")}
    assert conds["Ready"]["reason"] == "Preempted" and conds["Ready"]["status"] == "False"
    assert conds["Failed"]["status"] == "True" and conds["Failed"]["reason"] == "Preempted"
    assert conds["Stalled"]["status"] == "True"


def test_finished_condition_releases_quota_with_the_runs_outcome() -> None:
    done = finished_condition("Succeeded", "ok", "2026-12-07T00:00:00Z")
    assert done["type"] == "Finished" and done["status"] == "True" and done["reason"] == "Succeeded"
    assert finished_condition("Canceled", "", "t")["reason"] == "Failed"
