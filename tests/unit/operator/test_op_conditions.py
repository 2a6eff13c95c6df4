"""kstatus conditions, links and error backoff."""

from __future__ import annotations

from typing import Any

from ocids_operator.api import TrainingJobSpec
from ocids_operator.core import conditions as cond
from ocids_operator.core import links
from ocids_operator.core.errors import ErrorOutcome, OutcomeKind, backoff_delay
from ocids_operator.core.kinds import KINDS, TRAINING_JOB_RUN_KIND
from ocids_operator.core.model import ResolvedArtifact
from ocids_operator.core.status import error_status, job_status

NOW = "2026-01-01T00:00:00Z"


def test_transition_time_is_kept_while_the_status_does_not_change() -> None:
    first = cond.merge_conditions(None, cond.health_conditions(cond.Health.PROGRESSING, "Creating"), 1, "t1")
    second = cond.merge_conditions(first, cond.health_conditions(cond.Health.PROGRESSING, "Waiting"), 2, "t2")
    ready = {c["type"]: c for c in second}
    assert ready["Reconciling"]["lastTransitionTime"] == "t1"
    assert ready["Reconciling"]["reason"] == "Waiting" and ready["Reconciling"]["observedGeneration"] == 2
    third = cond.merge_conditions(second, cond.health_conditions(cond.Health.READY, "Active"), 2, "t3")
    by_type = {c["type"]: c for c in third}
    assert by_type["Ready"] == {
        "type": "Ready",
        "status": "True",
        "reason": "Active",
        "message": "",
        "lastTransitionTime": "t3",
        "observedGeneration": 2,
    }
    assert [c["type"] for c in third] == ["Ready", "Reconciling", "Stalled"]


def test_stalled_error_sets_observed_generation_and_failed_phase_when_nothing_exists() -> None:
    outcome = ErrorOutcome(
        OutcomeKind.STALLED, "OCIRejectedRequest", "OCI create_job failed: 400 InvalidParameter"
    )
    status = error_status(outcome, {}, 3, NOW)
    assert status["phase"] == "Failed" and status["observedGeneration"] == 3
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "Ready": "False",
        "Reconciling": "False",
        "Stalled": "True",
    }


def test_retryable_error_keeps_the_resource_in_progress() -> None:
    outcome = ErrorOutcome(OutcomeKind.RETRY, "OCIRetryableError", "429")
    status = error_status(outcome, {"jobId": "j", "observedGeneration": 1}, 2, NOW)
    assert "phase" not in status and "observedGeneration" not in status
    assert {c["type"]: c["status"] for c in status["conditions"]}["Reconciling"] == "True"


def test_backoff_grows_and_is_capped() -> None:
    assert [backoff_delay(n, 5, 60) for n in range(6)] == [5, 10, 20, 40, 60, 60]


def test_console_links() -> None:
    assert links.job_console_url("ocid1.datasciencejob.x", "eu-frankfurt-1") == (
        "https://cloud.oracle.com/data-science/jobs/ocid1.datasciencejob.x?region=eu-frankfurt-1"
    )
    assert "%7C%20where%20source" in links.log_search_url("c", "g", "l", "r", "eu-frankfurt-1")


def test_an_error_before_anything_exists_in_oci_still_shows_a_phase() -> None:
    """`kubectl get tj/tjr` must never show an empty PHASE, whatever went wrong first."""
    rejected = ErrorOutcome(OutcomeKind.CREDENTIALS, "CredentialsRejected", "OCI list_jobs failed: 401")
    flaky = ErrorOutcome(OutcomeKind.RETRY, "OCIRetryableError", "OCI create_job failed: 503")
    for outcome in (rejected, flaky):
        for kind in KINDS:
            assert error_status(outcome, {}, 1, NOW, kind)["phase"] == "Pending"
            assert error_status(outcome, None, 1, NOW, kind)["phase"] == "Pending"
    # A phase already shown is kept (a merge patch leaves it), and so is one the OCI side drives.
    assert "phase" not in error_status(rejected, {"phase": "Failed"}, 2, NOW)
    running = {"jobRunId": "r", "phase": "InProgress"}
    assert "phase" not in error_status(rejected, running, 1, NOW, TRAINING_JOB_RUN_KIND)


def test_ready_says_where_the_oci_job_is_not_what_was_being_done() -> None:
    spec = TrainingJobSpec.model_validate(
        {
            "compartmentId": "ocid1.compartment.oc1..c",
            "projectId": "ocid1.datascienceproject.oc1..p",
            "artifact": {"inline": {"fileName": "train.py", "content": "print(1)"}},
            "infrastructure": {"shape": "VM.Standard2.1"},
        }
    )
    common: dict[str, Any] = {
        "spec": spec,
        "job_id": "ocid1.datasciencejob.oc1..j",
        "revision": 2,
        "retired_job_ids": [],
        "artifact": ResolvedArtifact("inline", "train.py", b"print(1)"),
        "region": "us-ashburn-1",
        "previous": None,
        "generation": 3,
        "now": NOW,
    }
    active = {c["type"]: c for c in job_status(active=True, reason="NewRevision", **common)["conditions"]}
    assert active["Ready"]["status"] == "True" and active["Ready"]["reason"] == "NewRevision"
    assert active["Ready"]["message"] == "OCI job ocid1.datasciencejob.oc1..j revision 2 is ACTIVE"
    creating = job_status(active=False, reason="Creating", **common)
    assert creating["phase"] == "Updating"
    assert creating["message"] == (
        "OCI job ocid1.datasciencejob.oc1..j revision 2 is CREATING; waiting for ACTIVE"
    )


def test_a_refusal_an_admin_can_lift_leaves_a_new_object_pending_not_failed() -> None:
    """A run refused for its namespace's grant or a missing consent tag is created once an admin
    grants it: a Failed phase would end it for good (a terminal run is never created)."""
    for reason in ("CompartmentNotAllowed", "AdoptionNotAllowed"):
        refused = ErrorOutcome(OutcomeKind.STALLED, reason, "compartment c is not allowed")
        for kind in KINDS:
            status = error_status(refused, {}, 1, NOW, kind)
            assert status["phase"] == "Pending", (reason, kind.name)
            assert {c["type"]: c["status"] for c in status["conditions"]}["Stalled"] == "True"
