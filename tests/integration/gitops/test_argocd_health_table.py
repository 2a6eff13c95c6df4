"""The Argo CD health scripts on statuses the operator writes, next to kstatus on the same objects.

The live test covers what the operator produces end to end; these rows pin the edge cases (no status
yet, Canceled, NeedsAttention, Deleting, ...) and that the argocd-cm snippet carries the scripts verbatim.
"""

from __future__ import annotations

import datetime
from typing import Any

import pytest
import yaml
from gitops_health import ARGOCD_DIR, SCRIPTS, argocd_health, kstatus
from ocids_operator.api import TrainingJobRunStatus
from ocids_operator.api.run_policies import RetryPolicy
from ocids_operator.core import conditions as cond
from ocids_operator.core.budget_plan import Budget, Problem, Usage, budget_status, window_of
from ocids_operator.core.errors import ErrorOutcome, OutcomeKind
from ocids_operator.core.kinds import TRAINING_JOB_SCHEDULE_KIND, TRAINING_JOB_SWEEP_KIND
from ocids_operator.core.phases import RunPhase
from ocids_operator.core.retry import after_attempt, canceled_status
from ocids_operator.core.run_status import run_conditions
from ocids_operator.core.schedule_plan import SchedulePlan
from ocids_operator.core.schedule_status import schedule_status
from ocids_operator.core.status import error_status
from ocids_operator.core.status_patch import StatusPatch
from ocids_operator.core.sweep_plan import (
    Counts,
    SweepPhase,
    SweepPlan,
    SweepReason,
    sweep_status,
    waiting_status,
)

pytestmark = pytest.mark.integration
NOW = "2026-01-01T00:00:00Z"


def obj(kind: str, status: dict[str, Any] | None, generation: int = 1, **meta: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "apiVersion": "ocids.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": "x", "namespace": "ml", "generation": generation, **meta},
    }
    if status is not None:
        doc["status"] = status
    return doc


def job(
    health: cond.Health, reason: str, message: str, phase: str, observed: int | None = 1
) -> dict[str, Any]:
    conditions = cond.with_health(None, health, reason, message, observed, NOW)
    return {"phase": phase, "observedGeneration": observed, "conditions": conditions}


def run(phase: str, message: str, exit_code: int | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {
        "phase": phase,
        "observedGeneration": 1,
        "conditions": cond.merge_conditions(None, run_conditions(RunPhase(phase), message), 1, NOW),
    }
    if exit_code is not None:
        status["exitCode"] = exit_code
    return status


def retry_pending() -> dict[str, Any]:
    """What the poller writes when attempt 1 ended with a retryable exit code (H4's retry write)."""
    failed = {
        **run("Failed", "OCI job run r is FAILED: exit code 137", 137),
        "jobRunId": "r",
        "lifecycleDetails": "Job run failed: exit code 137",
    }
    ended = StatusPatch(TrainingJobRunStatus.model_validate(failed))
    policy = RetryPolicy.model_validate({"maxRetries": 2, "retryOn": {"exitCodes": [137]}})
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    written = after_attempt(failed, ended, policy, now, generation=1)
    # A merge patch's nulls remove fields: the API server holds the rest.
    return {key: value for key, value in written.items() if value is not None}


def canceled_before_start() -> dict[str, Any]:
    """spec.cancel on a run whose OCI run was never created (generation 2: cancel is a spec edit)."""
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    pending = run("Pending", "waiting for TrainingJob t")
    return dict(canceled_status(pending, "canceled before it started (spec.cancel)", 2, now))


def sweep(phase: SweepPhase, reason: SweepReason, message: str, active: int = 0) -> dict[str, Any]:
    counts = Counts(active=active, succeeded=4, failed=1, canceled=0, early_stopped=1)
    plan = SweepPlan(
        create=[],
        cancel=[],
        stops=[],
        phase=phase,
        reason=reason,
        message=message,
        counts=counts,
        leaderboard=[],
        next_index=6,
        outcomes=[],
    )
    return dict(sweep_status(plan, total=6, seed=None, created=0, previous={}, generation=1, now=NOW))


def refused(kind: Any, reason: str, message: str) -> dict[str, Any]:
    """What a permanent error (the operator refusing the spec) leaves as status."""
    outcome = ErrorOutcome(OutcomeKind.STALLED, reason, message)
    return dict(error_status(outcome, None, 1, NOW, kind))


def retrying(kind: Any, reason: str, message: str) -> dict[str, Any]:
    return dict(error_status(ErrorOutcome(OutcomeKind.RETRY, reason, message), None, 1, NOW, kind))


def schedule(suspend: bool) -> dict[str, Any]:
    next_time = datetime.datetime(2026, 1, 1, 0, 5, tzinfo=datetime.UTC)
    return dict(
        schedule_status(
            plan=SchedulePlan(next_schedule_time=None if suspend else next_time),
            suspend=suspend,
            deadline=None,
            previous=None,
            active=[],
            succeeded_at=[],
            generation=1,
            now=NOW,
        )
    )


ROWS = [
    # (id, object, Argo CD status, Argo CD message, kstatus status)
    (
        "job-no-status",
        obj("TrainingJob", None),
        "Progressing",
        "Waiting for the operator to report status",
        "Current",
    ),
    (
        "job-creating",
        obj(
            "TrainingJob",
            job(cond.Health.PROGRESSING, "Created", "OCI job j revision 1 is CREATING", "Creating"),
        ),
        "Progressing",
        "OCI job j revision 1 is CREATING",
        "InProgress",
    ),
    (
        "job-active",
        obj("TrainingJob", job(cond.Health.READY, "Created", "OCI job j revision 1 is ACTIVE", "Active")),
        "Healthy",
        "OCI job j revision 1 is ACTIVE",
        "Current",
    ),
    (
        "job-edit-not-observed",
        obj("TrainingJob", job(cond.Health.READY, "Created", "ACTIVE", "Active"), generation=3),
        "Progressing",
        "Waiting for the operator to apply generation 3 (observed 1)",
        "InProgress",
    ),
    (
        "job-stalled",
        obj("TrainingJob", job(cond.Health.STALLED, "ArtifactNotFound", "bucket b does not exist", "Failed")),
        "Degraded",
        "ArtifactNotFound: bucket b does not exist",
        "Failed",
    ),
    (
        "job-retrying",
        obj("TrainingJob", job(cond.Health.PROGRESSING, "Throttled", "OCI said 429; retrying", "Pending")),
        "Progressing",
        "OCI said 429; retrying",
        "InProgress",
    ),
    (
        "job-deleting-retain",
        obj(
            "TrainingJob", job(cond.Health.PROGRESSING, "Deleting", "leaving OCI job j (Retain)", "Deleting")
        ),
        "Progressing",
        "leaving OCI job j (Retain)",
        "InProgress",
    ),
    (
        "run-no-status",
        obj("TrainingJobRun", None),
        "Progressing",
        "Waiting for the operator to report status",
        "Current",
    ),
    (
        "run-pending",
        obj("TrainingJobRun", run("Pending", "waiting for TrainingJob t (Creating) to be Active")),
        "Progressing",
        "Pending: waiting for TrainingJob t (Creating) to be Active",
        "InProgress",
    ),
    (
        "run-succeeded",
        obj("TrainingJobRun", run("Succeeded", "OCI job run r is SUCCEEDED", 0)),
        "Healthy",
        "Succeeded: OCI job run r is SUCCEEDED",
        "Current",
    ),
    (
        "run-failed",
        obj("TrainingJobRun", run("Failed", "OCI job run r is FAILED: exit code 3", 3)),
        "Degraded",
        "Failed (exit code 3): OCI job run r is FAILED: exit code 3",
        "Failed",
    ),
    (
        "run-canceled",
        obj("TrainingJobRun", run("Canceled", "OCI job run r is CANCELED")),
        "Degraded",
        "Canceled: OCI job run r is CANCELED",
        "Failed",
    ),
    (
        "run-needs-attention",
        obj("TrainingJobRun", run("NeedsAttention", "OCI job run r is NEEDS_ATTENTION")),
        "Degraded",
        "NeedsAttention: OCI job run r is NEEDS_ATTENTION",
        "Failed",
    ),
    (
        "run-canceling",
        obj("TrainingJobRun", run("Canceling", "OCI job run r is CANCELING")),
        "Progressing",
        "Canceling: OCI job run r is CANCELING",
        "InProgress",
    ),
    (
        # Attempt 1 failed and a retry waits: not a failure yet, only the last attempt's end counts.
        "run-retry-backoff",
        obj("TrainingJobRun", retry_pending()),
        "Progressing",
        "Pending: attempt 1 (OCI job run r) failed: Job run failed: exit code 137; "
        "exit code 137 is retryable: retry 1 of 2, at 2026-01-01T00:00:30Z",
        "InProgress",
    ),
    (
        # Canceled by spec.cancel before its OCI run existed: final, Degraded as any canceled run.
        "run-canceled-by-spec-cancel",
        obj("TrainingJobRun", canceled_before_start(), generation=2),
        "Degraded",
        "Canceled: canceled before it started (spec.cancel)",
        "Failed",
    ),
    (
        "sweep-no-status",
        obj("TrainingJobSweep", None),
        "Progressing",
        "Waiting for the operator to report status",
        "Current",
    ),
    (
        "sweep-waiting-for-job",
        obj(
            "TrainingJobSweep",
            dict(
                waiting_status(
                    SweepReason.WAITING_FOR_JOB, "waiting for TrainingJob t to be Ready", {}, 1, NOW
                )
            ),
        ),
        "Progressing",
        "Pending: waiting for TrainingJob t to be Ready",
        "InProgress",
    ),
    (
        # Its TrainingJob does not exist: nothing moves until it does.
        "sweep-job-not-found",
        obj(
            "TrainingJobSweep",
            dict(
                waiting_status(
                    SweepReason.JOB_NOT_FOUND,
                    "TrainingJob ml/t (spec.jobRef.name) does not exist",
                    {},
                    1,
                    NOW,
                    stalled=True,
                )
            ),
        ),
        "Degraded",
        "Pending: TrainingJob ml/t (spec.jobRef.name) does not exist",
        "Failed",
    ),
    (
        "sweep-running",
        obj(
            "TrainingJobSweep",
            sweep(SweepPhase.RUNNING, SweepReason.TRIALS_RUNNING, "4 of 6 trials finished, 2 running", 2),
        ),
        "Progressing",
        "Running: 4 of 6 trials finished, 2 running",
        "InProgress",
    ),
    (
        "sweep-succeeded",
        obj(
            "TrainingJobSweep",
            sweep(SweepPhase.SUCCEEDED, SweepReason.COMPLETED, "all 6 trials finished; best s-002"),
        ),
        "Healthy",
        "Succeeded: all 6 trials finished; best s-002",
        "Current",
    ),
    (
        # Failed, but trials are still being canceled: not settled yet.
        "sweep-failed-canceling-trials",
        obj(
            "TrainingJobSweep",
            sweep(SweepPhase.FAILED, SweepReason.TOO_MANY_FAILURES, "3 trials failed; canceling", 2),
        ),
        "Progressing",
        "Failed: 3 trials failed; canceling",
        "InProgress",
    ),
    (
        "sweep-failed",
        obj(
            "TrainingJobSweep",
            sweep(SweepPhase.FAILED, SweepReason.TOO_MANY_FAILURES, "3 trials failed: no new trials"),
        ),
        "Degraded",
        "Failed: 3 trials failed: no new trials",
        "Failed",
    ),
    (
        "sweep-refused",
        obj(
            "TrainingJobSweep",
            refused(TRAINING_JOB_SWEEP_KIND, "SearchSpaceTooLarge", "the grid has 4096 trials"),
        ),
        "Degraded",
        "Failed: the grid has 4096 trials",
        "Failed",
    ),
    (
        "sweep-edit-not-observed",
        obj(
            "TrainingJobSweep",
            sweep(SweepPhase.RUNNING, SweepReason.TRIALS_RUNNING, "1 of 6 trials finished, 1 running", 1),
            generation=2,
        ),
        "Progressing",
        "Waiting for the operator to apply generation 2 (observed 1)",
        "InProgress",
    ),
    (
        "schedule-no-status",
        obj("TrainingJobSchedule", None),
        "Progressing",
        "Waiting for the operator to report status",
        "Current",
    ),
    (
        "schedule-active",
        obj("TrainingJobSchedule", schedule(suspend=False)),
        "Healthy",
        "Active: next run at 2026-01-01T00:05:00Z",
        "Current",
    ),
    (
        # As Argo CD reports a suspended CronJob; kstatus has no such state.
        "schedule-suspended",
        obj("TrainingJobSchedule", schedule(suspend=True)),
        "Suspended",
        "Suspended: suspended (spec.suspend): no new runs",
        "Current",
    ),
    (
        "schedule-bad-cron",
        obj(
            "TrainingJobSchedule",
            refused(TRAINING_JOB_SCHEDULE_KIND, "InvalidSchedule", "spec.schedule: 61 is not a minute"),
        ),
        "Degraded",
        "InvalidSchedule: spec.schedule: 61 is not a minute",
        "Failed",
    ),
    (
        "schedule-retrying",
        obj(
            "TrainingJobSchedule",
            retrying(TRAINING_JOB_SCHEDULE_KIND, "Throttled", "OCI said 429; retrying"),
        ),
        "Progressing",
        "Pending: OCI said 429; retrying",
        "InProgress",
    ),
    (
        "schedule-edit-not-observed",
        obj("TrainingJobSchedule", schedule(suspend=False), generation=4),
        "Progressing",
        "Waiting for the operator to apply generation 4 (observed 1)",
        "InProgress",
    ),
]


def budget(spent: float, committed: float, held: list[str], problem: Problem | None = None) -> dict[str, Any]:
    spec = {"limit": {"amount": 50, "currency": "USD"}}
    window = window_of("Monthly", datetime.datetime(2026, 1, 15, tzinfo=datetime.UTC))
    return dict(
        budget_status(
            budget=Budget.of("team", spec),
            window=window,
            used=Usage(spent, committed, 2, ()),
            held=held,
            problem=problem,
            previous=None,
            generation=1,
            now=NOW,
        )
    )


BUDGET_ROWS = [
    (
        "budget-no-status",
        obj("TrainingBudget", None),
        "Progressing",
        "Waiting for the operator to report status",
        "Current",
    ),
    (
        "budget-active",
        obj("TrainingBudget", budget(10, 6, [])),
        "Healthy",
        "Active: spent 10.00 + committed 6.00 of 50.00 USD (Monthly, from 2026-01-01)",
        "Current",
    ),
    (
        # Holding runs is the budget doing its job: Healthy, the figures and the held runs said.
        "budget-exceeded-holding",
        obj("TrainingBudget", budget(44, 6, ["r3"])),
        "Healthy",
        "Exceeded: limit reached: spent 44.00 + committed 6.00 of 50.00 USD (Monthly, from 2026-01-01); "
        "1 run held",
        "Current",
    ),
    (
        "budget-bad-currency",
        obj(
            "TrainingBudget",
            budget(0, 0, [], Problem("CurrencyMismatch", "spec.limit.currency: EUR is not USD")),
        ),
        "Degraded",
        "CurrencyMismatch: spec.limit.currency: EUR is not USD",
        "Failed",
    ),
    (
        "budget-edit-not-observed",
        obj("TrainingBudget", budget(10, 6, []), generation=2),
        "Progressing",
        "Waiting for the operator to apply generation 2 (observed 1)",
        "InProgress",
    ),
]
ROWS += BUDGET_ROWS


@pytest.mark.parametrize(("case", "doc", "argo", "message", "flux"), ROWS, ids=[r[0] for r in ROWS])
def test_health_rows(case: str, doc: dict[str, Any], argo: str, message: str, flux: str) -> None:
    assert argocd_health(doc) == {"status": argo, "message": message}
    (computed,) = kstatus(doc)
    assert computed["status"] == flux, computed


def test_kstatus_calls_a_deleted_object_terminating_where_argo_cd_decides_itself() -> None:
    # Argo CD reports an object with a deletionTimestamp as Progressing before any script runs.
    doc = obj("TrainingJob", job(cond.Health.PROGRESSING, "Deleting", "deleting", "Deleting"))
    doc["metadata"]["deletionTimestamp"] = NOW
    assert kstatus(doc)[0]["status"] == "Terminating"
    assert argocd_health(doc)["status"] == "Progressing"


def test_argocd_cm_snippet_carries_each_script_verbatim() -> None:
    config_map = yaml.safe_load((ARGOCD_DIR / "argocd-cm.yaml").read_text())
    assert config_map["metadata"]["name"] == "argocd-cm"
    data = config_map["data"]
    assert sorted(data) == sorted(f"resource.customizations.health.ocids.io_{kind}" for kind in SCRIPTS)
    for kind, name in SCRIPTS.items():
        script = data[f"resource.customizations.health.ocids.io_{kind}"]
        assert script == (ARGOCD_DIR / name).read_text()
        # What Argo CD runs is the ConfigMap's copy: it must judge like the file does.
        failed = obj(kind, job(cond.Health.STALLED, "Failed", "boom", "Failed"))
        assert argocd_health(failed, script)["status"] == "Degraded"
