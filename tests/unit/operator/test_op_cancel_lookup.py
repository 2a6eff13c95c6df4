"""spec.cancel on a run whose create was asked of OCI but never recorded (a crash, a create that
timed out): it is "never created" only once lookups keep finding nothing past a grace after the
create (OCI's lists may lag it); a run found (DELETED too) is followed by the poller, which writes
its end."""

from __future__ import annotations

import asyncio
import datetime
from types import SimpleNamespace
from typing import Any

from ocids_operator.core.run_plan import RunView
from ocids_operator.settings import OperatorSettings
from ocids_operator.workflows import training_job_run as workflow
from ocids_operator.workflows.training_job_run import CANCEL_LOOKUP_GRACE

COMPARTMENT = "ocid1.compartment.oc1..c"
RUN_ID = "ocid1.datasciencejobrun.oc1..r"
JOB = {"metadata": {"name": "train", "uid": "uid-j"}, "spec": {"compartmentId": COMPARTMENT}}


class Oci:
    def __init__(self, runs: list[RunView]) -> None:
        self.runs = runs
        self.lists: list[dict[str, Any]] = []

    async def list_job_runs(self, compartment_id: str, **filters: Any) -> list[RunView]:
        self.lists.append(filters)
        state = filters.get("lifecycle_state")
        return [r for r in self.runs if (r.lifecycle_state == "DELETED") == (state == "DELETED")]

    async def get_job_run(self, run_id: str) -> RunView | None:
        return next((r for r in self.runs if r.id == run_id), None)

    async def cancel_job_run(self, run_id: str, compartment_id: str) -> bool:
        raise AssertionError("nothing active to cancel")


class Kube:
    def __init__(self, job: dict[str, Any] | None) -> None:
        self.job = job

    async def get_training_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.job


class Poller:
    def __init__(self) -> None:
        self.tracked_runs: dict[str, Any] = {}

    def track(self, run: Any) -> None:
        self.tracked_runs[run.run_id] = run

    def tracked(self) -> dict[str, Any]:
        return self.tracked_runs


def _runtime(runs: list[RunView], job: dict[str, Any] | None = JOB) -> Any:
    settings = OperatorSettings(cluster_name="test", region="us-ashburn-1")
    return SimpleNamespace(
        oci=Oci(runs),
        kube=Kube(job),
        poller=Poller(),
        settings=settings,
        region="us-ashburn-1",
        identity="op",
    )


def _body(attempted_ago: datetime.timedelta) -> dict[str, Any]:
    attempted = datetime.datetime.now(datetime.UTC) - attempted_ago
    return {
        "metadata": {"name": "r", "namespace": "ml", "uid": "uid-r", "generation": 2},
        "spec": {"jobRef": {"name": "train"}, "cancel": True},
        "status": {"phase": "Pending", "createAttemptedAt": attempted.strftime("%Y-%m-%dT%H:%M:%SZ")},
    }


def _cancel(rt: Any, body: dict[str, Any]) -> Any:
    outcome, _owners = asyncio.run(workflow.reconcile(rt, body))
    return outcome


def test_nothing_found_right_after_the_create_keeps_looking() -> None:
    rt = _runtime([])
    outcome = _cancel(rt, _body(datetime.timedelta(seconds=20)))
    assert outcome.requeue_after == rt.settings.poll_interval_seconds
    status = dict(outcome.status)
    assert "phase" not in status and "looking for the OCI job run" in status["message"]
    # DELETED runs are looked for too: a run made and deleted since must not pass for never made.
    assert [f.get("lifecycle_state") for f in rt.oci.lists] == [None, "DELETED"]


def test_nothing_found_past_the_grace_is_canceled_before_it_started() -> None:
    rt = _runtime([])
    outcome = _cancel(rt, _body(CANCEL_LOOKUP_GRACE + datetime.timedelta(seconds=5)))
    status = dict(outcome.status)
    assert status["phase"] == "Canceled"
    assert status["message"].startswith("canceled before it started: OCI lists no job run for the create")
    assert outcome.requeue_after is None


def test_a_deleted_run_found_is_followed_to_its_end() -> None:
    deleted = RunView(RUN_ID, "j", COMPARTMENT, "DELETED", tags={"ocids.io/uid": "uid-r"})
    rt = _runtime([deleted])
    outcome = _cancel(rt, _body(datetime.timedelta(seconds=20)))
    assert dict(outcome.status)["jobRunId"] == RUN_ID
    assert "phase" not in dict(outcome.status)  # the poller writes the end, with its proof
    tracked = rt.poller.tracked_runs[RUN_ID]
    assert tracked.canceled is True


def test_the_training_job_gone_cannot_be_looked_in() -> None:
    rt = _runtime([], job=None)
    status = dict(_cancel(rt, _body(datetime.timedelta(seconds=20))).status)
    assert status["phase"] == "Canceled" and "the TrainingJob is gone" in status["message"]
    assert rt.oci.lists == []
