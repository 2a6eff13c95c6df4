"""Issue 14, defects A-E and two suspicions: deletion that cancels before it lets go, bounded and
proven; Retain runs that outlive their TrainingJob; create attempts stamped only when a request leaves.
"""

from __future__ import annotations

import asyncio
import copy
import datetime
from types import SimpleNamespace
from typing import Any

import kopf
import oci
import pytest
from fake_oci import FakeDataScience, not_authorized_or_not_found
from ocids_operator.adapters.oci_client import OciGateway
from ocids_operator.api import TrainingJobSpec
from ocids_operator.core import model as core
from ocids_operator.core.deletion_plan import TAG_RETAINED, plan_job_deletion
from ocids_operator.core.kinds import TRAINING_JOB_RUN_KIND
from ocids_operator.core.run_plan import RunView
from ocids_operator.handlers.outcome import handle
from ocids_operator.runtime import Runtime
from ocids_operator.settings import OperatorSettings
from ocids_operator.workflows import training_job
from ocids_operator.workflows import training_job_run as run_workflow
from test_op_run_workflow import RUN, RUN_ID, Kube, Oci, reconcile_once, runtime, service_error

COMPARTMENT = "ocid1.compartment.oc1..comp"


def ago(minutes: float) -> str:
    return (datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=minutes)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


def finalize_run(oci_: Oci, kube: Kube, deleted_minutes_ago: float, **spec: Any) -> Any:
    async def scenario() -> Any:
        rt = runtime(oci_, kube)
        try:
            body = copy.deepcopy(RUN)
            body["spec"].update(spec)
            body["metadata"]["deletionTimestamp"] = ago(deleted_minutes_ago)
            body["status"] = copy.deepcopy(kube.status)
            outcome = await run_workflow.finalize(rt, body)
            if outcome.status:
                await kube.patch_run_status("ml", "attrition-lr", "uid-run", dict(outcome.status))
            return outcome
        finally:
            await rt.poller.stop()

    return asyncio.run(scenario())


# A: the cancel bound counts from the first cancel sent, never from the deletion ------------------
def test_a_run_deleted_long_before_the_operator_came_back_is_canceled_before_it_is_let_go() -> None:
    oci_, kube = Oci(), Kube()
    reconcile_once(oci_, kube)
    assert oci_.run is not None
    oci_.run.lifecycle_state = "IN_PROGRESS"
    # Deleted two hours ago, the operator down all along (the bound is 15 minutes).
    outcome = finalize_run(oci_, kube, deleted_minutes_ago=120)
    assert oci_.run.lifecycle_state == "CANCELING", "a cancelable run is canceled before it is let go"
    assert outcome.requeue_after is not None, "the finalizer stays while OCI stops the run"
    assert kube.status["cancelRequestedAt"], "the bound is kept in status"
    assert not [e for e in outcome.events if e[1] == "RunLeftInOCI"]
    # It never stops: the bound, counted from that cancel, lets the object go after 15 minutes.
    assert finalize_run(oci_, kube, deleted_minutes_ago=125).requeue_after is not None
    kube.status["cancelRequestedAt"] = ago(16)
    released = finalize_run(oci_, kube, deleted_minutes_ago=136)
    assert released.requeue_after is None
    assert [(t, r) for t, r, _ in released.events] == [("Warning", "RunLeftInOCI")]


# D: a 404 on CancelJobRun means "nothing to stop" only when a read proves it ----------------------
class CancelClient:
    """A DataScienceClient whose CancelJobRun answers `cancel` (an HTTP status) and whose GetJobRun
    reads `get` (a lifecycle state, or None for a 404)."""

    def __init__(self, cancel: int, get: str | None, listed: list[str] | None = None) -> None:
        self.cancel, self.get, self.listed = cancel, get, listed or []
        self.calls: list[str] = []

    def cancel_job_run(self, run_id: str, **_: Any) -> Any:
        self.calls.append("cancel_job_run")
        if self.cancel == 404:
            raise not_authorized_or_not_found("cancel_job_run")
        if self.cancel == 409:
            raise oci.exceptions.ServiceError(409, "IncorrectState", {}, "NEEDS_ATTENTION")
        return SimpleNamespace(data=None, headers={})

    def get_job_run(self, run_id: str, **_: Any) -> Any:
        self.calls.append("get_job_run")
        if self.get is None:
            raise not_authorized_or_not_found("get_job_run")
        return SimpleNamespace(data=SimpleNamespace(id=run_id, lifecycle_state=self.get), headers={})

    def list_job_runs(self, compartment_id: str, **_: Any) -> Any:
        self.calls.append("list_job_runs")
        items = [SimpleNamespace(id=RUN_ID, lifecycle_state=state) for state in self.listed]
        return SimpleNamespace(data=items, next_page=None)


def cancel(client: CancelClient) -> bool:
    settings = OperatorSettings(cluster_name="test", region="us-ashburn-1")
    return asyncio.run(OciGateway(settings, client=client).cancel_job_run(RUN_ID, COMPARTMENT))  # type: ignore[arg-type]


def test_a_cancel_denied_while_the_run_reads_in_progress_is_raised_not_taken_for_gone() -> None:
    client = CancelClient(cancel=404, get="IN_PROGRESS")
    with pytest.raises(oci.exceptions.ServiceError) as raised:
        cancel(client)
    assert raised.value.status == 404 and client.calls == ["cancel_job_run", "get_job_run"]


def test_a_cancel_denied_and_the_run_listed_active_is_raised() -> None:
    with pytest.raises(oci.exceptions.ServiceError):
        cancel(CancelClient(cancel=404, get=None, listed=["IN_PROGRESS"]))


@pytest.mark.parametrize(
    ("get", "listed"), [("DELETED", []), ("SUCCEEDED", []), (None, []), (None, ["CANCELED"])]
)
def test_a_cancel_404_proven_by_a_read_means_nothing_to_stop(get: str | None, listed: list[str]) -> None:
    assert cancel(CancelClient(cancel=404, get=get, listed=listed)) is False


def test_a_cancel_oci_refuses_for_the_runs_state_is_left_to_the_bound() -> None:
    assert cancel(CancelClient(cancel=409, get="NEEDS_ATTENTION")) is True


def test_a_run_whose_cancel_is_denied_blocks_its_deletion_as_not_authorized() -> None:
    oci_, kube = Oci(), Kube()
    reconcile_once(oci_, kube)
    assert oci_.run is not None
    oci_.run.lifecycle_state = "IN_PROGRESS"

    async def deny(run_id: str, compartment_id: str) -> bool:
        raise not_authorized_or_not_found("cancel_job_run")

    oci_.cancel_job_run = deny  # type: ignore[method-assign]
    events: list[tuple[str, str]] = []

    async def post_event(involved: Any, type_: str, reason: str, message: str) -> None:
        events.append((type_, reason))

    kube.post_event = post_event  # type: ignore[method-assign]

    async def scenario() -> BaseException | None:
        rt = runtime(oci_, kube)
        rt.auth = None  # type: ignore[attr-defined]
        body = copy.deepcopy(RUN)
        body["metadata"]["deletionTimestamp"] = ago(1)
        body["status"] = copy.deepcopy(kube.status)
        try:
            await handle(
                TRAINING_JOB_RUN_KIND,
                SimpleNamespace(runtime=rt),
                body,
                kopf.Patch(),
                0,
                lambda rt_: run_workflow.finalize(rt_, body),
                writer=lambda rt_, b, p: (
                    lambda s: kube.patch_run_status("ml", "attrition-lr", "uid-run", dict(s))
                ),  # type: ignore[arg-type,return-value]
                last=True,
            )
        except BaseException as exc:
            return exc
        finally:
            await rt.poller.stop()
        return None

    raised = asyncio.run(scenario())
    assert isinstance(raised, kopf.TemporaryError), "the finalizer holds"
    stalled = next(c for c in kube.status["conditions"] if c["type"] == "Stalled")
    assert stalled["reason"] == "DeletionBlocked" and "NotAuthorizedOrNotFound" in stalled["message"]
    assert ("Warning", "DeletionBlocked") in events


# E: a Retain run is tagged before its object goes, and a job holding one is kept ------------------
def test_a_retained_run_is_tagged_in_oci_before_its_object_is_let_go() -> None:
    oci_, kube = Oci(), Kube()
    reconcile_once(oci_, kube)
    assert oci_.run is not None
    oci_.run.lifecycle_state = "IN_PROGRESS"
    outcome = finalize_run(oci_, kube, deleted_minutes_ago=0, deletionPolicy="Retain")
    assert outcome.requeue_after is None and oci_.run.lifecycle_state == "IN_PROGRESS"
    assert (oci_.run.freeform_tags or {}).get(TAG_RETAINED) == "Retain"
    assert (oci_.run.freeform_tags or {}).get(core.TAG_UID) == "uid-run", "the other tags are kept"


def view(run_id: str, state: str, tags: dict[str, str]) -> RunView:
    return RunView(run_id, "job", COMPARTMENT, state, tags=tags)


OURS = {core.TAG_UID: "u", core.TAG_NAMESPACE: "ml", core.TAG_CLUSTER: "test"}


def test_the_deletion_plan_stops_only_this_operators_runs_nobody_keeps() -> None:
    runs = {
        "job-a": [view("plain", "IN_PROGRESS", OURS), view("kept", "IN_PROGRESS", OURS)],
        "job-b": [view("tagged", "IN_PROGRESS", {**OURS, TAG_RETAINED: "Retain"})],
        "job-c": [view("console", "IN_PROGRESS", {}), view("done", "SUCCEEDED", OURS)],
        "job-d": [view("other-ns", "ACCEPTED", {**OURS, core.TAG_NAMESPACE: "other"})],
        "job-e": [view("finished", "SUCCEEDED", OURS)],
    }
    plan = plan_job_deletion(runs, {"kept"}, "ml", "test")
    assert [run.id for run in plan.stop] == ["plain"]
    assert plan.retained == {"job-a": ["kept"], "job-b": ["tagged"]}
    assert plan.foreign == {"job-c": ["console"], "job-d": ["other-ns"]}
    assert [job for job in runs if not plan.kept(job)] == ["job-e"]


SPEC = {
    "compartmentId": COMPARTMENT,
    "projectId": "ocid1.datascienceproject.oc1..proj",
    "artifact": {"inline": {"fileName": "train.py", "content": "print('hello')"}},
    "infrastructure": {"shape": "VM.Standard.E4.Flex", "ocpus": 2, "memoryInGBs": 32},
}
REF = core.ObjectRef("ml", "attrition", "uid-1", "test")
JOB_ID = "ocid1.datasciencejob.oc1..j1"


class JobKube:
    def __init__(self, runs: list[dict[str, Any]] | None = None) -> None:
        self.runs = runs or []
        self.events: list[tuple[str, str, str]] = []

    async def list_training_job_runs(self, namespace: str) -> list[dict[str, Any]]:
        return copy.deepcopy(self.runs)

    async def post_event(self, involved: dict[str, Any], type_: str, reason: str, message: str) -> None:
        self.events.append((type_, reason, message))


def job_world(
    run_states: list[str], runs: list[dict[str, Any]] | None = None
) -> tuple[Runtime, FakeDataScience]:
    fake = FakeDataScience()
    spec = TrainingJobSpec.model_validate(SPEC)
    fake.add_job(core.JobRequest(spec, REF, {}, 1, "hash"), JOB_ID, artifact=b"print('hello')")
    fake.jobs[JOB_ID].run_states = list(run_states)
    settings = OperatorSettings(cluster_name=REF.cluster, retry_base_seconds=5, retry_max_seconds=600)
    return Runtime(settings, fake, JobKube(runs), None), fake  # type: ignore[arg-type]


def job_body(**status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "ocids.io/v1alpha1",
        "kind": "TrainingJob",
        "metadata": {"namespace": "ml", "name": "attrition", "uid": REF.uid, "generation": 1},
        "spec": copy.deepcopy(SPEC),
        "status": {"jobId": JOB_ID, "revision": 1, "phase": "Active", **status},
    }


def run_object(run_index: int, policy: str) -> dict[str, Any]:
    return {
        "metadata": {"name": f"r{run_index}", "namespace": "ml"},
        "spec": {"jobRef": {"name": "attrition"}, "deletionPolicy": policy},
        "status": {"jobRunId": f"ocid1.datasciencejobrun.oc1..{run_index}"},
    }


def test_a_training_job_deletion_keeps_a_retained_run_and_its_job() -> None:
    # Run 0 says Retain and still trains; run 1 (Delete) trains too.
    rt, fake = job_world(["IN_PROGRESS", "IN_PROGRESS"], [run_object(0, "Retain"), run_object(1, "Delete")])
    first = asyncio.run(training_job.finalize(rt, job_body()))
    assert fake.calls.count("cancel_job_run") == 1, "only the Delete run is canceled"
    assert first.requeue_after is not None and first.status["cancelRequestedAt"]
    fake.jobs[JOB_ID].run_states = ["IN_PROGRESS", "CANCELED"]
    done = asyncio.run(
        training_job.finalize(rt, job_body(cancelRequestedAt=first.status["cancelRequestedAt"]))
    )
    assert done.requeue_after is None
    assert "delete_job" not in fake.calls, "DeleteJob would take the retained run along"
    [(type_, reason, message)] = done.events
    assert (type_, reason) == ("Normal", "JobKept") and JOB_ID in message and ".0" in message


def test_an_adopted_jobs_own_runs_are_never_canceled_and_the_job_is_kept() -> None:
    rt, fake = job_world(["IN_PROGRESS"])
    fake.jobs[JOB_ID].job.freeform_tags = {}  # runs made in the console: no uid of ours
    outcome = asyncio.run(training_job.finalize(rt, job_body()))
    assert "cancel_job_run" not in fake.calls and "delete_job" not in fake.calls
    assert outcome.requeue_after is None
    assert [(t, r) for t, r, _ in outcome.events] == [("Warning", "JobKept")]


# C: a TrainingJob's deletion waits for a run stuck CANCELING only for a bounded time --------------
def test_a_training_job_deletion_lets_go_of_a_run_stuck_canceling_after_the_bound() -> None:
    rt, fake = job_world(["CANCELING"])
    first = asyncio.run(training_job.finalize(rt, job_body()))
    assert first.requeue_after is not None and first.status["cancelRequestedAt"]
    assert fake.calls.count("cancel_job_run") == 1, "the bound starts with a cancel actually sent"
    waiting = asyncio.run(training_job.finalize(rt, job_body(cancelRequestedAt=ago(5))))
    assert waiting.requeue_after is not None
    released = asyncio.run(training_job.finalize(rt, job_body(cancelRequestedAt=ago(16))))
    assert released.requeue_after is None
    assert "delete_job" not in fake.calls, "OCI refuses DeleteJob while a run is active"
    [(type_, reason, message)] = released.events
    assert (type_, reason) == ("Warning", "RunLeftInOCI")
    assert "ocid1.datasciencejobrun.oc1..0 (CANCELING)" in message and JOB_ID in message


# B: nothing is stamped as attempted before every input of the request is resolved ----------------
class SecretKube(Kube):
    def __init__(self) -> None:
        super().__init__()
        self.secrets: dict[tuple[str, str], str] = {}

    async def read_secret_key(
        self, namespace: str, name: str, key: str, optional: bool = False
    ) -> str | None:
        from ocids_operator.adapters.kube import MissingReference

        if (name, key) not in self.secrets:
            raise MissingReference(f"Secret {namespace}/{name} does not exist")
        return self.secrets[(name, key)]


def test_a_run_waiting_for_a_missing_secret_is_not_stamped_as_attempted() -> None:
    oci_, kube = Oci(), SecretKube()
    run = copy.deepcopy(RUN)
    run["spec"]["env"] = [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}}]
    with pytest.raises(Exception, match="creds") as raised:
        reconcile_once(oci_, kube, run)
    assert (
        getattr(raised.value, "outcome", None) is not None
        and raised.value.outcome.reason == "EnvReferenceMissing"
    )  # type: ignore[attr-defined]
    assert "createAttemptedAt" not in kube.status and oci_.creates == 0
    kube.secrets[("creds", "token")] = "s3cret"  # the Secret appears
    reconcile_once(oci_, kube, run)
    assert oci_.creates == 1 and kube.status["jobRunId"] == RUN_ID and kube.status["createAttemptedAt"]


# Suspicion 1: a definite refusal never spends the token a corrected request needs ----------------
def test_a_run_refused_outright_gets_a_fresh_token_for_its_next_request() -> None:
    """Modelled on a service that keeps the token of a refused request (OCI does not document that
    it does not): the next body (here: the re-created job's id) would otherwise be answered
    InvalidatedRetryToken, and the run failed as RunNotFound."""
    oci_, kube = Oci(), Kube()
    spent: dict[str, str] = {}
    real_create = oci_.create_job_run

    async def create(request: core.RunRequest) -> RunView:
        body = repr((request.job_id, dict(request.run_user_env)))
        if spent.setdefault(request.retry_token, body) != body:
            raise service_error(409, "InvalidatedRetryToken")
        if request.job_id == "ocid1.datasciencejob.oc1..j":
            raise service_error(404, "NotAuthorizedOrNotFound")  # the job was deleted in the console
        return await real_create(request)

    oci_.create_job_run = create  # type: ignore[method-assign]
    oci_.job_gone = True
    reconcile_once(oci_, kube)
    assert kube.status["phase"] == "Pending" and kube.status["createRefusals"] == 1
    # The TrainingJob re-creates its job (a new id): the run's request body changes.
    healed = copy.deepcopy(RUN)

    async def new_job(namespace: str, name: str) -> dict[str, Any]:
        from test_op_run_workflow import TRAINING_JOB

        job = copy.deepcopy(TRAINING_JOB)
        job["status"]["jobId"] = "ocid1.datasciencejob.oc1..j2"
        return job

    kube.get_training_job = new_job  # type: ignore[method-assign]
    reconcile_once(oci_, kube, healed)
    assert kube.status["phase"] != "Failed", kube.status.get("message")
    assert kube.status["jobRunId"] == RUN_ID and oci_.creates == 1
