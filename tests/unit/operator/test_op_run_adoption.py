"""A TrainingJobRun with annotation ocids.io/job-run-id (engine OCI schedules): it follows that OCI
run, never creates or retries one, cancels it on spec.cancel, and is refused (never following,
canceling nor deleting) a run its own schedule did not make. Fakes stand in for Kubernetes and OCI;
the workflow and poller are real (test_op_run_workflow's)."""

from __future__ import annotations

import asyncio
import copy
import datetime
from typing import Any

import pytest
from oci.data_science import models as ds
from ocids_operator.core.errors import OutcomeKind, ReconcileError
from ocids_operator.workflows import training_job_run as run_workflow
from test_op_run_workflow import COMPARTMENT, JOB_ID, RUN, RUN_ID, Kube, Oci, runtime

ACCEPTED = datetime.datetime(2026, 3, 7, 10, 0, 3, tzinfo=datetime.UTC)
SCHEDULE_UID = "uid-schedule"
SCHEDULE_ID = "ocid1.datascienceschedule.oc1..nightly"
NAME = f"nightly-{int(ACCEPTED.timestamp()) // 60}"


class ScheduleKube(Kube):
    def __init__(self, schedules: dict[str, str] | None = None) -> None:
        super().__init__()
        self.schedules = {SCHEDULE_UID: "nightly"} if schedules is None else schedules
        self.events: list[tuple[str, str]] = []

    async def list_training_job_schedules(self, namespace: str) -> list[dict[str, Any]]:
        return [
            {"metadata": {"name": n, "uid": u}, "status": {"scheduleId": SCHEDULE_ID}}
            for u, n in self.schedules.items()
        ]


def oci_with_scheduled_run(
    state: str = "IN_PROGRESS", created_by: str = SCHEDULE_ID, compartment: str = COMPARTMENT, **tags: str
) -> Oci:
    oci = Oci()
    oci.run = ds.JobRun(
        id=RUN_ID,
        job_id=JOB_ID,
        compartment_id=compartment,
        lifecycle_state=state,
        time_accepted=ACCEPTED,
        display_name="ml-nightly",
        created_by=created_by,
        freeform_tags={
            "ocids.io/schedule-uid": SCHEDULE_UID,
            "ocids.io/schedule": "nightly",
            "ocids.io/namespace": "ml",
            **tags,
        },
    )
    return oci


def adopting(**spec: Any) -> dict[str, Any]:
    body = copy.deepcopy(RUN)
    body["metadata"]["name"] = NAME
    body["metadata"]["annotations"] = {"ocids.io/job-run-id": RUN_ID}
    body["spec"].update(spec)
    return body


def reconcile(oci: Oci, kube: Kube, body: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    async def scenario() -> tuple[Any, dict[str, Any]]:
        rt = runtime(oci, kube)
        try:
            outcome, _ = await run_workflow.reconcile(rt, body)
            tracked = {run_id: run.retry_policy for run_id, run in rt.poller.tracked().items()}
            return outcome, tracked
        finally:
            await rt.poller.stop()

    return asyncio.run(scenario())


def test_an_annotated_run_follows_the_oci_run_and_never_creates_nor_retries_one() -> None:
    oci, kube = oci_with_scheduled_run(), ScheduleKube()
    retry = {"maxRetries": 3, "retryOn": {"exitCodes": [1]}}
    outcome, tracked = reconcile(oci, kube, adopting(retryPolicy=retry))
    assert oci.creates == 0
    assert kube.status["jobRunId"] == RUN_ID and kube.status["jobId"] == JOB_ID
    assert kube.status["phase"] == "InProgress" and kube.status["jobRevision"] == 1
    assert [reason for _, reason, _ in outcome.events] == ["Adopted"]
    # Followed by the poller, with no retry policy: OCI makes these runs, the operator never re-makes one.
    assert tracked == {RUN_ID: None}


def test_cancel_of_an_annotated_run_not_yet_followed_cancels_that_oci_run() -> None:
    oci, kube = oci_with_scheduled_run(), ScheduleKube()
    outcome, _ = reconcile(oci, kube, adopting(cancel=True))
    assert oci.run is not None and oci.run.lifecycle_state == "CANCELING"
    assert oci.creates == 0
    reasons = [reason for _, reason, _ in outcome.events]
    assert reasons == ["Adopted", "Canceling"], reasons


@pytest.mark.parametrize(
    ("made", "schedules", "name", "expected"),
    [
        # Untagged: a run some other TrainingJobRun made.
        ({}, {}, NAME, "not made by a TrainingJobSchedule of namespace ml"),
        # Every tag copied by another principal who may create runs of the job: createdBy tells.
        (
            {"created_by": "ocid1.user.oc1..mallory"},
            None,
            NAME,
            "was made by ocid1.user.oc1..mallory, not by TrainingJobSchedule nightly's OCI Schedule",
        ),
        # Made by the schedule of another namespace (its tag names that namespace).
        ({"ocids.io/namespace": "other"}, None, NAME, "was not made for namespace ml"),
        # A run of another compartment (another tenant's job of the same tags).
        (
            {"compartment": "ocid1.compartment.oc1..elsewhere"},
            None,
            NAME,
            "is in compartment ocid1.compartment.oc1..elsewhere, not the TrainingJob's",
        ),
        ({}, None, "nightly-1", "belongs to TrainingJobSchedule nightly's run of that time"),
    ],
)
def test_a_run_its_schedule_did_not_make_is_refused_and_left_alone(
    made: dict[str, str], schedules: dict[str, str] | None, name: str, expected: str
) -> None:
    oci, kube = oci_with_scheduled_run(**made), ScheduleKube(schedules)
    body = adopting()
    body["metadata"]["name"] = name
    with pytest.raises(ReconcileError) as refused:
        reconcile(oci, kube, body)
    assert refused.value.outcome.reason == "AdoptionRefused"
    assert expected in refused.value.outcome.message
    assert oci.creates == 0 and "jobRunId" not in kube.status

    async def finalize() -> Any:
        rt = runtime(oci, kube)
        try:
            return await run_workflow.finalize(rt, body)
        finally:
            await rt.poller.stop()

    asyncio.run(finalize())
    assert oci.run is not None and oci.run.lifecycle_state == "IN_PROGRESS"  # never canceled nor deleted


def test_a_run_oci_does_not_show_is_looked_at_again_not_followed() -> None:
    oci, kube = Oci(), ScheduleKube()  # no run: a lagging read, an IAM denial, or a wrong OCID
    with pytest.raises(ReconcileError) as missing:
        reconcile(oci, kube, adopting())
    assert missing.value.outcome.kind is OutcomeKind.RETRY
    assert "was not found, or may not be read" in missing.value.outcome.message
    assert oci.creates == 0 and "jobRunId" not in kube.status
