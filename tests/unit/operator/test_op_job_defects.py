"""TrainingJob defects of issue 8, each as the behaviour a user relies on, against fake_oci.py."""

from __future__ import annotations

import asyncio
import copy
from types import SimpleNamespace
from typing import Any

import kopf
import oci
import pytest
from fake_oci import FakeDataScience
from ocids_operator.api import TrainingJobSpec
from ocids_operator.core import model as core
from ocids_operator.core.kinds import TRAINING_JOB_KIND, TRAINING_JOB_RUN_KIND
from ocids_operator.core.run_plan import RunAction, plan_run
from ocids_operator.handlers.outcome import execute, handle
from ocids_operator.runtime import Runtime
from ocids_operator.settings import OperatorSettings
from ocids_operator.workflows import training_job

UID = "uid-1"
REF = core.ObjectRef("ml", "attrition", UID, "test")
SPEC: dict[str, Any] = {
    "compartmentId": "ocid1.compartment.oc1..comp",
    "projectId": "ocid1.datascienceproject.oc1..proj",
    "artifact": {"inline": {"fileName": "train.py", "content": "print('hello')"}},
    "infrastructure": {"shape": "VM.Standard.E4.Flex", "ocpus": 2, "memoryInGBs": 32},
}


class Kube:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    async def list_training_job_runs(self, namespace: str) -> list[dict[str, Any]]:
        return []

    async def post_event(self, involved: dict[str, Any], type_: str, reason: str, message: str) -> None:
        self.events.append((type_, reason, message))


def runtime(oci_: Any = None) -> Runtime:
    settings = OperatorSettings(cluster_name=REF.cluster, retry_base_seconds=5, retry_max_seconds=600)
    return Runtime(settings, oci_ or FakeDataScience(), Kube(), None)  # type: ignore[arg-type]


def body(
    spec: dict[str, Any] | None = None, status: dict[str, Any] | None = None, generation: int = 1
) -> Any:
    return {
        "apiVersion": "ocids.io/v1alpha1",
        "kind": "TrainingJob",
        "metadata": {"namespace": "ml", "name": "attrition", "uid": UID, "generation": generation},
        "spec": copy.deepcopy(spec or SPEC),
        "status": copy.deepcopy(status or {}),
    }


def service_error(status: int, code: str, operation: str) -> oci.exceptions.ServiceError:
    return oci.exceptions.ServiceError(status, code, {}, f"OCI says {code}", operation_name=operation)


def add_job(fake: FakeDataScience, job_id: str, revision: int = 1, **kw: Any) -> None:
    spec = TrainingJobSpec.model_validate(SPEC)
    digest = core.content_digest(b"print('hello')")
    template_hash = core.template_hash(core.desired_template(spec, {}), digest)
    fake.add_job(
        core.JobRequest(spec, REF, {}, revision, template_hash), job_id, artifact=b"print('hello')", **kw
    )


def reconcile_through_handler(rt: Runtime, obj: Any) -> tuple[kopf.Patch, BaseException | None]:
    patch = kopf.Patch()
    try:
        asyncio.run(execute(TRAINING_JOB_KIND, rt, obj, patch, 0, lambda: training_job.reconcile(rt, obj)))
    except (kopf.TemporaryError, kopf.PermanentError) as exc:
        return patch, exc
    return patch, None


def applied(obj: Any, patch: kopf.Patch) -> Any:
    """The object as the API server holds it once kopf's status patch landed."""
    result = copy.deepcopy(obj)
    result["status"] = {**result["status"], **patch["status"]}
    return result


# 5: a permanent error during deletion never releases the finalizer ------------------------------
@pytest.mark.parametrize("kind", [TRAINING_JOB_KIND, TRAINING_JOB_RUN_KIND])
@pytest.mark.parametrize(("status", "code"), [(404, "NotAuthorizedOrNotFound"), (400, "InvalidParameter")])
def test_a_permanent_error_while_deleting_keeps_the_finalizer_and_says_why(
    kind: Any, status: int, code: str
) -> None:
    rt = runtime()
    memo = SimpleNamespace(runtime=rt)
    obj = body(status={kind.oci_id_field: "ocid1.x.oc1..a", "phase": "Active"})
    patch = kopf.Patch()

    async def work(_: Runtime) -> Any:
        raise service_error(status, code, "delete_job")

    with pytest.raises(kopf.TemporaryError) as raised:  # a PermanentError would make kopf drop the finalizer
        asyncio.run(handle(kind, memo, obj, patch, 0, work, last=True))
    assert raised.value.delay == rt.settings.retry_max_seconds
    stalled = next(c for c in patch["status"]["conditions"] if c["type"] == "Stalled")
    assert stalled["status"] == "True" and stalled["reason"] == "DeletionBlocked"
    assert f"OCI says {code}" in stalled["message"] and "deletion is blocked" in stalled["message"]
    assert [(t, r) for t, r, _ in rt.kube.events] == [("Warning", "DeletionBlocked")]  # type: ignore[attr-defined]


# 2: a rejected edit keeps new runs off the old job -----------------------------------------------
@pytest.mark.parametrize(
    ("operation", "error"),
    [
        ("create_job", service_error(400, "InvalidParameter", "create_job")),
        ("create_job", service_error(400, "LimitExceeded", "create_job")),
        ("update_job", service_error(400, "InvalidParameter", "update_job")),
    ],
)
def test_after_a_rejected_edit_runs_wait_instead_of_using_the_old_job(
    operation: str, error: Exception
) -> None:
    fake = FakeDataScience()
    add_job(fake, "ocid1.datasciencejob.oc1..j1")
    rt = runtime(fake)
    first = body()
    patch, exc = reconcile_through_handler(rt, first)
    assert exc is None
    ready = applied(first, patch)
    assert plan_run(None, ready, "attrition").action is RunAction.CREATE

    edited_spec = copy.deepcopy(SPEC)
    if operation == "create_job":
        edited_spec["args"] = ["--epochs", "20"]  # a template edit: a new revision
    else:
        edited_spec["infrastructure"]["ocpus"] = 4  # an in-place edit
    fake.failures[operation] = error
    edited = body(edited_spec, ready["status"], generation=2)
    patch, exc = reconcile_through_handler(rt, edited)
    assert exc is not None
    rejected = applied(edited, patch)
    assert rejected["status"]["jobId"] == "ocid1.datasciencejob.oc1..j1"
    plan = plan_run(None, rejected, "attrition")
    assert plan.action is RunAction.WAIT, plan


# 4: a job CreateJob returned is recorded whatever fails next, and the finalizer sweeps by tag ----
def test_a_created_job_whose_upload_fails_is_recorded_then_deleted_with_the_object() -> None:
    fake = FakeDataScience()
    fake.failures["create_job_artifact"] = service_error(400, "InvalidParameter", "create_job_artifact")
    rt = runtime(fake)
    obj = body()
    patch, exc = reconcile_through_handler(rt, obj)
    assert isinstance(exc, kopf.PermanentError)
    (created,) = fake.jobs
    assert patch["status"]["jobId"] == created and patch["status"]["revision"] == 1
    assert patch["status"]["phase"] == "Creating"

    asyncio.run(training_job.finalize(rt, applied(obj, patch)))
    assert fake.jobs[created].job.lifecycle_state == "DELETED"


def test_the_finalizer_deletes_a_job_tagged_with_the_object_that_status_never_named() -> None:
    fake = FakeDataScience()
    add_job(fake, "ocid1.datasciencejob.oc1..unrecorded")
    rt = runtime(fake)
    outcome = asyncio.run(training_job.finalize(rt, body()))
    assert fake.jobs["ocid1.datasciencejob.oc1..unrecorded"].job.lifecycle_state == "DELETED"
    assert any("unrecorded" in message for _, _, message in outcome.events)


def test_an_edit_whose_new_job_fails_then_a_revert_leaves_no_orphan() -> None:
    fake = FakeDataScience()
    add_job(fake, "ocid1.datasciencejob.oc1..j1")
    rt = runtime(fake)
    status = {"jobId": "ocid1.datasciencejob.oc1..j1", "revision": 1, "phase": "Active"}
    edited_spec = {**copy.deepcopy(SPEC), "args": ["--epochs", "20"]}
    fake.failures["create_job_artifact"] = service_error(400, "InvalidParameter", "create_job_artifact")
    edited = body(edited_spec, status, generation=2)
    patch, _ = reconcile_through_handler(rt, edited)
    job_b = patch["status"]["jobId"]
    assert job_b != "ocid1.datasciencejob.oc1..j1"

    del fake.failures["create_job_artifact"]
    reverted = body(SPEC, applied(edited, patch)["status"], generation=3)
    patch, exc = reconcile_through_handler(rt, reverted)
    assert exc is None
    live = [job_id for job_id, stored in fake.jobs.items() if stored.job.lifecycle_state != "DELETED"]
    assert live == [patch["status"]["jobId"]]


# 3: retiring an old revision keeps run history ---------------------------------------------------
@pytest.mark.parametrize("runs", [["SUCCEEDED"], ["FAILED", "SUCCEEDED"]])
def test_a_retired_job_with_finished_runs_is_kept_and_listed(runs: list[str]) -> None:
    fake = FakeDataScience()
    add_job(fake, "ocid1.datasciencejob.oc1..j1")
    fake.jobs["ocid1.datasciencejob.oc1..j1"].run_states = runs
    rt = runtime(fake)
    status = {"jobId": "ocid1.datasciencejob.oc1..j1", "revision": 1, "phase": "Active"}
    patch, exc = reconcile_through_handler(rt, body({**SPEC, "args": ["--x"]}, status, generation=2))
    assert exc is None and patch["status"]["revision"] == 2
    assert fake.jobs["ocid1.datasciencejob.oc1..j1"].job.lifecycle_state == "ACTIVE"
    assert fake.jobs["ocid1.datasciencejob.oc1..j1"].run_states == runs
    assert patch["status"]["retiredJobIds"] == ["ocid1.datasciencejob.oc1..j1"]


def test_a_retired_job_is_deleted_once_its_runs_are_gone() -> None:
    fake = FakeDataScience()
    add_job(fake, "ocid1.datasciencejob.oc1..j1")
    add_job(fake, "ocid1.datasciencejob.oc1..j2", revision=2)
    fake.jobs["ocid1.datasciencejob.oc1..j1"].run_states = ["DELETED"]
    rt = runtime(fake)
    status = {
        "jobId": "ocid1.datasciencejob.oc1..j2",
        "revision": 2,
        "retiredJobIds": ["ocid1.datasciencejob.oc1..j1"],
    }
    # j2's tags say revision 2; the spec is unchanged, so this is a resync
    patch, exc = reconcile_through_handler(rt, body(SPEC, status, generation=2))
    assert exc is None
    assert fake.jobs["ocid1.datasciencejob.oc1..j1"].job.lifecycle_state == "DELETED"
    assert patch["status"]["retiredJobIds"] == []


# 14: a job created but not recorded is found after a rename -------------------------------------
def test_a_created_unrecorded_job_is_found_after_a_rename() -> None:
    fake = FakeDataScience()
    add_job(fake, "ocid1.datasciencejob.oc1..j1")
    rt = runtime(fake)
    patch, exc = reconcile_through_handler(rt, body({**SPEC, "displayName": "renamed"}))
    assert exc is None
    assert "create_job" not in fake.calls
    assert patch["status"]["jobId"] == "ocid1.datasciencejob.oc1..j1"
    assert fake.jobs["ocid1.datasciencejob.oc1..j1"].job.display_name == "renamed"


# 12: adoption never takes a job another TrainingJob owns ----------------------------------------
def test_adopting_a_job_owned_by_another_training_job_is_refused() -> None:
    fake = FakeDataScience()
    add_job(fake, "ocid1.datasciencejob.oc1..theirs")
    tags = fake.jobs["ocid1.datasciencejob.oc1..theirs"].job.freeform_tags
    tags.update({core.TAG_UID: "uid-other", core.TAG_NAMESPACE: "team-b", core.TAG_NAME: "churn"})
    rt = runtime(fake)
    patch, exc = reconcile_through_handler(
        rt, body({**SPEC, "adoptJobId": "ocid1.datasciencejob.oc1..theirs"})
    )
    assert isinstance(exc, kopf.PermanentError)
    stalled = next(c for c in patch["status"]["conditions"] if c["type"] == "Stalled")
    assert stalled["status"] == "True" and stalled["reason"] == "AdoptTargetOwned"
    assert "team-b/churn" in stalled["message"]
    assert "update_job" not in fake.calls and "create_job" not in fake.calls
    assert fake.jobs["ocid1.datasciencejob.oc1..theirs"].job.freeform_tags[core.TAG_UID] == "uid-other"


# 11: an artifact source that went away does not stall a working job ------------------------------
class Bucket:
    """Object Storage holding (or no longer holding) the artifact object."""

    def __init__(self, spool: Any) -> None:
        self.content: bytes | None = b"print('from a bucket')"
        self.spool = spool

    async def fetch(self, namespace: str, bucket: str, name: str, max_bytes: int) -> Any:
        if self.content is None:
            raise oci.exceptions.ServiceError(404, "ObjectNotFound", {}, "The object was not found")
        self.spool.write_bytes(self.content)
        spooled = core.SpooledContent(str(self.spool), core.content_digest(self.content), len(self.content))
        return SimpleNamespace(content=spooled, etag="e1")


def test_an_artifact_object_removed_later_keeps_the_job_active_and_resynced(tmp_path: Any) -> None:
    from ocids_operator.handlers.training_job import needs_resync

    fake, bucket = FakeDataScience(), Bucket(tmp_path / "spool")
    rt = runtime(fake)
    rt.objects = bucket
    spec = {**SPEC, "artifact": {"url": "oci://models@ns/train.py"}}
    first = body(spec)
    patch, exc = reconcile_through_handler(rt, first)
    assert exc is None and patch["status"]["phase"] == "Active"
    active = applied(first, patch)

    bucket.content = None  # a lifecycle rule removed the object
    patch, exc = reconcile_through_handler(rt, active)  # the resync
    assert exc is None
    after = applied(active, patch)
    conditions = {c["type"]: c for c in after["status"]["conditions"]}
    assert after["status"]["phase"] == "Active" and conditions["Ready"]["status"] == "True"
    assert conditions["Stalled"]["status"] == "False"
    source = conditions["ArtifactSourceAvailable"]
    assert source["status"] == "False" and source["reason"] == "ArtifactNotFound"
    assert "train.py" in source["message"]
    assert after["status"]["artifact"] == active["status"]["artifact"]
    assert ("Warning", "ArtifactNotFound") in [(t, r) for t, r, _ in rt.kube.events]  # type: ignore[attr-defined]
    assert needs_resync(after)
    assert "create_job" not in fake.calls[fake.calls.index("get_job") :]

    # A template edit needs the bytes: that one waits for the source.
    edited = body({**spec, "args": ["--x"]}, after["status"], generation=2)
    patch, exc = reconcile_through_handler(rt, edited)
    assert isinstance(exc, kopf.PermanentError)
    assert fake.calls.count("create_job") == 1

    bucket.content = b"print('from a bucket')"
    patch, exc = reconcile_through_handler(rt, after)
    assert exc is None
    source = next(c for c in patch["status"]["conditions"] if c["type"] == "ArtifactSourceAvailable")
    assert source["status"] == "True"


# Suspected: a condition message longer than the CRD allows ---------------------------------------
def test_a_very_long_oci_message_is_cut_in_conditions_not_raised() -> None:
    rt = runtime()

    async def work() -> Any:
        raise oci.exceptions.ServiceError(
            400, "InvalidParameter", {}, "x" * 10_000, operation_name="create_job"
        )

    patch = kopf.Patch()
    with pytest.raises(kopf.PermanentError):
        asyncio.run(execute(TRAINING_JOB_KIND, rt, body(), patch, 0, work))
    stalled = next(c for c in patch["status"]["conditions"] if c["type"] == "Stalled")
    assert stalled["status"] == "True" and stalled["reason"] == "OCIRejectedRequest"
    assert len(stalled["message"]) == 4096 and stalled["message"].endswith("…")
    assert stalled["message"].startswith("OCI create_job failed: 400 InvalidParameter: xxx")


# Suspected: GetJob answers 404 for a while right after CreateJob (eventual consistency) ----------
def test_a_job_not_yet_readable_after_create_is_waited_for_not_recreated() -> None:
    fake = FakeDataScience()
    fake.not_found_after_create = 2
    rt = runtime(fake)
    obj = body()
    for _ in range(5):
        patch, _ = reconcile_through_handler(rt, obj)
        obj = applied(obj, patch)
        if obj["status"].get("phase") == "Active":
            break
    assert obj["status"]["phase"] == "Active" and obj["status"]["revision"] == 1
    assert fake.calls.count("create_job") == 1 and len(fake.jobs) == 1


# Suspected: a deletion OCI accepted (202) but whose work request failed --------------------------
def test_a_retired_job_whose_deletion_fails_later_stays_listed_and_is_deleted_again() -> None:
    fake = FakeDataScience()
    add_job(fake, "ocid1.datasciencejob.oc1..j1")
    fake.failing_deletes = 1
    rt = runtime(fake)
    status = {"jobId": "ocid1.datasciencejob.oc1..j1", "revision": 1, "phase": "Active"}
    obj = body({**SPEC, "args": ["--x"]}, status, generation=2)
    patch, exc = reconcile_through_handler(rt, obj)
    assert exc is None and patch["status"]["revision"] == 2
    assert patch["status"]["retiredJobIds"] == ["ocid1.datasciencejob.oc1..j1"]

    patch, exc = reconcile_through_handler(rt, applied(obj, patch))  # the next resync
    assert exc is None and patch["status"]["retiredJobIds"] == []
    assert fake.jobs["ocid1.datasciencejob.oc1..j1"].job.lifecycle_state == "DELETED"


def test_deleting_a_training_job_waits_until_oci_has_really_deleted_its_job() -> None:
    fake = FakeDataScience()
    add_job(fake, "ocid1.datasciencejob.oc1..j1")
    fake.failing_deletes = 1
    rt = runtime(fake)
    obj = body(status={"jobId": "ocid1.datasciencejob.oc1..j1", "revision": 1, "phase": "Active"})
    first = asyncio.run(training_job.finalize(rt, obj))
    assert first.requeue_after is not None  # the finalizer stays
    assert first.status["phase"] == "Deleting"
    second = asyncio.run(training_job.finalize(rt, obj))
    assert second.requeue_after is None
    assert fake.jobs["ocid1.datasciencejob.oc1..j1"].job.lifecycle_state == "DELETED"


# Suspected: the per-object lock table grows with every object ever handled -----------------------
def test_object_locks_are_not_kept_once_no_handler_holds_them() -> None:
    rt = runtime()
    memo = SimpleNamespace(runtime=rt)

    async def work(_: Runtime) -> Any:
        from ocids_operator.workflows.outcome import Outcome

        return Outcome()

    async def many() -> None:
        for index in range(50):
            obj = body()
            obj["metadata"]["uid"] = f"uid-{index}"  # objects whose deletion the operator never saw
            await handle(TRAINING_JOB_KIND, memo, obj, kopf.Patch(), 0, work)

    asyncio.run(many())
    assert len(rt._locks) == 0


def test_an_object_lock_is_shared_while_held() -> None:
    rt = runtime()

    async def check() -> None:
        async with rt.lock("u"):
            assert rt.lock("u").locked()

    asyncio.run(check())
