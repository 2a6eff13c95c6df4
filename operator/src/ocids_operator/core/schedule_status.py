"""A TrainingJobSchedule's status and Events after a step of its plan. Pure."""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any

from ..api import TrainingJobScheduleStatus
from . import conditions as cond
from .schedule_plan import SchedulePlan, missed_message, stamp
from .status_patch import StatusPatch
from .times import parse_time

Event = tuple[str, str, str]
CARRIED_TIMES = (
    ("last_schedule_time", "lastScheduleTime"),
    ("last_missed_time", "lastMissedTime"),
    ("last_skipped_time", "lastSkippedTime"),
)


def schedule_status(
    *,
    plan: SchedulePlan,
    suspend: bool,
    deadline: int | None,
    previous: Mapping[str, Any] | None,
    active: Sequence[str],
    succeeded_at: Sequence[datetime.datetime],
    generation: int | None,
    now: str,
) -> StatusPatch[TrainingJobScheduleStatus]:
    """`active`: the unfinished runs after this step; `succeeded_at`: when the schedule's
    succeeded runs finished (pruned ones are gone: the previous lastSuccessfulTime stays)."""
    before = previous or {}
    fields: dict[str, Any] = {
        "phase": "Suspended" if suspend else "Active",
        "next_schedule_time": plan.next_schedule_time,
        "active": sorted(active),
        "active_count": len(active),
        "observed_generation": generation,
    }
    # The handled times carried over as well: a write lost earlier (the previous status may be
    # the operator's memory of it) is made good by the next one.
    for key, wire in CARRIED_TIMES:
        if before.get(wire):
            fields[key] = parse_time(before[wire])
    for key, wire in (("missed_schedules", "missedSchedules"), ("skipped_schedules", "skippedSchedules")):
        if before.get(wire) is not None:
            fields[key] = int(before[wire])
    if plan.last_schedule_time is not None:
        fields["last_schedule_time"] = plan.last_schedule_time
    latest_success = max(
        [*succeeded_at, *filter(None, [parse_time(before.get("lastSuccessfulTime"))])], default=None
    )
    if latest_success is not None:
        fields["last_successful_time"] = latest_success
    if plan.missed is not None:
        fields["missed_schedules"] = int(before.get("missedSchedules") or 0) + plan.missed.count
        fields["last_missed_time"] = plan.missed.last
    if plan.skipped_at is not None:
        fields["skipped_schedules"] = int(before.get("skippedSchedules") or 0) + 1
        fields["last_skipped_time"] = plan.skipped_at
    if suspend:
        reason, message = "Suspended", "suspended (spec.suspend): no new runs"
    else:
        reason = "Scheduled"
        message = f"next run at {stamp(plan.next_schedule_time)}" if plan.next_schedule_time else "scheduled"
    fields["message"] = message
    fields["conditions"] = cond.with_health(before, cond.Health.READY, reason, message, generation, now)
    return StatusPatch(TrainingJobScheduleStatus(**fields))


def schedule_events(
    plan: SchedulePlan, deadline: int | None, created: str | None, existed: bool, replaced: Sequence[str]
) -> list[Event]:
    """What a user reading `kubectl describe` learns of this step."""
    events: list[Event] = []
    missed = missed_message(plan, deadline)
    if missed is not None:
        events.append(("Warning", "MissedSchedules", missed))
    for name in replaced:
        when = stamp(plan.create_at) if plan.create_at else "now"
        events.append(
            (
                "Normal",
                "RunReplaced",
                f"canceled run {name} for the run due at {when} (concurrencyPolicy Replace)",
            )
        )
    if created is not None and plan.create_at is not None and not existed:
        events.append(("Normal", "RunCreated", f"created run {created} for {stamp(plan.create_at)}"))
    if plan.skipped_at is not None:
        why = f"{', '.join(plan.blocking)} unfinished (concurrencyPolicy Forbid)"
        events.append(
            ("Normal", "ScheduleSkipped", f"skipped the run due at {stamp(plan.skipped_at)}: {why}")
        )
    return events
