"""Retries and cancel of a TrainingJobRun: the retry decision (retry_scenarios/decide.yaml), the
status a retried or final attempt writes, when the next attempt is created, and which runs count as
finished for sweeps, schedules and history limits."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from ocids_operator.api import TrainingJobRunSpec
from ocids_operator.api.run_policies import MetricStatus, RetryPolicy
from ocids_operator.core import model
from ocids_operator.core.errors import ErrorOutcome, OutcomeKind
from ocids_operator.core.kinds import TRAINING_JOB_RUN_KIND
from ocids_operator.core.phases import run_finished
from ocids_operator.core.retry import (
    after_attempt,
    attempt_display_name,
    attempt_run_ids,
    canceled_status,
    decide,
    is_attempt,
    policy_of,
    retry_event,
)
from ocids_operator.core.run_plan import RunAction, RunView, attempt_job_id, plan_run
from ocids_operator.core.run_status import run_status
from ocids_operator.core.status import error_status

NOW = datetime.datetime(2026, 3, 1, 12, 0, 0, tzinfo=datetime.UTC)
RUN_1 = "ocid1.datasciencejobrun.oc1..a1"
ACTIVE_JOB = {
    "metadata": {"generation": 2},
    "status": {
        "phase": "Active",
        "jobId": "ocid1.datasciencejob.oc1..j",
        "observedGeneration": 2,
        "conditions": [{"type": "Ready", "status": "True", "observedGeneration": 2}],
    },
}


def _decide_scenarios() -> list[Any]:
    doc = yaml.safe_load((Path(__file__).parent / "retry_scenarios" / "decide.yaml").read_text())
    return [pytest.param(s, id=s["name"]) for s in doc["scenarios"]]


@pytest.mark.parametrize("scenario", _decide_scenarios())
def test_retry_decision(scenario: dict[str, Any]) -> None:
    raw = scenario.get("policy")
    policy = RetryPolicy.model_validate(raw) if raw is not None else None
    decision = decide(
        policy,
        scenario["phase"],
        scenario.get("details"),
        scenario.get("exitCode"),
        scenario["attempt"],
        canceled=scenario.get("canceled", False),
    )
    want = scenario["expect"]
    assert decision.retry is want["retry"], decision
    if "reason" in want:
        assert decision.reason == want["reason"]
    if "delay" in want:
        assert decision.delay_seconds == want["delay"]


def _ended(state: str, details: str) -> Any:
    view = RunView(
        RUN_1,
        "ocid1.datasciencejob.oc1..j",
        "ocid1.compartment.oc1..c",
        state,
        details,
        time_started=NOW - datetime.timedelta(minutes=2),
        time_finished=NOW,
        log_group_id="ocid1.loggroup.oc1..g",
        log_id="ocid1.log.oc1..l",
    )
    running = {
        "phase": "InProgress",
        "jobRunId": RUN_1,
        "attempt": 1,
        "createAttemptedAt": "2026-03-01T11:50:00Z",
    }
    return running, run_status(view, "us-ashburn-1", running, 1, "2026-03-01T12:00:00Z")


def test_retryable_failure_becomes_pending_with_the_attempt_recorded() -> None:
    previous, ended = _ended("FAILED", "Job run artifact execution failed with exit code 137.")
    policy = RetryPolicy.model_validate(
        {"maxRetries": 2, "retryOn": {"exitCodes": [137]}, "backoff": {"initialSeconds": 5}}
    )
    status = dict(after_attempt(previous, ended, policy, NOW, 1))
    assert status["phase"] == "Pending"
    assert status["nextAttemptAt"] == "2026-03-01T12:00:05Z"
    assert status["attempts"] == [
        {
            "attempt": 1,
            "jobRunId": RUN_1,
            "phase": "Failed",
            "exitCode": 137,
            "lifecycleDetails": "Job run artifact execution failed with exit code 137.",
            "timeStarted": "2026-03-01T11:58:00Z",
            "timeFinished": "2026-03-01T12:00:00Z",
            "retried": True,
            "reason": "exit code 137 is retryable: retry 1 of 2",
        }
    ]
    # The ended run is no longer shown as the current one; the next create starts afresh.
    for cleared in ("jobRunId", "createAttemptedAt", "exitCode", "timeFinished", "logs"):
        assert status[cleared] is None, cleared
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "RetryBackoff")
    assert not any(c["type"] in ("Failed", "Succeeded") for c in status["conditions"])
    assert not run_finished(status)
    assert retry_event(status) == ("Warning", "RetryBackoff", status["message"])
    assert "retry 1 of 2" in status["message"]


def test_not_retryable_failure_stays_failed_with_why() -> None:
    previous, ended = _ended("FAILED", "Job run artifact execution failed with exit code 1.")
    policy = RetryPolicy.model_validate({"maxRetries": 2, "retryOn": {"exitCodes": [137]}})
    status = dict(after_attempt(previous, ended, policy, NOW, 1))
    assert status["phase"] == "Failed"
    assert status["nextAttemptAt"] is None  # written: a retry a crash left pending must not stay
    assert status["attempts"][0]["retried"] is False
    assert status["attempts"][0]["reason"] == "exit code 1 is not retryable (retryOn.exitCodes)"
    assert "is not retried" in status["message"]
    assert run_finished(status)
    assert retry_event(status) is None


def test_without_policy_the_write_is_unchanged() -> None:
    previous, ended = _ended("FAILED", "Job run artifact execution failed with exit code 137.")
    assert dict(after_attempt(previous, ended, None, NOW)) == dict(ended)


def test_running_update_is_unchanged_even_with_a_policy() -> None:
    previous, ended = _ended("IN_PROGRESS", "Job run artifact execution in progress.")
    policy = RetryPolicy.model_validate({"maxRetries": 2})
    assert dict(after_attempt(previous, ended, policy, NOW)) == dict(ended)


def test_second_attempt_is_recorded_after_the_first() -> None:
    previous, ended = _ended("SUCCEEDED", "Job run artifact execution succeeded.")
    previous = {**previous, "attempt": 2, "attempts": [{"attempt": 1, "jobRunId": "r0", "retried": True}]}
    policy = RetryPolicy.model_validate({"maxRetries": 2})
    status = dict(after_attempt(previous, ended, policy, NOW))
    assert status["phase"] == "Succeeded"
    assert [a["attempt"] for a in status["attempts"]] == [1, 2]
    assert status["attempts"][1]["retried"] is False
    assert attempt_run_ids(status | {"jobRunId": RUN_1}) == ["r0", RUN_1]


@pytest.mark.parametrize(
    ("status", "now", "action", "reason"),
    [
        (
            {"phase": "Pending", "nextAttemptAt": "2026-03-01T12:00:30Z"},
            NOW,
            RunAction.NOTHING,
            "RetryBackoff",
        ),
        ({"phase": "Pending", "nextAttemptAt": "2026-03-01T11:59:59Z"}, NOW, RunAction.CREATE, "Creating"),
        # The create was asked of OCI (then a crash): resume it whatever the time says.
        (
            {
                "phase": "Pending",
                "nextAttemptAt": "2026-03-01T12:00:30Z",
                "createAttemptedAt": "2026-03-01T12:00:00Z",
            },
            NOW,
            RunAction.CREATE,
            "Creating",
        ),
        ({"phase": "Accepted", "jobRunId": RUN_1}, NOW, RunAction.TRACK, "Tracking"),
    ],
)
def test_plan_with_a_pending_retry(status: dict[str, Any], now: Any, action: RunAction, reason: str) -> None:
    plan = plan_run(status, ACTIVE_JOB, "attrition", now)
    assert (plan.action, plan.reason) == (action, reason)


@pytest.mark.parametrize(
    ("status", "finished"),
    [
        ({"phase": "Succeeded"}, True),
        ({"phase": "Failed"}, True),
        ({"phase": "Canceled"}, True),
        ({"phase": "Deleted"}, True),
        ({"phase": "Pending", "nextAttemptAt": "2026-03-01T12:00:00Z"}, False),
        ({"phase": "Failed", "nextAttemptAt": "2026-03-01T12:00:00Z"}, False),
        ({"phase": "InProgress"}, False),
        ({}, False),
    ],
)
def test_run_finished(status: dict[str, Any], finished: bool) -> None:
    assert run_finished(status) is finished


def test_cancel_of_a_pending_retry_undoes_the_retried_mark() -> None:
    pending = {
        "phase": "Pending",
        "attempt": 1,
        "nextAttemptAt": "2026-03-01T12:00:30Z",
        "attempts": [{"attempt": 1, "jobRunId": RUN_1, "phase": "Failed", "retried": True, "reason": "x"}],
    }
    status = dict(canceled_status(pending, "canceled while waiting", 2, NOW))
    assert status["phase"] == "Canceled"
    assert status["nextAttemptAt"] is None
    assert status["attempts"][0]["retried"] is False
    assert status["attempts"][0]["reason"] == "canceled before its retry"
    assert run_finished(status)
    failed = next(c for c in status["conditions"] if c["type"] == "Failed")
    assert (failed["status"], failed["reason"]) == ("True", "Canceled")


def test_cancel_before_start() -> None:
    status = dict(canceled_status({"phase": "Pending"}, "canceled before it started", 1, NOW))
    assert status["phase"] == "Canceled" and "attempts" not in status


def test_each_attempt_has_its_own_name_tag_and_token() -> None:
    assert attempt_display_name("ns-train", 1) == "ns-train"
    assert attempt_display_name("ns-train", 3) == "ns-train-a3"
    assert len(attempt_display_name("x" * 255, 2)) == 255
    assert is_attempt({}, 1) and not is_attempt({}, 2)
    assert is_attempt({"ocids.io/attempt": "2"}, 2)
    first = model.run_retry_token("uid-1")
    assert model.run_retry_token("uid-1", 0, 1) == first  # unchanged for every run made so far
    tokens = {first, model.run_retry_token("uid-1", 0, 2), model.run_retry_token("uid-1", 0, 3)}
    assert len(tokens) == 3


def test_policy_of_is_kept_when_canceled_and_cancel_stops_the_retry() -> None:
    """A canceled run keeps its policy (its attempts are still recorded); cancel alone stops a retry,
    even for a follower that still holds the policy (a poller update racing the cancel)."""
    policy = policy_of({"retryPolicy": {"maxRetries": 2, "retryOn": {"exitCodes": [137]}}, "cancel": True})
    assert policy is not None
    assert policy_of({}) is None
    previous, ended = _ended("FAILED", "Job run artifact execution failed with exit code 137.")
    status = dict(after_attempt(previous, ended, policy, NOW, 1, canceled=True))
    assert status["phase"] == "Failed" and status["nextAttemptAt"] is None
    assert status["attempts"][0]["retried"] is False
    assert status["attempts"][0]["reason"] == "the run is canceled (spec.cancel)"


def test_canceled_attempt_after_a_retry_is_recorded_without_a_policy() -> None:
    """The final attempt is recorded even when its follower holds no policy (e.g. a run tracked
    again after a restart): earlier attempts exist, so the list must end with this one."""
    previous, ended = _ended("CANCELED", "Job run canceled.")
    previous = {**previous, "attempt": 2, "attempts": [{"attempt": 1, "jobRunId": "r0", "retried": True}]}
    status = dict(after_attempt(previous, ended, None, NOW, 1, canceled=True))
    assert [(a["attempt"], a["retried"]) for a in status["attempts"]] == [(1, True), (2, False)]
    assert status["attempts"][1]["phase"] == "Canceled"


def test_a_retry_clears_the_failed_attempts_metrics() -> None:
    """status.metrics are the current attempt's: a sweep must not judge a pending retry by the
    curve of the attempt that failed."""
    previous, ended = _ended("FAILED", "Job run artifact execution failed with exit code 137.")
    ended = ended.with_fields(metrics=[MetricStatus(name="loss", value=9.0, step=3)])
    policy = RetryPolicy.model_validate({"maxRetries": 1, "retryOn": {"exitCodes": [137]}})
    status = dict(
        after_attempt({**previous, "metrics": [{"name": "loss", "value": 9.0}]}, ended, policy, NOW, 1)
    )
    assert status["phase"] == "Pending" and status["metrics"] == []


PENDING_RETRY = {
    "phase": "Pending",
    "attempt": 1,
    "nextAttemptAt": "2026-03-01T11:59:00Z",
    "attempts": [{"attempt": 1, "jobRunId": RUN_1, "phase": "Failed", "retried": True, "reason": "x"}],
}


def test_a_retry_whose_create_is_refused_for_good_ends_the_run() -> None:
    """A Stalled create (e.g. the TrainingJob edited to a shape the run's override cannot use)
    while a retry is pending: Failed, nothing pending, finished, the attempt says why."""
    refused = ErrorOutcome(OutcomeKind.STALLED, "InvalidOverride", "spec.nodeGroups: the job is single-node")
    status = dict(error_status(refused, PENDING_RETRY, 3, "2026-03-01T12:00:00Z", TRAINING_JOB_RUN_KIND))
    assert status["phase"] == "Failed"
    assert status["nextAttemptAt"] is None
    merged = {**PENDING_RETRY, **status}
    assert run_finished(merged)
    [last] = status["attempts"]
    assert last["retried"] is False
    assert last["reason"] == "its retry could not be created: spec.nodeGroups: the job is single-node"


def test_a_transient_create_error_keeps_the_retry_pending() -> None:
    busy = ErrorOutcome(OutcomeKind.RETRY, "ServiceUnavailable", "OCI answered 503")
    status = dict(error_status(busy, PENDING_RETRY, 3, "2026-03-01T12:00:00Z", TRAINING_JOB_RUN_KIND))
    assert "nextAttemptAt" not in status and "attempts" not in status
    assert not run_finished({**PENDING_RETRY, **status})


def test_cancel_after_a_crash_that_stamped_the_next_attempt_marks_the_ended_one() -> None:
    """The create of attempt 2 was stamped (attempt=2, createAttemptedAt) before a crash: the
    attempt that ended, and is marked not retried, is still 1."""
    stamped = {**PENDING_RETRY, "attempt": 2, "createAttemptedAt": "2026-03-01T11:59:30Z"}
    status = dict(canceled_status(stamped, "canceled", 2, NOW))
    assert status["attempt"] == 1
    assert status["attempts"][0]["retried"] is False


SPEC = {"jobRef": {"name": "train"}}
RETRIED = {"jobId": "ocid1.datasciencejob.oc1..old", "attempts": [{"attempt": 1, "retried": True}]}


@pytest.mark.parametrize(
    ("run_spec", "status", "retired", "job_id"),
    [
        pytest.param(SPEC, RETRIED, ["ocid1.datasciencejob.oc1..old"], "old", id="retry pinned to its job"),
        pytest.param(SPEC, RETRIED, [], "new", id="its job gone: the current one"),
        pytest.param(
            SPEC,
            {"jobId": "ocid1.datasciencejob.oc1..old"},
            ["ocid1.datasciencejob.oc1..old"],
            "new",
            id="a first attempt: the current job",
        ),
        pytest.param(
            {**SPEC, "args": ["--lr", "0.1"]},
            RETRIED,
            ["ocid1.datasciencejob.oc1..old"],
            "new",
            id="an override is built from the current spec: the current job",
        ),
    ],
)
def test_retry_job(run_spec: dict[str, Any], status: dict[str, Any], retired: list[str], job_id: str) -> None:
    job_status = {"jobId": "ocid1.datasciencejob.oc1..new", "retiredJobIds": retired}
    spec = TrainingJobRunSpec.model_validate(run_spec)
    assert attempt_job_id(spec, status, job_status) == f"ocid1.datasciencejob.oc1..{job_id}"
