"""TrainingJobRun status as the operator writes it: an OCI job run as OCI reports it -> status. Pure."""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from typing import Any

from ..api import NodeGroupStatus, RunLogs, TrainingJobRunStatus
from . import conditions as cond
from . import links
from .log_records import one_line, shown_record
from .phases import TERMINAL_RUN_PHASES, WARNING_RUN_PHASES, RunPhase, RunState
from .run_plan import LOST_RUN_REASON, RunPlan, RunView
from .status_patch import StatusPatch

EXIT_CODE = re.compile(r"exit code (\d+)", re.IGNORECASE)


def exit_code(state: str, details: str | None) -> int | None:
    match = EXIT_CODE.search(details or "")
    if match:
        return int(match.group(1))
    return 0 if state == RunState.SUCCEEDED else None


def _rfc3339(value: datetime.datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    return value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def describe(view: RunView) -> str:
    """Where the OCI run is now, in OCI's words: the message of its conditions and phase Events."""
    if view.state is RunState.DELETED:
        return f"OCI job run {view.id} was deleted outside Kubernetes"
    message = f"OCI job run {view.id} is {view.lifecycle_state}"
    return f"{message}: {view.lifecycle_details}" if view.lifecycle_details else message


def run_conditions(phase: RunPhase, message: str, unknown_state: str | None = None) -> list[cond.Cond]:
    if unknown_state:
        return cond.health_conditions(
            cond.Health.PROGRESSING,
            "UnknownLifecycleState",
            f"OCI reported a lifecycle state this operator does not know ({unknown_state}); still watching",
        )
    if phase is RunPhase.SUCCEEDED:
        return [
            *cond.health_conditions(cond.Health.READY, "Succeeded", message),
            cond.Cond(cond.SUCCEEDED, True, "Succeeded", message),
            cond.Cond(cond.FAILED, False, "Succeeded", message),
        ]
    if phase in TERMINAL_RUN_PHASES:
        reason = "DeletedInOCI" if phase is RunPhase.DELETED else phase.value
        return [
            *cond.health_conditions(cond.Health.STALLED, reason, message),
            cond.Cond(cond.SUCCEEDED, False, reason, message),
            cond.Cond(cond.FAILED, True, reason, message),
        ]
    if phase is RunPhase.NEEDS_ATTENTION:
        return cond.health_conditions(cond.Health.STALLED, "NeedsAttention", message)
    # Pending, Accepted, InProgress, Canceling: the phase itself is the reason.
    return cond.health_conditions(cond.Health.PROGRESSING, phase.value, message)


def run_status(
    view: RunView,
    region: str,
    previous: Mapping[str, Any] | None,
    generation: int | None,
    now: str,
) -> StatusPatch[TrainingJobRunStatus]:
    """The status fields for a run as OCI reports it (a merge patch: unknown fields are left out)."""
    before = previous or {}
    phase = view.phase
    unknown = None
    if phase is None:
        # UNKNOWN_ENUM_VALUE (a state newer than the SDK): keep the last known phase.
        unknown = view.lifecycle_state
        phase = RunPhase(before.get("phase") or RunPhase.ACCEPTED)
    fields: dict[str, Any] = {
        "phase": phase.value,
        "job_run_id": view.id,
        "lifecycle_details": view.lifecycle_details,
        "console_url": links.job_run_console_url(view.id, region),
    }
    if view.job_id:
        fields["job_id"] = view.job_id
    code = exit_code(view.lifecycle_state, view.lifecycle_details)
    if code is not None:
        fields["exit_code"] = code
    for key, value in (
        ("time_accepted", view.time_accepted),
        ("time_started", view.time_started),
        ("time_finished", view.time_finished),
    ):
        if value is not None:
            fields[key] = _rfc3339(value)
    shown_for = shown_duration_seconds(view)
    if shown_for is not None:
        fields["duration"] = human_duration(shown_for)
    if view.log_group_id:
        fields["logs"] = run_logs(view, region)
    if view.node_groups:  # a multi-node run read with a GET (summaries carry none)
        fields["node_groups"] = [
            NodeGroupStatus(
                name=name, lifecycle_state=state, **({"lifecycle_details": details} if details else {})
            )
            for name, state, details in view.node_groups
        ]
    if generation is not None:
        fields["observed_generation"] = generation
    fields["conditions"] = cond.merge_conditions(
        before.get("conditions"), run_conditions(phase, describe(view), unknown), generation, now
    )
    return StatusPatch(TrainingJobRunStatus(**fields))


def run_logs(view: RunView, region: str) -> RunLogs:
    """Where the run's output is: its log search once the log is known, else its log group."""
    assert view.log_group_id is not None
    if not view.log_id:
        return RunLogs(log_group_id=view.log_group_id, url=links.log_group_url(view.log_group_id, region))
    if not view.compartment_id:
        return RunLogs(log_group_id=view.log_group_id, log_id=view.log_id)
    url = links.log_search_url(view.compartment_id, view.log_group_id, view.log_id, view.id, region)
    return RunLogs(log_group_id=view.log_group_id, log_id=view.log_id, url=url)


def pending_status(
    plan: RunPlan, previous: Mapping[str, Any] | None, generation: int | None, now: str
) -> StatusPatch[TrainingJobRunStatus]:
    conditions = cond.with_health(
        previous, cond.Health.PROGRESSING, plan.reason, plan.message, generation, now
    )
    return StatusPatch(
        TrainingJobRunStatus(
            phase=RunPhase.PENDING.value,
            message=plan.message,
            observed_generation=generation,
            conditions=conditions,  # type: ignore[arg-type]
        )
    )


def lost_run_status(
    message: str, previous: Mapping[str, Any] | None, generation: int | None, now: str
) -> StatusPatch[TrainingJobRunStatus]:
    """Failed for good: a create was attempted and its run is gone (see run_plan.plan_create)."""
    return failed_status(LOST_RUN_REASON, message, previous, generation, now)


def failed_status(
    reason: str, message: str, previous: Mapping[str, Any] | None, generation: int | None, now: str
) -> StatusPatch[TrainingJobRunStatus]:
    """Failed for good, with nothing (more) in OCI: lost, or refused by a gate (core/admission.py)."""
    before = previous or {}
    terminal = [
        *cond.health_conditions(cond.Health.STALLED, reason, message),
        cond.Cond(cond.SUCCEEDED, False, reason, message),
        cond.Cond(cond.FAILED, True, reason, message),
    ]
    return StatusPatch(
        TrainingJobRunStatus(
            phase=RunPhase.FAILED.value,
            message=message,
            observed_generation=generation,
            conditions=cond.merge_conditions(before.get("conditions"), terminal, generation, now),  # type: ignore[arg-type]
        )
    )


def duration_seconds(view: RunView) -> float | None:
    if view.time_started and view.time_finished:
        return max(0.0, (view.time_finished - view.time_started).total_seconds())
    return None


def shown_duration_seconds(view: RunView) -> int | None:
    """FINISHED minus STARTED as status shows them (whole seconds), so DURATION never disagrees
    with the two columns beside it: 10:00:00.9 to 10:00:01.2 reads 1s, not a rounded 0s."""
    if view.time_started and view.time_finished:
        started, finished = (_whole_seconds(t) for t in (view.time_started, view.time_finished))
        return max(0, int((finished - started).total_seconds()))
    return None


def _whole_seconds(value: datetime.datetime) -> datetime.datetime:
    return value.replace(microsecond=0, tzinfo=value.tzinfo or datetime.UTC)


def human_duration(seconds: float) -> str:
    """kubectl-style: 45s, 4m12s, 2h5m (seconds dropped past an hour, as nobody reads them there)."""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def phase_event(old_phase: str | None, view: RunView) -> tuple[str, str, str] | None:
    """(type, reason, message) of the Event for a phase change, or None when the phase is unchanged."""
    new_phase = view.phase
    if new_phase is None or new_phase == old_phase:
        return None
    kind = "Warning" if new_phase in WARNING_RUN_PHASES else "Normal"
    return kind, new_phase.value, describe(view)


def log_tail(lines: list[str], max_bytes: int) -> str:
    """status.logTail: the lines (oldest first) as text, each one line and without URL secrets,
    the newest kept within `max_bytes` of UTF-8: older lines are dropped whole; the newest alone,
    if longer than the bound, is cut to fit (at a character boundary) rather than lost."""
    kept: list[str] = []
    used = 0
    for line in reversed(lines):
        shown = one_line(shown_record(line.rstrip("\n"), max_bytes))
        size = len(shown.encode("utf-8")) + 1
        if used + size > max_bytes:
            if not kept and max_bytes > 1:
                # The newest line says most (the error that ended the run): keep its start.
                kept.append(shown.encode("utf-8")[: max_bytes - 1].decode("utf-8", errors="ignore"))
            break
        kept.append(shown)
        used += size
    return "".join(f"{line}\n" for line in reversed(kept))
