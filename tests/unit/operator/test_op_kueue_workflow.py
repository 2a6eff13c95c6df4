"""A Workload's life after the gate (workflows/kueue.py) on a recorded API: admitted wakes the held
run; evicted or deleted while the OCI run is active cancels it (Preempted); a run created after its
Workload was evicted is canceled from its own event; an ended run's Workload is Finished, even when
its queue label was removed."""

from __future__ import annotations

import asyncio
import types
from typing import Any

import pytest
from ocids_operator.adapters import kueue as kueue_adapter
from ocids_operator.workflows import kueue

WORKLOADS = "/apis/kueue.x-k8s.io/v1beta2/namespaces/ns/workloads"


class World:
    def __init__(self, run_status: dict[str, Any], spec: dict[str, Any] | None = None) -> None:
        self.run: dict[str, Any] = {
            "metadata": {"name": "r1", "namespace": "ns", "uid": "run-1", "labels": {}},
            "spec": {"jobRef": {"name": "j"}, **(spec or {})},
            "status": run_status,
        }
        self.workloads: dict[str, dict[str, Any]] = {}
        self.woken: list[str] = []
        self.canceled: list[dict[str, str]] = []
        self.events: list[tuple[str, str, str]] = []
        self.conditions: list[dict[str, Any]] = []
        self.written: list[Any] = []
        self.ledger = types.SimpleNamespace(attached=False, entries=lambda ns=None: [self.run])
        self.rt: Any = types.SimpleNamespace(kube=self, waker=self, ledger=self.ledger, run_status=self)

    # kube
    async def get_training_job_run(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.run

    async def cancel_training_job_run(
        self, namespace: str, name: str, uid: str, annotations: dict[str, str] | None = None
    ) -> bool:
        self.canceled.append(annotations or {})
        self.run["spec"]["cancel"] = True
        return True

    async def post_event(self, involved: dict[str, Any], type_: str, reason: str, message: str) -> None:
        self.events.append((type_, reason, message))

    async def request(self, method: str, path: str, body: Any = None, *args: Any, **kwargs: Any) -> Any:
        if path == "/apis/kueue.x-k8s.io/v1beta2":
            return {"resources": [{"name": "workloads"}]}
        name = path.split("?")[0].removeprefix(WORKLOADS + "/").removesuffix("/status")
        if method == "GET":
            return self.workloads.get(name)
        if method == "PATCH":
            self.conditions += body["status"]["conditions"]
            return self.workloads.get(name)
        raise AssertionError(f"unexpected {method} {path}")

    # waker, status writer
    async def wake_run(self, namespace: str, name: str, uid: str) -> None:
        self.woken.append(name)

    async def write_over_current(self, namespace: str, name: str, uid: str, patch: Any) -> bool:
        self.written.append(patch)
        return True


def workload(state: str | None, reason: str = "Preempted", message: str = "by urgent") -> dict[str, Any]:
    conditions = []
    if state == "Admitted":
        conditions = [{"type": "Admitted", "status": "True"}]
    elif state == "Evicted":
        conditions = [
            {"type": "Admitted", "status": "True"},
            {"type": "Evicted", "status": "True", "reason": reason, "message": message},
        ]
    return {
        "metadata": {
            "name": "tjr-r1",
            "namespace": "ns",
            "uid": "wl-1",
            "labels": {"ocids.io/training-job-run": "r1"},
            "ownerReferences": [{"kind": "TrainingJobRun", "name": "r1", "uid": "run-1", "controller": True}],
        },
        "spec": {"queueName": "team-a"},
        "status": {"conditions": conditions},
    }


RUNNING = {"phase": "Running", "createAttemptedAt": "2026-12-07T10:00:00Z", "jobRunId": "ocid1.x"}
WAITING = {"phase": "Pending"}


@pytest.fixture(autouse=True)
def _fresh() -> Any:
    kueue.known.clear()
    kueue._finished.clear()
    kueue_adapter._installed.clear()
    yield
    kueue.known.clear()


def test_an_admitted_workload_wakes_its_held_run() -> None:
    world = World(dict(WAITING))
    asyncio.run(kueue.workload_changed(world.rt, workload("Admitted")))
    assert world.woken == ["r1"] and world.canceled == []


def test_an_evicted_workload_cancels_its_active_run_with_kueues_reason() -> None:
    world = World(dict(RUNNING))
    asyncio.run(kueue.workload_changed(world.rt, workload("Evicted")))
    assert world.canceled == [{"ocids.io/preempted": "Kueue evicted Workload tjr-r1 (Preempted): by urgent"}]
    assert [e[1] for e in world.events] == ["Preempted"]


def test_an_evicted_workload_only_wakes_a_run_between_attempts() -> None:
    """A failed attempt waiting for its retry is not in OCI: canceling it would end the retries."""
    world = World({"phase": "Pending", "jobRunId": "ocid1.x", "nextAttemptAt": "2026-12-07T11:00:00Z"})
    asyncio.run(kueue.workload_changed(world.rt, workload("Evicted")))
    assert world.canceled == [] and world.woken == ["r1"]


def test_a_workload_deleted_by_hand_cancels_its_active_run() -> None:
    """It used to be ignored: the run went on without quota."""
    world = World(dict(RUNNING))
    asyncio.run(kueue.workload_changed(world.rt, workload("Admitted")))
    asyncio.run(kueue.workload_deleted(world.rt, workload("Admitted")))
    assert world.canceled == [{"ocids.io/preempted": "its Kueue Workload tjr-r1 was deleted"}]
    assert "run-1" not in kueue.known


def test_a_workload_deleted_while_its_run_waits_wakes_it_for_a_new_one() -> None:
    world = World(dict(WAITING))
    asyncio.run(kueue.workload_deleted(world.rt, workload(None)))
    assert world.canceled == [] and world.woken == ["r1"]


def test_a_run_created_after_its_workload_was_evicted_is_canceled_from_its_own_event() -> None:
    """The eviction came between the gate's look and the create: the Workload's event found no
    createAttemptedAt (only woke it); the run's event with the stamp cancels it."""
    world = World(dict(WAITING))
    world.run["metadata"]["labels"] = {"kueue.x-k8s.io/queue-name": "team-a"}
    world.workloads["tjr-r1"] = workload("Evicted")
    asyncio.run(kueue.workload_changed(world.rt, world.workloads["tjr-r1"]))
    assert world.canceled == [] and world.woken == ["r1"]
    world.run["status"] = dict(RUNNING)
    asyncio.run(kueue.run_changed(world.rt, world.run))
    assert len(world.canceled) == 1


def test_an_ended_runs_workload_is_finished_even_with_its_label_removed() -> None:
    world = World({**RUNNING, "phase": "Succeeded", "conditions": [{"type": "Succeeded", "status": "True"}]})
    world.workloads["tjr-r1"] = workload("Admitted")
    asyncio.run(kueue.run_changed(world.rt, world.run))  # unlabelled, no Workload known: nothing
    assert world.conditions == []
    kueue.remember(world.workloads["tjr-r1"])
    asyncio.run(kueue.run_changed(world.rt, world.run))
    assert [(c["type"], c["reason"]) for c in world.conditions] == [("Finished", "Succeeded")]


def test_a_preempted_retain_runs_status_says_its_oci_run_was_canceled() -> None:
    ended = {
        **RUNNING,
        "phase": "Canceled",
        "message": "canceled",
        "conditions": [{"type": "Ready", "status": "False", "reason": "Canceled"}],
    }
    world = World(ended, spec={"deletionPolicy": "Retain"})
    world.run["metadata"]["labels"] = {"kueue.x-k8s.io/queue-name": "team-a"}
    world.run["metadata"]["annotations"] = {"ocids.io/preempted": "Kueue evicted Workload tjr-r1"}
    asyncio.run(kueue.run_changed(world.rt, world.run))
    message = world.written[0]["message"]
    assert message.startswith("preempted by Kueue: Kueue evicted Workload tjr-r1; its OCI run was canceled")
    assert "deletionPolicy Retain" in message
