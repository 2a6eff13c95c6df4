"""The Kueue gate (workflows/kueue_gate.py) on a recorded Kubernetes API: an unlabelled run costs no
request; a labelled run gets its Workload and waits until Kueue admits it; a cluster without Kueue
lets it start with one Warning."""

from __future__ import annotations

import asyncio
import types
from typing import Any

import pytest
from ocids_operator.adapters import kueue as kueue_adapter
from ocids_operator.adapters.kube import KubeClient, KubeError
from ocids_operator.api import TrainingJob, TrainingJobRun
from ocids_operator.core.admission import Hold, HoldReason, Refuse
from ocids_operator.core.errors import ReconcileError
from ocids_operator.core.kueue_workload import MAX_LABEL, MAX_NAME, run_label_value, workload_name
from ocids_operator.core.price_table import parse_price_table
from ocids_operator.core.shape_choice import FastLaunchConfig
from ocids_operator.workflows import kueue, kueue_gate, run_pricing

DISCOVERY = "/apis/kueue.x-k8s.io/v1beta2"
WORKLOADS = "/apis/kueue.x-k8s.io/v1beta2/namespaces/ns/workloads"


class Api(KubeClient):
    def __init__(self, installed: bool = True, versions: tuple[str, ...] = ()) -> None:
        self.installed = installed
        self.versions = versions
        self.objects: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        self.events: list[tuple[str, str]] = []
        self.messages: list[str] = []
        self.priority: dict[str, int] = {"urgent": 1000}
        self.refuse = False

    async def request(self, method: str, path: str, body: Any = None, *args: Any, **kwargs: Any) -> Any:
        self.calls.append((method, path))
        if path == DISCOVERY:
            return {"resources": [{"name": "workloads"}]} if self.installed else None
        if path == "/apis/kueue.x-k8s.io":
            return {"versions": [{"version": v} for v in self.versions]} if self.versions else None
        if method == "POST" and path == WORKLOADS and self.refuse:
            raise KubeError(422, 'Workload.kueue.x-k8s.io "tjr-r1" is invalid: spec.queueName: Invalid value')
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
        self.messages.append(message)


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


def _check(api: Api, entry: dict[str, Any], job: TrainingJob = JOB, oci: Any = None) -> Any:
    kueue_adapter._installed.clear()
    rt: Any = types.SimpleNamespace(
        kube=api, oci=oci, settings=types.SimpleNamespace(price_table="ocids-prices")
    )
    run = TrainingJobRun.model_validate({**entry, "spec": {"jobRef": {"name": "gpu"}}})
    return asyncio.run(kueue_gate.check(rt, entry, run.spec, job.spec, {}))


def _job(infrastructure: dict[str, Any]) -> TrainingJob:
    body = JOB.model_dump(by_alias=True, exclude_none=True)
    body["spec"]["infrastructure"] = infrastructure
    return TrainingJob.model_validate(body)


def _requests(workload: dict[str, Any]) -> dict[str, str]:
    return workload["spec"]["podSets"][0]["template"]["spec"]["containers"][0]["resources"]["requests"]  # type: ignore[no-any-return]


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
    # A fixed shape declares its OCPUs and memory too (ListJobShapes' sizes), not only its GPUs.
    assert _requests(workload) == {"cpu": "30", "memory": "480Gi", "nvidia.com/gpu": "2"}
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


def test_a_kueue_too_old_for_v1beta2_is_named_in_the_warning() -> None:
    api = Api(installed=False, versions=("v1beta1",))
    entry = _entry({"kueue.x-k8s.io/queue-name": "team-a"}, uid="uid-old-kueue")
    assert _check(api, entry) is None
    assert api.events == [("Warning", "KueueNotInstalled")]
    assert api.messages[-1].startswith(
        "labelled kueue.x-k8s.io/queue-name=team-a, but the installed Kueue serves kueue.x-k8s.io "
        "v1beta1, not v1beta2"
    ), api.messages


class FastLaunchOci:
    async def list_fast_launch_job_configs(self, compartment_id: str, fresh: bool = False) -> list[Any]:
        return [FastLaunchConfig("gpu-a10", "VM.GPU.A10.1", 15, 240, "SUPPORTED")]


def test_a_fast_launch_run_is_queued_with_the_shape_it_will_get() -> None:
    """It used to be refused (Failed) as WaitingForQuota: 'its shape is not known yet (fast launch)'."""
    api = Api()
    labels = {"kueue.x-k8s.io/queue-name": "team-a"}
    held = _check(api, _entry(labels), _job({"fastLaunch": True}), FastLaunchOci())
    assert isinstance(held, Hold) and held.reason is HoldReason.WAITING_FOR_QUOTA, held
    assert _requests(api.objects["tjr-r1"]) == {"cpu": "15", "memory": "240Gi", "nvidia.com/gpu": "1"}


def test_a_compute_target_run_starts_without_a_workload_and_says_so() -> None:
    api = Api()
    labels = {"kueue.x-k8s.io/queue-name": "team-a"}
    job = _job(
        {
            "computeTargetId": "ocid1.datasciencecomputetarget.oc1.iad.x",
            "resources": {"requests": {"ocpus": 2, "memoryInGBs": 16}},
        }
    )
    assert _check(api, _entry(labels, uid="uid-ct"), job) is None
    assert api.objects == {} and api.events == [("Normal", "KueueNotUsed")]


def test_a_fixed_shape_of_unknown_size_is_held_until_the_price_table_gives_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api = Api()
    labels = {"kueue.x-k8s.io/queue-name": "team-a"}
    job = _job({"shape": "VM.Standard.X9.4"})
    table: list[Any] = [None]

    async def load(rt: Any) -> Any:
        return table[0]

    monkeypatch.setattr(run_pricing, "load_price_table", load)
    held = _check(api, _entry(labels), job)
    assert isinstance(held, Hold) and held.reason is HoldReason.UNKNOWN_RESOURCES, held
    assert "VM.Standard.X9.4" in held.message and "ocpus and memoryGBs" in held.message
    assert api.objects == {}
    table[0] = parse_price_table(
        "currency: USD\nshapes:\n  - match: VM.Standard.X9.*\n    ocpuHour: 0.03\n    ocpus: 4\n"
        "    memoryGBs: 64\n    source: x\n    date: '2026-12-01'\n",
        "t",
    )
    assert isinstance(_check(api, _entry(labels), job), Hold)
    assert _requests(api.objects["tjr-r1"]) == {"cpu": "4", "memory": "64Gi"}


def test_a_run_whose_resources_cannot_be_resolved_is_refused_with_its_own_reason() -> None:
    api = Api()
    labels = {"kueue.x-k8s.io/queue-name": "team-a"}
    job = _job({"fastLaunch": True})
    run = TrainingJobRun.model_validate({**_entry(labels), "spec": {"jobRef": {"name": "gpu"}}})
    # run_sizes' own refusal (here: a fast launch shape nothing resolved) is not WaitingForQuota.
    answer = asyncio.run(
        kueue_gate._sizes(
            types.SimpleNamespace(kube=api),
            run.spec,
            job.spec.model_copy(
                update={"infrastructure": job.spec.infrastructure.model_copy(update={"fast_launch": False})}
            ),
            {},
        )  # type: ignore[arg-type]
    )
    assert isinstance(answer, Refuse) and answer.reason is HoldReason.UNKNOWN_RESOURCES, answer


def test_a_workload_kueue_refuses_stalls_the_run_naming_the_problem() -> None:
    """It used to be held (and the create re-POSTed) every poll interval, forever."""
    api = Api()
    api.refuse = True
    with pytest.raises(ReconcileError) as raised:
        _check(api, _entry({"kueue.x-k8s.io/queue-name": "team-a"}))
    assert raised.value.outcome.reason == "KueueRefusedWorkload"
    assert "spec.queueName: Invalid value" in raised.value.outcome.message


def _known(name: str = "tjr-r1", uid: str = "uid-1", state: str = "Admitted") -> dict[str, Any]:
    conditions = [{"type": state, "status": "True"}] if state != "Pending" else []
    return {
        "metadata": {
            "name": name,
            "namespace": "ns",
            "uid": f"w-{uid}",
            "ownerReferences": [{"kind": "TrainingJobRun", "name": "r1", "uid": uid, "controller": True}],
        },
        "spec": {"queueName": "team-a"},
        "status": {"conditions": conditions},
    }


def test_a_run_whose_queue_label_was_removed_still_waits_for_its_workload() -> None:
    """It used to start without quota (and its Workload was never Finished)."""
    api = Api()
    workload = _known(state="Pending")
    api.objects["tjr-r1"] = workload
    kueue.remember(workload)
    try:
        held = _check(api, _entry(None))
        assert isinstance(held, Hold) and held.reason is HoldReason.WAITING_FOR_QUOTA, held
        assert "LocalQueue team-a" in held.message
    finally:
        kueue.remember(workload, deleted=True)
    assert _check(api, _entry(None, uid="other")) is None


def test_another_gates_hold_gives_an_admitted_workloads_quota_back() -> None:
    api = Api()
    workload = _known()
    api.objects["tjr-r1"] = workload
    kueue.remember(workload)
    rt: Any = types.SimpleNamespace(kube=api)
    asyncio.run(kueue_gate.step_aside(rt, _entry({"kueue.x-k8s.io/queue-name": "team-a"})))
    assert "tjr-r1" not in api.objects
    kueue.remember(workload, deleted=True)
    calls = len(api.calls)
    asyncio.run(kueue_gate.step_aside(rt, _entry({"kueue.x-k8s.io/queue-name": "team-a"})))
    assert len(api.calls) == calls  # no Workload: no call
    pending = _known(state="Pending")
    api.objects["tjr-r1"] = pending
    kueue.remember(pending)
    asyncio.run(kueue_gate.step_aside(rt, _entry({"kueue.x-k8s.io/queue-name": "team-a"})))
    kueue.remember(pending, deleted=True)
    assert "tjr-r1" in api.objects  # a pending one holds no quota and keeps its place


def test_long_run_names_get_distinct_valid_workload_names_and_labels() -> None:
    long_a, long_b = "a" * 250 + "-x", "a" * 250 + "-y"
    assert workload_name(long_a) != workload_name(long_b)
    for name in (long_a, long_b, "b" * 58 + "." + "c" * 10):
        wl, label = workload_name(name), run_label_value(name)
        assert len(wl) <= MAX_NAME and len(label) <= MAX_LABEL
        assert wl[-1].isalnum() and label[-1].isalnum() and ".-" not in wl
    assert run_label_value("a" * 62 + "-" + "b") != run_label_value("a" * 62 + "-" + "c")
