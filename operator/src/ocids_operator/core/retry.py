"""Retries and cancel of a TrainingJobRun: whether an ended attempt is retried, and the status that
says so. Pure: no I/O, no kopf.

An attempt is one OCI job run. When one ends FAILED and spec.retryPolicy allows it, the poller's
terminal write becomes phase Pending (reason RetryBackoff) with the attempt recorded and
`nextAttemptAt` set; when that time comes the run's handler creates the next OCI run (a new
display name `-a<n>`, tag `ocids.io/attempt`, a retry token of its own). Succeeded, Canceled and
Deleted attempts are never retried, nor anything once spec.cancel is set.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import re
from collections.abc import Mapping
from typing import Any

from ..api import TrainingJobRunStatus
from ..api.run_policies import RetryPolicy, RunAttempt
from . import conditions as cond
from .phases import RunPhase
from .retry_end import retry_ended_fields
from .run_status import run_conditions
from .status_patch import StatusPatch

TAG_ATTEMPT = "ocids.io/attempt"
RETRY_BACKOFF_REASON = "RetryBackoff"
CANCELED_REASON = "Canceled"
# What OCI says when a run outlived maximumRuntimeInMinutes (the emulator's wording: "Job run timed
# out: the artifact ran longer than maximumRuntimeInMinutes ..."; OCI's own is undocumented). Only
# the maximum-runtime wording counts: "timed out while attaching the VNIC" is an outage, not a timeout.
TIMEOUT_DETAILS = re.compile(r"maximum ?runtime|max(imum)? run ?time", re.IGNORECASE)
# A run OCI could not start because of how it is set up (an artifact, image or conda environment
# it cannot use, a policy missing): running it again fails the same way, so it is never retried.
CONFIGURATION_DETAILS = re.compile(
    r"bootstrap failed|not authorized|could not (pull|download)|container image|conda", re.IGNORECASE
)


class FailureKind(enum.StrEnum):
    EXIT_CODE = "ExitCode"  # the artifact ended with a non-zero exit code
    TIMEOUT = "Timeout"  # it ran longer than maximumRuntimeInMinutes
    CONFIGURATION = "Configuration"  # it could not start as set up (artifact, image, conda, policy)
    INFRASTRUCTURE = "Infrastructure"  # OCI failed it for reasons of its own (no exit code)


def failure_kind(details: str | None, code: int | None) -> FailureKind:
    """Why an attempt ended FAILED: a timeout first (OCI may report the killed process's code too)."""
    if TIMEOUT_DETAILS.search(details or ""):
        return FailureKind.TIMEOUT
    if code is not None:
        return FailureKind.EXIT_CODE
    if CONFIGURATION_DETAILS.search(details or ""):
        return FailureKind.CONFIGURATION
    return FailureKind.INFRASTRUCTURE


@dataclasses.dataclass(frozen=True)
class RetryDecision:
    retry: bool
    reason: str  # why (not) retried, for status.attempts[].reason and the message
    delay_seconds: int = 0


def backoff_seconds(policy: RetryPolicy, retry_number: int) -> int:
    """Wait before retry `retry_number` (1 for the first): initial x factor^(n-1), at most max."""
    backoff = policy.backoff
    wait = backoff.initial_seconds * backoff.factor ** max(retry_number - 1, 0)
    return int(min(wait, backoff.max_seconds))


def decide(
    policy: RetryPolicy | None,
    phase: str | None,
    details: str | None,
    code: int | None,
    attempt: int,
    canceled: bool = False,
) -> RetryDecision:
    """Whether attempt `attempt` (1 = the first run), which ended in `phase`, is followed by another."""
    if phase != RunPhase.FAILED:
        return RetryDecision(False, f"ended {phase}")
    if canceled:
        return RetryDecision(False, "the run is canceled (spec.cancel)")
    if policy is None:
        return RetryDecision(False, "no retryPolicy")
    if policy.max_retries == 0:
        return RetryDecision(False, "maxRetries is 0")
    kind = failure_kind(details, code)
    if kind is FailureKind.CONFIGURATION:
        return RetryDecision(False, "a configuration failure is never retried (it would fail the same way)")
    if kind is FailureKind.TIMEOUT and not policy.retry_on.timeouts:
        return RetryDecision(False, "a timeout is not retried (retryOn.timeouts is false)")
    if kind is FailureKind.INFRASTRUCTURE and not policy.retry_on.infrastructure_failures:
        return RetryDecision(
            False, "an infrastructure failure is not retried (retryOn.infrastructureFailures is false)"
        )
    if kind is FailureKind.EXIT_CODE and code not in policy.retry_on.exit_codes:
        return RetryDecision(False, f"exit code {code} is not retryable (retryOn.exitCodes)")
    if attempt > policy.max_retries:
        return RetryDecision(False, f"maxRetries ({policy.max_retries}) reached")
    what = {
        FailureKind.TIMEOUT: "a timeout",
        FailureKind.INFRASTRUCTURE: "an infrastructure failure",
        FailureKind.EXIT_CODE: f"exit code {code}",
    }[kind]
    return RetryDecision(
        True,
        f"{what} is retryable: retry {attempt} of {policy.max_retries}",
        backoff_seconds(policy, attempt),
    )


def policy_of(spec: Mapping[str, Any] | None) -> RetryPolicy | None:
    """The run's retryPolicy (raw spec, camelCase), or None when unset. Kept once spec.cancel is set
    (its attempts are still recorded); `decide(canceled=True)` is what stops a retry."""
    raw = (spec or {}).get("retryPolicy")
    return RetryPolicy.model_validate(raw) if raw else None


def attempt_number(status: Mapping[str, Any] | None) -> int:
    return int((status or {}).get("attempt") or 1)


def attempt_display_name(base: str, attempt: int) -> str:
    """The OCI run's display name of attempt `attempt`: the first keeps the run's own name."""
    if attempt <= 1:
        return base
    suffix = f"-a{attempt}"
    return base[: 255 - len(suffix)] + suffix


def is_attempt(tags: Mapping[str, str], attempt: int) -> bool:
    """Whether an OCI run's tags say it is this attempt (runs of a first attempt carry no tag)."""
    return str(tags.get(TAG_ATTEMPT) or "1") == str(attempt)


def _ended_attempt(
    previous: Mapping[str, Any], ended: Mapping[str, Any], retried: bool, reason: str
) -> RunAttempt:
    merged = {**previous, **ended}
    fields: dict[str, Any] = {
        "attempt": attempt_number(previous),
        "job_run_id": merged.get("jobRunId"),
        "phase": merged.get("phase"),
        "exit_code": merged.get("exitCode"),
        "lifecycle_details": merged.get("lifecycleDetails"),
        "time_started": merged.get("timeStarted"),
        "time_finished": merged.get("timeFinished"),
        "retried": retried,
        "reason": reason,
    }
    return RunAttempt(**{key: value for key, value in fields.items() if value is not None})


def _attempts_with(previous: Mapping[str, Any], attempt: RunAttempt) -> list[RunAttempt]:
    earlier = [
        RunAttempt.model_validate(item)
        for item in previous.get("attempts") or []
        if int(item.get("attempt") or 0) != attempt.attempt
    ]
    return [*earlier, attempt]


def after_attempt(
    previous: Mapping[str, Any],
    ended: StatusPatch[TrainingJobRunStatus],
    policy: RetryPolicy | None,
    now: datetime.datetime,
    generation: int | None = None,
    canceled: bool = False,
) -> StatusPatch[TrainingJobRunStatus]:
    """The write for a run whose OCI run just reached `ended`'s phase.

    Not terminal, or a run that never had a retryPolicy nor earlier attempts: `ended` as it is.
    Terminal: the attempt is recorded in status.attempts; a retryable failure becomes
    Pending/RetryBackoff with nextAttemptAt, and the fields of the ended OCI run are cleared so the
    next one's status starts clean. A canceled run (spec.cancel) is never retried, whatever the
    policy of whoever follows it.
    """
    phase = ended.get("phase")
    if phase not in {p.value for p in _ENDED}:
        return ended
    if policy is None and not previous.get("attempts"):
        return ended
    attempt = attempt_number(previous)
    details = ended.get("lifecycleDetails", previous.get("lifecycleDetails"))
    code = ended.get("exitCode")
    decision = decide(policy, phase, details, code, attempt, canceled=canceled)
    record = _ended_attempt(previous, ended, decision.retry, decision.reason)
    attempts = _attempts_with(previous, record)
    if not decision.retry:
        # Finished for good: no retry may stay pending (a crash may have left one set).
        final = ended.with_fields(attempts=attempts, attempt=attempt, next_attempt_at=None)
        if phase == RunPhase.FAILED:
            final = final.with_fields(
                message=f"attempt {attempt} failed and is not retried: {decision.reason}"
            )
        return final
    at = now + datetime.timedelta(seconds=decision.delay_seconds)
    message = (
        f"attempt {attempt} (OCI job run {record.job_run_id}) failed: {details or 'no details'}; "
        f"{decision.reason}, at {at.strftime('%Y-%m-%dT%H:%M:%SZ')}"
    )
    conditions = cond.merge_conditions(
        previous.get("conditions"),
        cond.health_conditions(cond.Health.PROGRESSING, RETRY_BACKOFF_REASON, message),
        generation,
        now.strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    # Only Ready/Reconciling/Stalled: the ended attempt's Succeeded/Failed must not stay behind.
    conditions = [c for c in conditions if c.get("type") not in (cond.SUCCEEDED, cond.FAILED)]
    pending = StatusPatch(
        TrainingJobRunStatus(
            phase=RunPhase.PENDING.value,
            message=message,
            attempt=attempt,
            attempts=attempts,
            next_attempt_at=at,
            conditions=conditions,  # type: ignore[arg-type]
            observed_generation=generation,
            # The next attempt is a new OCI run: its create is attempted afresh (own token), and
            # nothing of the ended run is shown as the current one's.
            job_run_id=None,
            create_attempted_at=None,
            create_refusals=None,
            cancel_requested_at=None,
            lifecycle_details=None,
            exit_code=None,
            time_accepted=None,
            time_started=None,
            time_finished=None,
            duration=None,
            logs=None,
            log_tail=None,
            outputs=None,
            node_groups=[],
            # status.metrics are the current attempt's: a sweep's early stopping must not judge the
            # retry by the failed attempt's curve (its last values stay in its log).
            metrics=[],
        )
    )
    return pending


def retry_event(status: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """The Event of a write that set a retry up (in place of the ended attempt's Failed)."""
    if status.get("phase") == RunPhase.PENDING and status.get("nextAttemptAt"):
        return "Warning", RETRY_BACKOFF_REASON, str(status.get("message") or "")
    return None


_ENDED = (RunPhase.SUCCEEDED, RunPhase.FAILED, RunPhase.CANCELED, RunPhase.DELETED)


def canceled_status(
    previous: Mapping[str, Any], message: str, generation: int | None, now: datetime.datetime
) -> StatusPatch[TrainingJobRunStatus]:
    """Canceled with no OCI run left to follow: before it was created, or while a retry waited."""
    fields: dict[str, Any] = {
        "phase": RunPhase.CANCELED.value,
        "message": message,
        "next_attempt_at": None,
        "observed_generation": generation,
        "conditions": cond.merge_conditions(
            previous.get("conditions"),
            run_conditions(RunPhase.CANCELED, message),
            generation,
            now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        ),
    }
    fields.update(retry_ended_fields(previous, "canceled before its retry"))
    return StatusPatch(TrainingJobRunStatus(**fields))


def attempt_run_ids(status: Mapping[str, Any] | None) -> list[str]:
    """Every OCI run this TrainingJobRun made that status knows of: each ended attempt's and the
    current one, each once, oldest first."""
    ids: list[str] = []
    for item in (status or {}).get("attempts") or []:
        run_id = item.get("jobRunId")
        if run_id and run_id not in ids:
            ids.append(run_id)
    current = (status or {}).get("jobRunId")
    if current and current not in ids:
        ids.append(current)
    return ids
