"""OCIDS_DEBUG_CRASH_AFTER accepts every kill point the workflows have, and only those; what a kill
point leaves behind is picked up on restart."""

from __future__ import annotations

import datetime
import typing

from ocids_operator.core.retry import TAG_ATTEMPT
from ocids_operator.settings import OperatorSettings
from ocids_operator.workflows.crash_point import CrashPoint


def test_the_setting_accepts_exactly_the_crash_points_the_workflows_call() -> None:
    annotation = OperatorSettings.model_fields["debug_crash_after"].annotation
    (accepted,) = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    assert sorted(typing.get_args(accepted)) == sorted(typing.get_args(CrashPoint))


def test_a_retry_found_already_failed_after_a_crash_is_recorded_and_retried_again() -> None:
    """The operator died right after a retry's CreateJobRun; that run failed while it was down. Found
    on restart, its end is treated as the poller treats one it followed: recorded, and retried."""
    from test_op_retry_workflow import RETRY, Kube, Runs, pending_after_first, reconcile

    oci, kube = Runs(), Kube()
    first = oci.add("FAILED")
    made = oci.add("FAILED", "ml-attrition-lr-a2", {TAG_ATTEMPT: "2"})
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    kube.status = {**pending_after_first(first), "attempt": 2, "createAttemptedAt": stamp}
    outcome = reconcile(oci, kube, retryPolicy=RETRY)
    assert oci.requests == []  # found, not made again
    assert kube.status["phase"] == "Pending" and kube.status["nextAttemptAt"], kube.status
    attempts = [(a["attempt"], a["jobRunId"], a["retried"]) for a in kube.status["attempts"]]
    assert attempts == [(1, first, True), (2, made, True)]
    assert "RetryBackoff" in [reason for _, reason, _ in outcome.events]
