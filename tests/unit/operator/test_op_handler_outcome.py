"""How a handler reports: status written through kopf's patch, events once, kopf retry signals."""

from __future__ import annotations

import asyncio
from typing import Any

import kopf
import oci
import pytest
from ocids_operator.api import TrainingJobStatus
from ocids_operator.core.errors import stalled
from ocids_operator.core.kinds import TRAINING_JOB_KIND
from ocids_operator.core.status_patch import StatusPatch
from ocids_operator.handlers.outcome import execute
from ocids_operator.runtime import Runtime
from ocids_operator.settings import OperatorSettings
from ocids_operator.workflows.outcome import Outcome

BODY = {
    "apiVersion": "ocids.io/v1alpha1",
    "kind": "TrainingJob",
    "metadata": {"name": "attrition", "namespace": "ml", "uid": "u", "generation": 4},
    "status": {"jobId": "ocid1.datasciencejob.oc1..j", "message": "old"},
}


class Events:
    def __init__(self) -> None:
        self.posted: list[tuple[str, str, str]] = []

    async def post_event(self, involved: dict[str, Any], type_: str, reason: str, message: str) -> None:
        self.posted.append((type_, reason, message))


def run(work: Any, retry: int = 0) -> tuple[kopf.Patch, Events, BaseException | None]:
    events = Events()
    rt = Runtime(OperatorSettings(retry_base_seconds=5, retry_max_seconds=60), None, events, None)  # type: ignore[arg-type]
    patch = kopf.Patch()
    error: BaseException | None = None

    async def go() -> None:
        await execute(TRAINING_JOB_KIND, rt, BODY, patch, retry, work)

    try:
        asyncio.run(go())
    except (kopf.TemporaryError, kopf.PermanentError) as exc:
        error = exc
    return patch, events, error


def service_error(status: int, code: str) -> Any:
    async def work() -> Outcome:
        raise oci.exceptions.ServiceError(status, code, {}, "OCI says no", operation_name="update_job")

    return work


def test_success_writes_status_and_events_and_returns_none() -> None:
    async def work() -> Outcome:
        return Outcome(
            StatusPatch(TrainingJobStatus(phase="Active")), [("Normal", "UpdatedInPlace", "updated shape")]
        )

    patch, events, error = run(work)
    assert error is None and patch["status"] == {"phase": "Active"}
    assert events.posted == [("Normal", "UpdatedInPlace", "updated shape")]


def test_400_stalls_permanently_with_ocis_message() -> None:
    patch, events, error = run(service_error(400, "InvalidParameter"))
    assert isinstance(error, kopf.PermanentError)
    stalled_condition = next(c for c in patch["status"]["conditions"] if c["type"] == "Stalled")
    assert stalled_condition["status"] == "True" and "OCI says no" in stalled_condition["message"]
    assert patch["status"]["observedGeneration"] == 4
    assert events.posted[0][:2] == ("Warning", "OCIRejectedRequest")


@pytest.mark.parametrize(("retry", "delay"), [(0, 5), (2, 20), (9, 60)])
def test_429_retries_with_growing_capped_delay(retry: int, delay: float) -> None:
    _, _, error = run(service_error(429, "TooManyRequests"), retry)
    assert isinstance(error, kopf.TemporaryError) and error.delay == delay


def test_401_is_a_credentials_problem_rechecked_slowly() -> None:
    patch, _, error = run(service_error(401, "NotAuthenticated"))
    assert isinstance(error, kopf.TemporaryError) and error.delay == 60
    assert (
        next(c for c in patch["status"]["conditions"] if c["type"] == "Stalled")["reason"]
        == "CredentialsRejected"
    )


@pytest.mark.parametrize("reason", ["CompartmentNotAllowed", "AdoptionNotAllowed"])
def test_a_refusal_an_admin_can_lift_is_rechecked_slowly_without_an_edit(reason: str) -> None:
    """An admin grants the compartment (or an OCI owner tags the job) after the object was applied:
    it must heal by itself, as a denied policy does, not wait for a spec edit."""

    async def work() -> Outcome:
        raise stalled(reason, "not allowed")

    patch, _, error = run(work)
    assert isinstance(error, kopf.TemporaryError) and error.delay == 60
    assert next(c for c in patch["status"]["conditions"] if c["type"] == "Stalled")["reason"] == reason


def test_the_same_problem_twice_posts_one_event() -> None:
    async def work() -> Outcome:
        raise stalled("InvalidSpec", "old")

    _, events, _ = run(work)
    assert events.posted == []  # status.message already says so


def test_requeue_is_a_temporary_error_after_writing_status() -> None:
    async def work() -> Outcome:
        return Outcome(
            StatusPatch(TrainingJobStatus(phase="Creating")),
            requeue_after=1.5,
            requeue_reason="waiting for ACTIVE",
        )

    patch, _, error = run(work)
    assert patch["status"] == {"phase": "Creating"}
    assert isinstance(error, kopf.TemporaryError) and error.delay == 1.5
