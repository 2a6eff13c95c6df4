"""The Kueue gate (workflows/kueue_gate.py) on a recorded Kubernetes API: an unlabelled run costs no
request; a labelled run gets its Workload and waits until Kueue admits it; a cluster without Kueue
lets it start with one Warning."""

from __future__ import annotations

import asyncio
import types
from typing import Any

from ocids_operator.adapters import kueue as kueue_adapter
from ocids_operator.adapters.kube import KubeClient
from ocids_operator.api import TrainingJob, TrainingJobRun
from ocids_operator.core.admission import Hold, HoldReason
from ocids_operator.workflows import kueue_gate

DISCOVERY = "/apis/kueue.x-k8s.io/v1beta2"
WORKLOADS = "/apis/kueue.x-k8s.io/v1beta2/namespaces/ns/workloads"


class Api(KubeClient):
    def __init__(self, installed: bool = True) -> None:
        self.installed = installed
        self.objects: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        self.events: list[tuple[str, str]] = []
        self.priority: dict[str, int] = {"urgent": 1000}

    async def request(self, method: str, path: str, body: Any = None, *args: Any, **kwargs: Any) -> Any:
        self.calls.append((method, path))
        if path == DISCOVERY:
            return {"resources": [{"name": "workloads"}]} if self.installed else None
        if "/workloadpriorityclasses/" in path:
            name = path.rsplit("/", 1)[1]
            return {"value": self.priority[name]} if name in self.priority else None
        if method == "POST" and path == WORKLOADS:
            self.objects[body["metadata"]["name"]] = body
            return body
        if method == "GET" and path.startswith(WORKLOADS + "/"):
            return self.objects.get(path.rsplit("/", 1)[1])
        if method == "DELETE" and path.startswith(WORKLOADS + "/"):
            return self.objects.pop(path.rsplit("/", 1)[1], None)
        raise AssertionError(f"unexpected {method} {path}")

    async def post_event(self, involved: dict[str, Any], type_: str, reason: str, message: str) -> None:
        self.events.append((type_, reason))


JOB = TrainingJob.model_validate(
    {
        "apiVersion": "ocids.io/v1alpha1",
        "kind": "TrainingJob",
        "metadata": {"name": "gpu", "namespace": "ns"},
        "spec": {
            "compartmentId": "ocid1.compartment.oc1..x",
            "projectId": "ocid1.datascienceproject.oc1.iad.x",
            "artifact": {"inline": {"fileName": "t.py", "content": "print(1)"}},
            "infrastructure": {"shape": "VM.GPU.A10.2"},
        },
    }
)


def _entry(labels: dict[str, str] | None, uid: str = "uid-1") -> dict[str, Any]:
    return {"metadata": {"name": "r1", "namespace": "ns", "uid": uid, "labels": labels or {}}, "status": {}}


def _check(api: Api, entry: dict[str, Any]) -> Any:
    kueue_adapter._installed.clear()
    rt: Any = types.SimpleNamespace(kube=api)
    run = TrainingJobRun.model_validate({**entry, "spec": {"jobRef": {"name": "gpu"}}})
    return asyncio.run(kueue_gate.check(rt, entry, run.spec, JOB.spec, {}))


def test_an_unlabelled_run_costs_no_request() -> None:
    api = Api()
    assert _check(api, _entry(None)) is None
    assert api.calls == []


def test_a_labelled_run_gets_its_workload_and_waits_for_admission() -> None:
    api = Api()
    labels = {"kueue.x-k8s.io/queue-name": "team-a", "kueue.x-k8s.io/priority-class": "urgent"}
    held = _check(api, _entry(labels))
    assert isinstance(held, Hold) and held.reason is HoldReason.WAITING_FOR_QUOTA, held
    assert held.message == "waiting for Kueue to admit Workload tjr-r1 (LocalQueue team-a)"
    workload = api.objects["tjr-r1"]
    assert workload["spec"]["priority"] == 1000 and workload["spec"]["queueName"] == "team-a"
    requests = workload["spec"]["podSets"][0]["template"]["spec"]["containers"][0]["resources"]["requests"]
    assert requests == {"nvidia.com/gpu": "2"}
    # Looked at again: the same Workload, still waiting; once admitted, the run goes on.
    assert isinstance(_check(api, _entry(labels)), Hold)
    assert [c for c in api.calls if c[0] == "POST"] == [("POST", WORKLOADS)]
    workload["status"] = {"conditions": [{"type": "Admitted", "status": "True"}]}
    assert _check(api, _entry(labels)) is None


def test_a_missing_priority_class_holds_the_run_and_says_so() -> None:
    api = Api()
    labels = {"kueue.x-k8s.io/queue-name": "team-a", "kueue.x-k8s.io/priority-class": "nope"}
    held = _check(api, _entry(labels))
    assert isinstance(held, Hold)
    assert held.message == "WorkloadPriorityClass nope (label kueue.x-k8s.io/priority-class) does not exist"
    assert api.objects == {}


def test_a_workload_of_an_earlier_run_of_the_same_name_is_not_taken_for_this_ones() -> None:
    api = Api()
    labels = {"kueue.x-k8s.io/queue-name": "team-a"}
    _check(api, _entry(labels, uid="old"))
    api.objects["tjr-r1"]["status"] = {"conditions": [{"type": "Admitted", "status": "True"}]}
    held = _check(api, _entry(labels, uid="new"))
    assert isinstance(held, Hold) and "belongs to an earlier run" in held.message


def test_without_kueue_a_labelled_run_starts_with_one_warning() -> None:
    api = Api(installed=False)
    entry = _entry({"kueue.x-k8s.io/queue-name": "team-a"}, uid="uid-no-kueue")
    assert _check(api, entry) is None
    assert _check(api, entry) is None
    assert api.events == [("Warning", "KueueNotInstalled")]


def test_a_workload_evicted_before_its_run_started_is_queued_again() -> None:
    """Kueue leaves giving an evicted Workload's quota back to its owner: the gate deletes it (nothing
    ran) and the next look makes a new one, queued again."""
    api = Api()
    labels = {"kueue.x-k8s.io/queue-name": "team-a"}
    _check(api, _entry(labels))
    api.objects["tjr-r1"]["metadata"]["uid"] = "w-1"
    api.objects["tjr-r1"]["status"] = {
        "conditions": [
            {"type": "Admitted", "status": "True"},
            {"type": "Evicted", "status": "True", "reason": "Preempted", "message": "by a higher priority"},
        ]
    }
    held = _check(api, _entry(labels))
    assert isinstance(held, Hold) and held.message.endswith(
        "evicted before it started (Preempted: by a higher priority); queued again"
    ), held
    assert "tjr-r1" not in api.objects
    assert isinstance(_check(api, _entry(labels)), Hold)
    assert "status" not in api.objects["tjr-r1"]  # a new one
