"""The create path of a TrainingJobRun against the real poller: whose status write lands last.

kopf applies a handler's `patch` only after the handler returns; the poller patches on its own.
A quick run can finish before kopf's patch lands, so the handler must not leave its "Accepted"
to that late patch. Fakes stand in for Kubernetes and OCI; the workflow and poller are real.
"""

from __future__ import annotations

import asyncio
import copy
import datetime
from typing import Any

from oci.data_science import models as ds
from ocids_operator.adapters.oci_mapping import create_job_run_details, run_view
from ocids_operator.core.model import RunRequest
from ocids_operator.core.run_plan import RunView
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
        "conda": {"type": "service", "slug": "generalml_p38_cpu_v1"},
        "infrastructure": {"shape": "VM.Standard2.1"},
    },
    "status": {"phase": "Active", "jobId": JOB_ID, "revision": 1, "observedGeneration": 1},
}
RUN = {
    "apiVersion": "ocids.io/v1alpha1",
    "kind": "TrainingJobRun",
    "metadata": {"name": "attrition-lr", "namespace": "ml", "uid": "uid-run", "generation": 1},
    "spec": {"jobRef": {"name": "attrition"}},
}


class Oci:
    region = "us-ashburn-1"

    def __init__(self) -> None:
        self.run: ds.JobRun | None = None

    async def list_job_runs(self, compartment_id: str, **filters: str) -> list[RunView]:
        if self.run is None:
            return []
        state, name = filters.get("lifecycle_state"), filters.get("display_name")
        matches = state in (None, self.run.lifecycle_state) and name in (None, self.run.display_name)
        return [run_view(self.run)] if matches else []

    async def create_job_run(self, request: RunRequest) -> RunView:
        details = create_job_run_details(request)
        self.run = ds.JobRun(
            id=RUN_ID,
            job_id=JOB_ID,
            compartment_id=COMPARTMENT,
            lifecycle_state="ACCEPTED",
            time_accepted=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
            display_name=details.display_name,
            freeform_tags=details.freeform_tags,
        )
        return run_view(self.run)

    async def get_job_run(self, run_id: str) -> RunView | None:
        return None if self.run is None else run_view(self.run)

    async def cancel_job_run(self, run_id: str) -> None:
        assert self.run is not None and self.run.id == run_id
        self.run.lifecycle_state = "CANCELING"


class Kube:
    """The run's stored status, changed by merge patches in the order they reach the API server."""

    def __init__(self) -> None:
        self.status: dict[str, Any] = {}

    async def get_training_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        return copy.deepcopy(TRAINING_JOB)

    async def patch_run_status(self, namespace: str, name: str, status: dict[str, Any]) -> dict[str, Any]:
        self.status = {**self.status, **status}
        return {"status": self.status}

    async def post_event(self, involved: dict[str, Any], type_: str, reason: str, message: str) -> None:
        pass


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


def runtime(oci: Oci, kube: Kube, clock: Clock | None = None) -> Runtime:
    settings = OperatorSettings()
    poller = RunPoller(settings, oci, kube, clock=clock or Clock())  # type: ignore[arg-type]
    return Runtime(settings=settings, oci=oci, kube=kube, poller=poller)  # type: ignore[arg-type]


def test_a_run_finishing_before_the_handlers_patch_lands_stays_succeeded() -> None:
    async def scenario() -> dict[str, Any]:
        oci, kube, clock = Oci(), Kube(), Clock()
        rt = runtime(oci, kube, clock)
        poller = rt.poller
        try:
            outcome, _ = await run_workflow.reconcile(rt, copy.deepcopy(RUN))
            # The run finishes and the poller reports it before kopf gets to apply the handler's patch.
            assert oci.run is not None
            oci.run.lifecycle_state = "SUCCEEDED"
            oci.run.lifecycle_details = "Job run succeeded"
            clock.now += 5
            await poller.cycle(COMPARTMENT)
            assert kube.status["phase"] == "Succeeded"
            assert not poller.tracked()  # terminal: nobody will write this run's status again
            await kube.patch_run_status("ml", "attrition-lr", outcome.status)  # kopf's late patch
            return kube.status
        finally:
            await poller.stop()

    status = asyncio.run(scenario())
    assert status["phase"] == "Succeeded"
    assert status["jobRunId"] == RUN_ID and status["jobId"] == JOB_ID and status["jobRevision"] == 1


def test_deleting_a_run_whose_status_never_got_its_run_id_cancels_the_oci_run() -> None:
    """The operator died right after CreateJobRun; the user deletes the object before it is back."""

    async def scenario() -> tuple[Oci, Any]:
        oci, kube = Oci(), Kube()
        rt = runtime(oci, kube)
        try:
            await run_workflow.reconcile(rt, copy.deepcopy(RUN))  # creates the OCI run
            return oci, await run_workflow.finalize(rt, copy.deepcopy(RUN))  # a body without status
        finally:
            await rt.poller.stop()

    oci, outcome = asyncio.run(scenario())
    assert oci.run is not None and oci.run.lifecycle_state == "CANCELING"
    assert outcome.requeue_after is not None  # the finalizer stays until the run is gone
