"""What the benchmark counts on the create path: OCI calls per new run, and runs reconciled at once."""

from __future__ import annotations

import asyncio
import copy
import datetime
from typing import Any

from ocids_operator.core.run_plan import RunView
from ocids_operator.handlers import training_job_run as run_handlers
from ocids_operator.runtime import Runtime
from ocids_operator.settings import OperatorSettings
from ocids_operator.workflows import training_job_run as run_workflow
from ocids_operator.workflows.run_poller import RunPoller

COMPARTMENT = "ocid1.compartment.oc1..comp"
JOB_ID = "ocid1.datasciencejob.oc1..j"
RUN_ID = "ocid1.datasciencejobrun.oc1..r"
TRAINING_JOB = {
    "metadata": {"name": "attrition", "namespace": "ml", "uid": "uid-job", "generation": 1},
    "spec": {
        "compartmentId": COMPARTMENT,
        "projectId": "ocid1.datascienceproject.oc1..proj",
        "artifact": {"inline": {"fileName": "train.py", "content": "print(1)"}},
        "infrastructure": {"shape": "VM.Standard2.1"},
        "logging": {"enabled": False},
    },
    "status": {
        "phase": "Active",
        "jobId": JOB_ID,
        "revision": 1,
        "observedGeneration": 1,
        "conditions": [{"type": "Ready", "status": "True", "observedGeneration": 1}],
    },
}
RUN = {
    "metadata": {"name": "attrition-lr", "namespace": "ml", "uid": "uid-run", "generation": 1},
    "spec": {"jobRef": {"name": "attrition"}},
}


def view(state: str = "ACCEPTED") -> RunView:
    return RunView(RUN_ID, JOB_ID, COMPARTMENT, state, tags={"ocids.io/uid": "uid-run"})


class Oci:
    region = "us-ashburn-1"

    def __init__(self, existing: RunView | None = None) -> None:
        self.calls: list[str] = []
        self.existing = existing

    async def list_job_runs(self, compartment_id: str, **filters: str) -> list[RunView]:
        self.calls.append("list_job_runs")
        return [self.existing] if self.existing is not None and "lifecycle_state" not in filters else []

    async def create_job_run(self, request: Any) -> RunView:
        self.calls.append("create_job_run")
        return view()


class Kube:
    def __init__(self) -> None:
        self.status: dict[str, Any] = {}

    async def get_training_job(self, namespace: str, name: str) -> dict[str, Any]:
        return copy.deepcopy(TRAINING_JOB)

    async def patch_run_status(
        self, namespace: str, name: str, uid: str, status: dict[str, Any], *, empty_at: str | None = None
    ) -> dict[str, Any]:
        self.status = {k: v for k, v in {**self.status, **status}.items() if v is not None}
        return {"status": self.status}

    async def post_event(self, *args: Any) -> None:
        pass


def reconcile(oci: Oci, kube: Kube, status: dict[str, Any] | None = None) -> None:
    async def scenario() -> None:
        settings = OperatorSettings()
        rt = Runtime(settings=settings, oci=oci, kube=kube, poller=RunPoller(settings, oci, kube))  # type: ignore[arg-type]
        try:
            await run_workflow.reconcile(rt, {**copy.deepcopy(RUN), "status": status or {}})
        finally:
            await rt.poller.stop()

    asyncio.run(scenario())


def test_a_new_run_costs_one_oci_call_to_create() -> None:
    oci, kube = Oci(), Kube()
    reconcile(oci, kube)
    assert oci.calls == ["create_job_run"]  # no attempt recorded: no run of ours can exist to look for
    assert kube.status["jobRunId"] == RUN_ID and kube.status["createAttemptedAt"]


def test_after_a_recorded_attempt_the_run_made_then_is_found_not_made_again() -> None:
    oci, kube = Oci(existing=view("IN_PROGRESS")), Kube()
    attempted = (datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=1)).isoformat()
    reconcile(oci, kube, {"phase": "Pending", "createAttemptedAt": attempted})
    assert oci.calls == ["list_job_runs"]
    assert kube.status["jobRunId"] == RUN_ID and kube.status["phase"] == "InProgress"


def test_runs_applied_together_are_reconciled_a_few_at_a_time() -> None:
    async def scenario() -> int:
        busy = peak = 0

        async def one() -> None:
            nonlocal busy, peak
            async with run_handlers.reconcile_slot():
                busy += 1
                peak = max(peak, busy)
                await asyncio.sleep(0)
                busy -= 1

        await asyncio.gather(*(one() for _ in range(200)))
        return peak

    assert asyncio.run(scenario()) == run_handlers.RECONCILE_SLOTS
    assert asyncio.run(scenario()) == run_handlers.RECONCILE_SLOTS  # a second loop gets its own slots
