"""The create path of a TrainingJobRun against the real poller: whose status write lands last.

kopf applies a handler's `patch` only after the handler returns; the poller patches on its own.
A quick run can finish before kopf's patch lands, so the handler must not leave its "Accepted"
to that late patch. Fakes stand in for Kubernetes and OCI; the workflow and poller are real.
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import types
from typing import Any

import oci
import pytest
from oci import exceptions as oci_exceptions
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
    "status": {
        "phase": "Active",
        "jobId": JOB_ID,
        "revision": 1,
        "observedGeneration": 1,
        "conditions": [{"type": "Ready", "status": "True", "observedGeneration": 1}],
    },
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
        self.creates = 0
        self.denied = False
        self.create_error: Exception | None = None
        self.before_create: list[Any] = []  # callables run as a CreateJobRun arrives
        self.job_gone = False  # the OCI job was deleted behind the operator's back

    async def get_job(self, job_id: str) -> Any:
        return None if self.job_gone else types.SimpleNamespace(id=job_id, lifecycle_state="ACTIVE")

    async def list_job_runs(self, compartment_id: str, **filters: str) -> list[RunView]:
        if self.run is None:
            return []
        state, name = filters.get("lifecycle_state"), filters.get("display_name")
        # As OCI's lists: DELETED runs only when asked for by state.
        listed = state == self.run.lifecycle_state or (
            state is None and self.run.lifecycle_state != "DELETED"
        )
        matches = (
            listed and name in (None, self.run.display_name) and filters.get("id") in (None, self.run.id)
        )
        return [run_view(self.run)] if matches else []

    async def create_job_run(self, request: RunRequest) -> RunView:
        for hook in self.before_create:
            hook()
        if self.create_error is not None:
            raise self.create_error
        self.creates += 1
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
        # `denied`: an IAM policy denies reading it, and OCI answers 404 NotAuthorizedOrNotFound.
        return None if self.run is None or self.denied else run_view(self.run)

    async def cancel_job_run(self, run_id: str, compartment_id: str) -> bool:
        assert self.run is not None and self.run.id == run_id
        self.run.lifecycle_state = "CANCELING"
        return True

    async def tag_job_run(self, run_id: str, freeform_tags: dict[str, str]) -> None:
        assert self.run is not None and self.run.id == run_id
        self.run.freeform_tags = dict(freeform_tags)


class Kube:
    """The run's stored status, changed by merge patches in the order they reach the API server."""

    def __init__(self) -> None:
        self.status: dict[str, Any] = {}

    async def get_training_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        return copy.deepcopy(TRAINING_JOB)

    async def patch_run_status(
        self, namespace: str, name: str, uid: str, status: dict[str, Any], *, empty_at: str | None = None
    ) -> dict[str, Any]:
        # A null clears the field, as the API server prunes it.
        self.status = {k: v for k, v in {**self.status, **status}.items() if v is not None}
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
            await kube.patch_run_status("ml", "attrition-lr", "uid-run", outcome.status)  # kopf's late patch
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
            # The status as the crash left it: the create attempt stamped (it is written before
            # CreateJobRun), its jobRunId never.
            stamped = {"createAttemptedAt": kube.status["createAttemptedAt"]}
            return oci, await run_workflow.finalize(rt, {**copy.deepcopy(RUN), "status": stamped})
        finally:
            await rt.poller.stop()

    oci, outcome = asyncio.run(scenario())
    assert oci.run is not None and oci.run.lifecycle_state == "CANCELING"
    assert outcome.requeue_after is not None  # the finalizer stays until the run is gone


def service_error(status: int, code: str) -> oci.exceptions.ServiceError:
    return oci.exceptions.ServiceError(status, code, {}, f"{code} from OCI", operation_name="create_job_run")


def reconcile_once(oci: Oci, kube: Kube, run: dict[str, Any] | None = None) -> Any:
    async def scenario() -> Any:
        rt = runtime(oci, kube)
        try:
            body = copy.deepcopy(run or RUN)
            body["status"] = copy.deepcopy(kube.status)
            outcome, _ = await run_workflow.reconcile(rt, body)
            if outcome.status:
                await kube.patch_run_status("ml", "attrition-lr", "uid-run", dict(outcome.status))
            return outcome
        finally:
            await rt.poller.stop()

    return asyncio.run(scenario())


def test_the_create_attempt_is_recorded_before_the_oci_run_is_requested() -> None:
    oci, kube = Oci(), Kube()
    seen: list[Any] = []
    oci.before_create.append(lambda: seen.append(kube.status.get("createAttemptedAt")))
    reconcile_once(oci, kube)
    assert seen and seen[0], "CreateJobRun was sent before status recorded the attempt"
    assert kube.status["jobRunId"] == RUN_ID


def test_a_run_created_then_deleted_while_its_status_was_lost_is_never_created_again() -> None:
    """Issue 8: a crash after CreateJobRun, the run finishes and is deleted with its retired job, and
    CreateJobRun with the same token (new body: the new revision's job) answers 409."""
    oci, kube = Oci(), Kube()
    kube.status = {"phase": "Pending", "createAttemptedAt": "2026-01-01T00:00:00Z"}
    oci.create_error = service_error(409, "InvalidatedRetryToken")
    outcome = reconcile_once(oci, kube)
    assert kube.status["phase"] == "Failed"
    assert "not creating a second one" in kube.status["message"]
    assert outcome.requeue_after is None  # terminal, not retried for the token's 24 hours
    assert [reason for _, reason, _ in outcome.events] == ["RunNotFound"]
    # And a later look (a restart, a resync) leaves it as it is.
    oci.create_error = None
    reconcile_once(oci, kube)
    assert oci.creates == 0 and kube.status["phase"] == "Failed"


def test_an_attempted_run_found_deleted_is_reported_deleted_not_created_again() -> None:
    oci, kube = Oci(), Kube()
    reconcile_once(oci, kube)
    assert oci.run is not None
    oci.run.lifecycle_state = "DELETED"  # deleted with its job, while its status was lost
    kube.status = {"phase": "Pending", "createAttemptedAt": kube.status["createAttemptedAt"]}
    reconcile_once(oci, kube)
    assert oci.creates == 1
    assert kube.status["phase"] == "Deleted" and kube.status["jobRunId"] == RUN_ID


def test_an_attempt_older_than_the_retry_token_is_not_repeated() -> None:
    oci, kube = Oci(), Kube()
    kube.status = {"phase": "Pending", "createAttemptedAt": "2020-01-01T00:00:00Z"}
    reconcile_once(oci, kube)
    assert oci.creates == 0
    assert kube.status["phase"] == "Failed" and "2020-01-01T00:00:00Z" in kube.status["message"]


def test_a_retryable_create_failure_is_retried_with_the_same_token() -> None:
    oci, kube = Oci(), Kube()
    oci.create_error = service_error(500, "InternalServerError")
    with pytest.raises(oci_exceptions.ServiceError):
        reconcile_once(oci, kube)
    attempted = kube.status["createAttemptedAt"]
    oci.create_error = None
    reconcile_once(oci, kube)
    assert oci.creates == 1 and kube.status["jobRunId"] == RUN_ID
    assert kube.status["createAttemptedAt"] == attempted


def test_a_run_whose_oci_job_is_missing_waits_for_it_instead_of_failing() -> None:
    """Issue 7: the OCI job was deleted in the console (or a retirement raced this run)."""
    oci, kube = Oci(), Kube()
    oci.create_error = service_error(404, "NotAuthorizedOrNotFound")
    oci.job_gone = True
    outcome = reconcile_once(oci, kube)
    assert kube.status["phase"] == "Pending"
    ready = next(c for c in kube.status["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "OCIJobNotFound" and JOB_ID in ready["message"]
    assert outcome.requeue_after is not None
    assert "createAttemptedAt" not in kube.status  # nothing was created: the next try is a first one
    oci.create_error = None  # the TrainingJob healed
    reconcile_once(oci, kube)
    assert oci.creates == 1 and kube.status["jobRunId"] == RUN_ID


def test_a_404_about_something_else_than_the_job_is_the_runs_own_refusal() -> None:
    """E.g. the run names a log group OCI cannot find: nothing for the TrainingJob to re-create."""
    oci, kube = Oci(), Kube()
    oci.create_error = service_error(404, "NotAuthorizedOrNotFound")
    with pytest.raises(oci_exceptions.ServiceError):  # the handler turns it into NotAuthorized
        reconcile_once(oci, kube)
    assert "OCIJobNotFound" not in repr(kube.status)
    assert "createAttemptedAt" not in kube.status and oci.creates == 0


def finalize_after(oci: Oci, kube: Kube, minutes: float) -> Any:
    """Run the finalizer of the created run, its deletion having begun `minutes` ago."""

    async def scenario() -> Any:
        rt = runtime(oci, kube)
        try:
            body = copy.deepcopy(RUN)
            began = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=minutes)
            body["metadata"]["deletionTimestamp"] = began.strftime("%Y-%m-%dT%H:%M:%SZ")
            body["status"] = copy.deepcopy(kube.status)
            return await run_workflow.finalize(rt, body)
        finally:
            await rt.poller.stop()

    return asyncio.run(scenario())


def test_a_run_oci_will_not_stop_blocks_deletion_only_for_a_bounded_time() -> None:
    oci, kube = Oci(), Kube()
    reconcile_once(oci, kube)
    assert oci.run is not None
    oci.run.lifecycle_state = "CANCELING"  # and it stays there
    first = finalize_after(oci, kube, minutes=1)
    assert first.requeue_after is not None  # waits a while, counted from the cancel it sent
    sent = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=16)
    kube.status["cancelRequestedAt"] = sent.strftime("%Y-%m-%dT%H:%M:%SZ")
    outcome = finalize_after(oci, kube, minutes=16)
    assert outcome.requeue_after is None  # the finalizer is released
    [(type_, reason, message)] = outcome.events
    assert (type_, reason) == ("Warning", "RunLeftInOCI") and RUN_ID in message and "CANCELING" in message


def test_a_run_whose_get_is_denied_is_still_canceled_on_deletion() -> None:
    """A 404 on GetJobRun (an IAM denial) must not be taken for "already gone"."""
    oci, kube = Oci(), Kube()
    reconcile_once(oci, kube)
    assert oci.run is not None
    oci.run.lifecycle_state = "IN_PROGRESS"
    oci.denied = True
    outcome = finalize_after(oci, kube, minutes=0)
    assert oci.run.lifecycle_state == "CANCELING"
    assert outcome.requeue_after is not None
