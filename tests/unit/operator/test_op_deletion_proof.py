"""A 404 on delete counts as "already gone" only when a call that succeeded proves it.

OCI answers an IAM denial with the same 404 NotAuthorizedOrNotFound as a missing resource, and a
policy removed denies GetJob as well as DeleteJob: only a read showing it deleted, or a list of its
compartment (filtered by id) answering 200 without it, lets a finalizer go.
"""

from __future__ import annotations

import asyncio
import copy
from types import SimpleNamespace
from typing import Any

import kopf
import oci
import pytest
from fake_oci import FakeDataScience, not_authorized_or_not_found
from ocids_operator.adapters.oci_client import OciGateway
from ocids_operator.api import TrainingJobSpec
from ocids_operator.core import model as core
from ocids_operator.core.kinds import TRAINING_JOB_KIND
from ocids_operator.handlers.outcome import handle
from ocids_operator.runtime import Runtime
from ocids_operator.settings import OperatorSettings
from ocids_operator.workflows import training_job

COMPARTMENT = "ocid1.compartment.oc1..comp"
JOB_ID = "ocid1.datasciencejob.oc1..j1"
RUN_ID = "ocid1.datasciencejobrun.oc1..r1"
MISSING = "missing"


# The gateway against a stub SDK client -------------------------------------------------------------
class Client:
    """A DataScienceClient whose get/delete/list each answer as told: MISSING (404), a lifecycle
    state, or (list) a list of states."""

    def __init__(self, kind: str, get: str, listed: list[str] | str, resource_id: str) -> None:
        self.kind, self.get, self.listed, self.resource_id = kind, get, listed, resource_id
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        setattr(self, f"delete_{kind}", self._delete)
        setattr(self, f"get_{kind}", self._get)
        setattr(self, f"list_{kind}s", self._list)

    def _delete(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append((f"delete_{self.kind}", args, kwargs))
        raise not_authorized_or_not_found(f"delete_{self.kind}")

    def _get(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append((f"get_{self.kind}", args, kwargs))
        if self.get == MISSING:
            raise not_authorized_or_not_found(f"get_{self.kind}")
        return SimpleNamespace(
            data=SimpleNamespace(id=self.resource_id, lifecycle_state=self.get), headers={}
        )

    def _list(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append((f"list_{self.kind}s", args, kwargs))
        if self.listed == MISSING:
            raise not_authorized_or_not_found(f"list_{self.kind}s")
        items = [SimpleNamespace(id=self.resource_id, lifecycle_state=state) for state in self.listed]
        return SimpleNamespace(data=items, next_page=None)


def gateway(client: Client) -> OciGateway:
    settings = OperatorSettings(cluster_name="test", region="us-ashburn-1")
    return OciGateway(settings, client=client)  # type: ignore[arg-type]


async def delete(oci_: OciGateway, kind: str, resource_id: str) -> bool:
    if kind == "job":
        return await oci_.delete_job(resource_id, COMPARTMENT)
    return await oci_.delete_job_run(resource_id, COMPARTMENT)


KINDS = [("job", JOB_ID), ("job_run", RUN_ID)]


@pytest.mark.parametrize(("kind", "resource_id"), KINDS)
def test_a_delete_and_a_read_both_denied_and_the_list_denied_too_is_not_gone(
    kind: str, resource_id: str
) -> None:
    client = Client(kind, get=MISSING, listed=MISSING, resource_id=resource_id)
    with pytest.raises(oci.exceptions.ServiceError) as raised:
        asyncio.run(delete(gateway(client), kind, resource_id))
    assert raised.value.status == 404 and raised.value.operation_name == f"delete_{kind}"
    assert [name for name, _, _ in client.calls] == [f"delete_{kind}", f"get_{kind}", f"list_{kind}s"]
    _, args, kwargs = client.calls[-1]
    assert args == (COMPARTMENT,) and kwargs["id"] == resource_id


@pytest.mark.parametrize(("kind", "resource_id"), KINDS)
@pytest.mark.parametrize("listed", [[], ["DELETED"]])
def test_a_404_proven_by_a_list_that_answered_is_gone(kind: str, resource_id: str, listed: list[str]) -> None:
    client = Client(kind, get=MISSING, listed=listed, resource_id=resource_id)
    assert asyncio.run(delete(gateway(client), kind, resource_id)) is False


@pytest.mark.parametrize(("kind", "resource_id"), KINDS)
def test_a_404_while_the_list_still_shows_it_is_a_denial(kind: str, resource_id: str) -> None:
    state = "ACTIVE" if kind == "job" else "SUCCEEDED"
    client = Client(kind, get=MISSING, listed=[state], resource_id=resource_id)
    with pytest.raises(oci.exceptions.ServiceError):
        asyncio.run(delete(gateway(client), kind, resource_id))


@pytest.mark.parametrize(("kind", "resource_id"), KINDS)
def test_a_readable_resource_is_a_denial_without_listing(kind: str, resource_id: str) -> None:
    state = "ACTIVE" if kind == "job" else "SUCCEEDED"
    client = Client(kind, get=state, listed=[], resource_id=resource_id)
    with pytest.raises(oci.exceptions.ServiceError):
        asyncio.run(delete(gateway(client), kind, resource_id))
    assert [name for name, _, _ in client.calls] == [f"delete_{kind}", f"get_{kind}"]


# The TrainingJob finalizer against the fake ------------------------------------------------------
SPEC: dict[str, Any] = {
    "compartmentId": COMPARTMENT,
    "projectId": "ocid1.datascienceproject.oc1..proj",
    "artifact": {"inline": {"fileName": "train.py", "content": "print('hello')"}},
    "infrastructure": {"shape": "VM.Standard.E4.Flex", "ocpus": 2, "memoryInGBs": 32},
}
REF = core.ObjectRef("ml", "attrition", "uid-1", "test")


class Kube:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    async def list_training_job_runs(self, namespace: str) -> list[dict[str, Any]]:
        return []

    async def post_event(self, involved: dict[str, Any], type_: str, reason: str, message: str) -> None:
        self.events.append((type_, reason, message))


def fake_with_job() -> FakeDataScience:
    fake = FakeDataScience()
    spec = TrainingJobSpec.model_validate(SPEC)
    fake.add_job(core.JobRequest(spec, REF, {}, 1, "hash"), JOB_ID, artifact=b"print('hello')")
    return fake


def body() -> Any:
    return {
        "apiVersion": "ocids.io/v1alpha1",
        "kind": "TrainingJob",
        "metadata": {"namespace": "ml", "name": "attrition", "uid": REF.uid, "generation": 1},
        "spec": copy.deepcopy(SPEC),
        "status": {"jobId": JOB_ID, "revision": 1, "phase": "Active"},
    }


def runtime(fake: FakeDataScience) -> Runtime:
    settings = OperatorSettings(cluster_name=REF.cluster, retry_base_seconds=5, retry_max_seconds=600)
    return Runtime(settings, fake, Kube(), None)  # type: ignore[arg-type]


def finalize_through_handler(rt: Runtime) -> tuple[kopf.Patch, BaseException | None]:
    patch = kopf.Patch()
    memo = SimpleNamespace(runtime=rt)

    async def work(runtime_: Runtime) -> Any:
        return await training_job.finalize(runtime_, body())

    try:
        asyncio.run(handle(TRAINING_JOB_KIND, memo, body(), patch, 0, work, last=True))
    except (kopf.TemporaryError, kopf.PermanentError) as exc:
        return patch, exc
    return patch, None


def test_a_job_whose_read_and_delete_are_denied_keeps_the_finalizer_until_proven_gone() -> None:
    fake = fake_with_job()
    fake.denied.add(JOB_ID)  # GetJob and DeleteJob both answer 404
    fake.failures["list_jobs"] = not_authorized_or_not_found("list_jobs")  # and so does ListJobs
    rt = runtime(fake)

    patch, exc = finalize_through_handler(rt)
    assert isinstance(exc, kopf.TemporaryError), "the finalizer holds"
    stalled = next(c for c in patch["status"]["conditions"] if c["type"] == "Stalled")
    assert stalled["reason"] == "DeletionBlocked" and "NotAuthorizedOrNotFound" in stalled["message"]
    assert ("Warning", "DeletionBlocked") in [(t, r) for t, r, _ in rt.kube.events]  # type: ignore[attr-defined]
    assert fake.jobs[JOB_ID].job.lifecycle_state == "ACTIVE"

    # ListJobs allowed again while GetJob/DeleteJob are still denied: the list shows it, not gone.
    del fake.failures["list_jobs"]
    _, exc = finalize_through_handler(rt)
    assert isinstance(exc, kopf.TemporaryError)

    fake.denied.clear()  # the policy is back
    outcome = asyncio.run(training_job.finalize(rt, body()))
    assert outcome.requeue_after is None
    assert fake.jobs[JOB_ID].job.lifecycle_state == "DELETED"


def test_a_job_deleted_in_the_console_is_let_go_at_once() -> None:
    fake = fake_with_job()
    fake.jobs[JOB_ID].job.lifecycle_state = "DELETED"
    outcome = asyncio.run(training_job.finalize(runtime(fake), body()))
    assert outcome.requeue_after is None and outcome.status == {}

    fake = fake_with_job()
    del fake.jobs[JOB_ID]  # long gone: GetJob and DeleteJob 404, ListJobs answers without it
    outcome = asyncio.run(training_job.finalize(runtime(fake), body()))
    assert outcome.requeue_after is None and outcome.status == {}
    assert fake.calls[-2:] == ["delete_job", "list_jobs"]
