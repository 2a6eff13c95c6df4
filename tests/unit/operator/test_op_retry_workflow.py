"""The TrainingJobRun workflow with retries: the next attempt's create (its name, tag, token, and
no second run after a crash), cancel, and deletion of every attempt's OCI run. Fakes stand in for
Kubernetes and OCI (several runs); the workflow is real."""

from __future__ import annotations

import asyncio
import copy
import datetime
from typing import Any

from ocids_operator.adapters.oci_mapping import create_job_run_details
from ocids_operator.core.deletion_plan import TAG_RETAINED
from ocids_operator.core.model import TAG_UID, RunRequest
from ocids_operator.core.retry import TAG_ATTEMPT
from ocids_operator.core.run_plan import RunView
from ocids_operator.workflows import training_job_run as run_workflow
from test_op_run_workflow import COMPARTMENT, JOB_ID, RUN, Kube, runtime

PAST = "2020-01-01T00:00:00Z"


class Runs:
    """OCI with many runs: ids r1, r2, ... in creation order."""

    region = "us-ashburn-1"

    def __init__(self) -> None:
        self.runs: dict[str, RunView] = {}
        self.requests: list[RunRequest] = []
        self.calls: list[tuple[str, str]] = []

    def add(self, state: str, name: str = "ml-attrition-lr", tags: dict[str, str] | None = None) -> str:
        run_id = f"r{len(self.runs) + 1}"
        self.runs[run_id] = RunView(
            run_id,
            JOB_ID,
            COMPARTMENT,
            state,
            name,  # RunView has no display name: the fake keeps it here, where lists filter it
            tags={TAG_UID: "uid-run", **(tags or {})},
        )
        return run_id

    async def get_job(self, job_id: str) -> Any:
        return None

    async def create_job_run(self, request: RunRequest) -> RunView:
        self.requests.append(request)
        details = create_job_run_details(request)
        run_id = self.add("ACCEPTED", details.display_name, dict(details.freeform_tags))
        return self.runs[run_id]

    async def list_job_runs(self, compartment_id: str, **filters: str) -> list[RunView]:
        state, name = filters.get("lifecycle_state"), filters.get("display_name")
        return [
            run
            for run in self.runs.values()
            if (run.lifecycle_state == state or (state is None and run.lifecycle_state != "DELETED"))
            and name in (None, run.lifecycle_details)
            and filters.get("id") in (None, run.id)
        ]

    async def get_job_run(self, run_id: str) -> RunView | None:
        return self.runs.get(run_id)

    async def cancel_job_run(self, run_id: str, compartment_id: str) -> bool:
        self.calls.append(("cancel", run_id))
        self._set(run_id, "CANCELING")
        return True

    async def delete_job_run(self, run_id: str, compartment_id: str) -> bool:
        self.calls.append(("delete", run_id))
        self._set(run_id, "DELETED")
        return True

    async def tag_job_run(self, run_id: str, tags: dict[str, str]) -> None:
        self.calls.append(("tag", run_id))
        old = self.runs[run_id]
        self.runs[run_id] = RunView(
            old.id, old.job_id, old.compartment_id, old.lifecycle_state, old.lifecycle_details, tags=tags
        )

    def _set(self, run_id: str, state: str) -> None:
        old = self.runs[run_id]
        self.runs[run_id] = RunView(
            old.id, old.job_id, old.compartment_id, state, old.lifecycle_details, tags=old.tags
        )


def body(status: dict[str, Any], **spec: Any) -> dict[str, Any]:
    run = copy.deepcopy(RUN)
    run["spec"].update(spec)
    run["status"] = copy.deepcopy(status)
    return run


def reconcile(oci: Runs, kube: Kube, **spec: Any) -> Any:
    async def scenario() -> Any:
        rt = runtime(oci, kube)  # type: ignore[arg-type]
        try:
            outcome, _ = await run_workflow.reconcile(rt, body(kube.status, **spec))
            if outcome.status:
                await kube.patch_run_status("ml", "attrition-lr", "uid-run", dict(outcome.status))
            return outcome
        finally:
            await rt.poller.stop()

    return asyncio.run(scenario())


def finalize(oci: Runs, status: dict[str, Any], **spec: Any) -> Any:
    async def scenario() -> Any:
        rt = runtime(oci, Kube())  # type: ignore[arg-type]
        try:
            return await run_workflow.finalize(rt, body(status, **spec))
        finally:
            await rt.poller.stop()

    return asyncio.run(scenario())


RETRY = {"maxRetries": 2, "retryOn": {"exitCodes": [137]}}


def pending_after_first(first: str) -> dict[str, Any]:
    return {
        "phase": "Pending",
        "attempt": 1,
        "nextAttemptAt": PAST,
        "attempts": [{"attempt": 1, "jobRunId": first, "phase": "Failed", "exitCode": 137, "retried": True}],
    }


def test_a_due_retry_creates_the_next_attempt_with_its_own_name_tag_and_token() -> None:
    oci, kube = Runs(), Kube()
    first = oci.add("FAILED")
    kube.status = pending_after_first(first)
    outcome = reconcile(oci, kube, retryPolicy=RETRY)
    [request] = oci.requests
    assert request.attempt == 2
    details = create_job_run_details(request)
    assert details.display_name == "ml-attrition-lr-a2"
    assert details.freeform_tags[TAG_ATTEMPT] == "2"
    assert request.retry_token != RunRequest(**{**request.__dict__, "attempt": 1}).retry_token
    assert kube.status["attempt"] == 2 and kube.status["jobRunId"] == "r2"
    assert "nextAttemptAt" not in kube.status  # cleared: nothing waits any more
    assert kube.status["attempts"][0]["jobRunId"] == first
    assert any("attempt 2" in message for _, _, message in outcome.events)


def test_a_retry_not_due_creates_nothing() -> None:
    oci, kube = Runs(), Kube()
    kube.status = {**pending_after_first(oci.add("FAILED")), "nextAttemptAt": "2999-01-01T00:00:00Z"}
    reconcile(oci, kube, retryPolicy=RETRY)
    assert oci.requests == []


def test_a_crash_after_the_retrys_create_adopts_it_instead_of_a_second_run() -> None:
    oci, kube = Runs(), Kube()
    first = oci.add("FAILED")
    made = oci.add("IN_PROGRESS", "ml-attrition-lr-a2", {TAG_ATTEMPT: "2"})
    # The stamp was written (attempt 2 asked of OCI), the run's status never was.
    kube.status = {**pending_after_first(first), "attempt": 2, "createAttemptedAt": "2026-03-01T12:00:00Z"}
    kube.status["createAttemptedAt"] = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    reconcile(oci, kube, retryPolicy=RETRY)
    assert oci.requests == []
    assert kube.status["jobRunId"] == made and kube.status["attempt"] == 2


def test_cancel_of_a_pending_retry_creates_nothing_and_ends_canceled() -> None:
    oci, kube = Runs(), Kube()
    kube.status = pending_after_first(oci.add("FAILED"))
    outcome = reconcile(oci, kube, retryPolicy=RETRY, cancel=True)
    assert oci.requests == []
    assert kube.status["phase"] == "Canceled" and "nextAttemptAt" not in kube.status
    assert [reason for _, reason, _ in outcome.events] == ["Canceled"]


def test_cancel_of_a_running_attempt_cancels_its_oci_run_once() -> None:
    oci, kube = Runs(), Kube()
    run_id = oci.add("IN_PROGRESS")
    kube.status = {"phase": "InProgress", "jobRunId": run_id, "attempt": 1}
    reconcile(oci, kube, cancel=True)
    assert oci.calls == [("cancel", run_id)]
    assert kube.status["cancelRequestedAt"]
    reconcile(oci, kube, cancel=True)  # CANCELING now: not sent again
    assert oci.calls == [("cancel", run_id)]


def test_deletion_deletes_every_attempts_run_and_repeats_nothing() -> None:
    oci = Runs()
    first, second, third = oci.add("FAILED"), oci.add("FAILED"), oci.add("SUCCEEDED")
    status = {
        "phase": "Succeeded",
        "jobRunId": third,
        "attempt": 3,
        "attempts": [
            {"attempt": 1, "jobRunId": first},
            {"attempt": 2, "jobRunId": second},
            {"attempt": 3, "jobRunId": third},
        ],
    }
    outcome = finalize(oci, status)
    assert sorted(oci.calls) == [("delete", first), ("delete", second), ("delete", third)]
    assert {oci.runs[i].lifecycle_state for i in (first, second, third)} == {"DELETED"}
    assert sum("earlier attempt" in message for _, _, message in outcome.events) == 2
    oci.calls.clear()
    finalize(oci, status)  # run again (e.g. after a partial pass): nothing is deleted twice
    assert oci.calls == []


def test_deletion_of_a_run_waiting_for_its_retry_deletes_the_ended_attempt() -> None:
    oci = Runs()
    first = oci.add("FAILED")
    finalize(oci, pending_after_first(first))
    assert oci.calls == [("delete", first)]


def test_retain_tags_every_attempts_run() -> None:
    oci = Runs()
    first, second = oci.add("FAILED"), oci.add("IN_PROGRESS")
    status = {
        "phase": "InProgress",
        "jobRunId": second,
        "attempt": 2,
        "attempts": [{"attempt": 1, "jobRunId": first}],
    }
    finalize(oci, status, deletionPolicy="Retain")
    assert sorted(oci.calls) == [("tag", first), ("tag", second)]
    assert all(oci.runs[i].tags.get(TAG_RETAINED) for i in (first, second))
    assert oci.runs[second].lifecycle_state == "IN_PROGRESS"  # Retain never cancels
