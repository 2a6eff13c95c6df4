"""Retired revisions drain without an edit: the resync timer looks at a TrainingJob's retired OCI
jobs in every state (settled, stalled, waiting for a spec it cannot apply yet, failing), deletes those
no run keeps any more, and status.retiredJobIds and retiredJobCount say what remains on every path
that writes them (against fake_oci.py)."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import kopf
import oci
import pytest
from fake_oci import FakeDataScience
from ocids_operator.api import TrainingJobSpec
from ocids_operator.core import model as core
from ocids_operator.core.kinds import TRAINING_JOB_KIND
from ocids_operator.handlers.outcome import execute
from ocids_operator.runtime import Runtime
from ocids_operator.settings import OperatorSettings
from ocids_operator.workflows import training_job

REF = core.ObjectRef("ml", "attrition", "uid-1", "test")
SPEC: dict[str, Any] = {
    "compartmentId": "ocid1.compartment.oc1..comp",
    "projectId": "ocid1.datascienceproject.oc1..proj",
    "artifact": {"inline": {"fileName": "train.py", "content": "print('hello')"}},
    "infrastructure": {"shape": "VM.Standard.E4.Flex", "ocpus": 2, "memoryInGBs": 32},
}
J0, J1, J2 = (f"ocid1.datasciencejob.oc1..j{n}" for n in range(3))
STALLED = {"type": "Stalled", "status": "True", "reason": "InvalidSpec", "message": "the user's problem"}


class Kube:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    async def list_training_job_runs(self, namespace: str) -> list[dict[str, Any]]:
        return []

    async def post_event(self, involved: dict[str, Any], type_: str, reason: str, message: str) -> None:
        self.events.append((type_, reason, message))


def runtime(fake: FakeDataScience, **settings: Any) -> Runtime:
    configured = OperatorSettings(cluster_name=REF.cluster, **settings)
    return Runtime(configured, fake, Kube(), None)  # type: ignore[arg-type]


def add_job(fake: FakeDataScience, job_id: str, revision: int, runs: list[str]) -> None:
    spec = TrainingJobSpec.model_validate(SPEC)
    template_hash = core.template_hash(
        core.desired_template(spec, {}), core.content_digest(b"print('hello')")
    )
    fake.add_job(core.JobRequest(spec, REF, {}, revision, template_hash), job_id, artifact=b"print('hello')")
    fake.jobs[job_id].run_states = list(runs)


def body(status: dict[str, Any], spec: dict[str, Any] | None = None, **meta: Any) -> dict[str, Any]:
    return {
        "metadata": {"namespace": "ml", "name": "attrition", "uid": REF.uid, "generation": 2, **meta},
        "spec": copy.deepcopy(spec or SPEC),
        "status": copy.deepcopy(status),
    }


def state(fake: FakeDataScience, job_id: str) -> str:
    return str(fake.jobs[job_id].job.lifecycle_state)


DELETED_CALLS = ["get_job", "delete_job", "get_job"]


@pytest.mark.parametrize(
    ("retired", "count", "policy", "calls", "written", "events"),
    [
        pytest.param(
            {J1: ["DELETED"]},
            1,
            "Delete",
            ["list_job_runs", *DELETED_CALLS],
            [],
            ["RetiredJobDeleted"],
            id="its runs are gone: deleted, 1 -> 0",
        ),
        pytest.param(
            {J1: ["SUCCEEDED"]},
            1,
            "Delete",
            ["list_job_runs"],
            None,
            [],
            id="a kept run still there: stays, nothing written",
        ),
        pytest.param(
            {J1: ["SUCCEEDED"]},
            None,
            "Delete",
            ["list_job_runs"],
            [J1],
            [],
            id="a status from before the count: counted",
        ),
        pytest.param(
            {J0: ["IN_PROGRESS"], J1: []},
            2,
            "Delete",
            ["list_job_runs", "list_job_runs", *DELETED_CALLS],
            [J0],
            ["RetiredJobDeleted"],
            id="two retired, one still running: 2 -> 1",
        ),
        pytest.param(
            {J1: ["SUCCEEDED"]},
            1,
            "Retain",
            ["list_job_runs"],
            [],
            ["RetiredJobRetained"],
            id="Retain: let go in OCI, said so",
        ),
        pytest.param({}, 0, "Delete", [], None, [], id="none retired: no OCI call"),
        pytest.param({}, 1, "Delete", [], [], [], id="a count with no job behind it: 0, no OCI call"),
    ],
)
def test_drain_retired(
    retired: dict[str, list[str]],
    count: int | None,
    policy: str,
    calls: list[str],
    written: list[str] | None,
    events: list[str],
) -> None:
    fake = FakeDataScience()
    for revision, (job_id, runs) in enumerate(retired.items(), start=1):
        add_job(fake, job_id, revision, runs)
    add_job(fake, J2, 3, [])
    status: dict[str, Any] = {"jobId": J2, "revision": 3, "retiredJobIds": list(retired)}
    if count is not None:
        status["retiredJobCount"] = count
    outcome = asyncio.run(
        training_job.drain_retired(runtime(fake), body(status, {**SPEC, "deletionPolicy": policy}))
    )
    assert fake.calls == calls
    if written is None:
        assert not outcome.status
    else:
        assert dict(outcome.status) == {"retiredJobIds": written, "retiredJobCount": len(written)}
    assert [reason for _, reason, _ in outcome.events] == events
    remaining = list(retired) if written is None else written
    for job_id in retired:
        # Let go: deleted with Delete; left in OCI with Retain.
        assert (state(fake, job_id) == "DELETED") == (job_id not in remaining and policy == "Delete")


def test_a_training_job_being_deleted_leaves_its_retired_jobs_to_its_finalizer() -> None:
    fake = FakeDataScience()
    add_job(fake, J1, 1, [])
    obj = body(
        {"jobId": J2, "retiredJobIds": [J1], "retiredJobCount": 1}, deletionTimestamp="2026-12-07T12:00:00Z"
    )
    assert not training_job.drain_due(obj)
    outcome = asyncio.run(training_job.drain_retired(runtime(fake), obj))
    assert fake.calls == [] and not outcome.status


def resync(rt: Runtime, obj: dict[str, Any], settled: bool) -> tuple[kopf.Patch, BaseException | None]:
    """The resync timer's step through the handler's machinery (status patch, Events, errors)."""
    patch = kopf.Patch()
    try:
        asyncio.run(
            execute(
                TRAINING_JOB_KIND, rt, obj, patch, 0, lambda: training_job.resync(rt, obj, settled=settled)
            )
        )
    except (kopf.TemporaryError, kopf.PermanentError) as exc:
        return patch, exc
    return patch, None


def stalled_body() -> dict[str, Any]:
    status = {
        "phase": "Active",
        "jobId": J2,
        "revision": 2,
        "retiredJobIds": [J1],
        "retiredJobCount": 1,
        "observedGeneration": 2,
        "message": STALLED["message"],
        "conditions": [STALLED],
    }
    return body(status)


def test_a_stalled_training_job_still_drains_and_keeps_its_own_conditions() -> None:
    fake = FakeDataScience()
    add_job(fake, J1, 1, ["DELETED"])  # the TrainingJobRun that kept it was deleted (history limit, TTL)
    add_job(fake, J2, 2, [])
    rt = runtime(fake)
    patch, exc = resync(rt, stalled_body(), settled=False)
    assert exc is None and state(fake, J1) == "DELETED"
    assert dict(patch["status"]) == {"retiredJobIds": [], "retiredJobCount": 0}  # no condition touched
    assert [reason for _, reason, _ in rt.kube.events] == ["RetiredJobDeleted"]  # type: ignore[attr-defined]


def test_a_drain_that_fails_is_only_logged_and_tried_at_the_next_resync(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = FakeDataScience()
    add_job(fake, J1, 1, ["DELETED"])
    fake.failures["list_job_runs"] = oci.exceptions.ServiceError(
        500, "InternalServerError", {}, "OCI says InternalServerError", operation_name="list_job_runs"
    )
    rt = runtime(fake)
    patch, exc = resync(rt, stalled_body(), settled=False)
    assert exc is None and not patch and rt.kube.events == []  # type: ignore[attr-defined]
    assert "retired OCI jobs of TrainingJob ml/attrition" in caplog.text
    assert state(fake, J1) == "ACTIVE"

    del fake.failures["list_job_runs"]
    patch, exc = resync(rt, stalled_body(), settled=False)
    assert exc is None and patch["status"]["retiredJobCount"] == 0 and state(fake, J1) == "DELETED"


def test_a_settled_training_job_whose_reconcile_fails_still_drains() -> None:
    """The reconcile is refused (here: the namespace lost its compartment); the drain is cleanup,
    like the finalizer, and its result is recorded along with the refusal."""
    fake = FakeDataScience()
    add_job(fake, J1, 1, [])
    add_job(fake, J2, 2, [])
    rt = runtime(fake, compartment_policy="annotated")
    obj = body({"phase": "Active", "jobId": J2, "revision": 2, "retiredJobIds": [J1], "retiredJobCount": 1})
    patch, exc = resync(rt, obj, settled=True)
    assert exc is not None and state(fake, J1) == "DELETED"
    assert patch["status"]["retiredJobIds"] == [] and patch["status"]["retiredJobCount"] == 0
    stalled = next(c for c in patch["status"]["conditions"] if c["type"] == "Stalled")
    assert stalled["reason"] == "CompartmentNotAllowed", stalled
    reasons = [reason for _, reason, _ in rt.kube.events]  # type: ignore[attr-defined]
    assert reasons == ["RetiredJobDeleted", "CompartmentNotAllowed"]


def test_a_settled_training_job_drains_in_its_reconcile_with_one_list_per_retired_job() -> None:
    fake = FakeDataScience()
    add_job(fake, J1, 1, ["SUCCEEDED"])
    add_job(fake, J2, 2, [])
    rt = runtime(fake, compartment_policy="open")
    obj = body({"phase": "Active", "jobId": J2, "revision": 2, "retiredJobIds": [J1], "retiredJobCount": 1})
    patch, exc = resync(rt, obj, settled=True)
    assert exc is None and fake.calls.count("list_job_runs") == 1
    assert patch["status"]["retiredJobIds"] == [J1] and patch["status"]["retiredJobCount"] == 1


def test_a_job_recorded_before_an_error_is_counted_with_the_retired_ones() -> None:
    """CreateJob of revision 2 went through, the upload failed: the record names both jobs."""
    fake = FakeDataScience()
    add_job(fake, J1, 1, ["SUCCEEDED"])
    fake.failures["create_job_artifact"] = oci.exceptions.ServiceError(
        500, "InternalServerError", {}, "OCI says no", operation_name="create_job_artifact"
    )
    rt = runtime(fake, compartment_policy="open")
    obj = body({"phase": "Active", "jobId": J1, "revision": 1}, {**SPEC, "args": ["--x"]})
    patch = kopf.Patch()
    with pytest.raises(kopf.TemporaryError):
        asyncio.run(execute(TRAINING_JOB_KIND, rt, obj, patch, 0, lambda: training_job.reconcile(rt, obj)))
    assert patch["status"]["revision"] == 2
    assert patch["status"]["retiredJobIds"] == [J1] and patch["status"]["retiredJobCount"] == 1


def test_a_deletion_waiting_for_oci_counts_the_retired_jobs_still_there() -> None:
    fake = FakeDataScience()
    add_job(fake, J1, 1, [])
    add_job(fake, J0, 1, [])
    add_job(fake, J2, 2, [])
    fake.jobs[J2].job.lifecycle_state = "DELETED"  # the current job is gone already
    fake.failing_deletes = 1  # J0's deletion fails later: it is still there; J1 is gone
    rt = runtime(fake)
    status = {"phase": "Active", "jobId": J2, "revision": 2, "retiredJobIds": [J0, J1], "retiredJobCount": 2}
    first = asyncio.run(training_job.finalize(rt, body(status)))
    assert first.requeue_after is not None
    assert (first.status["retiredJobIds"], first.status["retiredJobCount"]) == ([J0], 1)
