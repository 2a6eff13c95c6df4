"""A TrainingJobSchedule's next step (engine Operator): which run to make now, which to cancel, what
was missed or skipped. Pure: the clock and the schedule's runs come in as values.

The rules, CronJob's where it has one:
- At most ONE run per step, for the latest due time: an operator back after hours of downtime (or a
  schedule resumed after a suspension) makes one catch-up run, never one per missed time. The others
  are counted as missed (status and a MissedSchedules Event).
- startingDeadlineSeconds: a due time older than that is missed, not run late.
- Forbid: a time that comes while one of the schedule's runs is unfinished is skipped for good (status
  and an Event), not run once the other ends. Replace: the unfinished runs are canceled (spec.cancel)
  and the new one is made. Allow: runs overlap.
- A run is named after its time (`<schedule>-<unix minutes>`): a step repeated after a crash between
  the create and the status write finds it instead of making another, and does not count it as the
  unfinished run that blocks itself.
- The schedule's cursor is the latest time it ran, missed or skipped (else its creation): a time is
  handled once, and each Event is posted once.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
from collections.abc import Sequence

from .cron import Cron

SCHEDULE_LABEL = "ocids.io/schedule"
SCHEDULED_TIME_LABEL = "ocids.io/scheduled-time"
MAX_LABEL = 63
# Due times counted one by one after a long downtime; beyond this the count says "at least".
MAX_COUNTED = 1000
ONE_SECOND = datetime.timedelta(seconds=1)


class Concurrency:
    ALLOW = "Allow"
    FORBID = "Forbid"
    REPLACE = "Replace"


@dataclasses.dataclass(frozen=True)
class ScheduledRun:
    """One of the schedule's TrainingJobRuns, as the plan needs it."""

    name: str
    scheduled_time: datetime.datetime | None
    finished: bool
    cancel_requested: bool = False


@dataclasses.dataclass(frozen=True)
class ScheduleState:
    now: datetime.datetime
    cron: Cron
    created: datetime.datetime
    suspend: bool = False
    starting_deadline_seconds: int | None = None
    concurrency: str = Concurrency.ALLOW
    last_schedule_time: datetime.datetime | None = None
    last_missed_time: datetime.datetime | None = None
    last_skipped_time: datetime.datetime | None = None
    runs: Sequence[ScheduledRun] = ()

    @property
    def cursor(self) -> datetime.datetime:
        """Times up to this one are handled (ran, missed or skipped); before any, the creation (as
        CronJob's: a recorded time wins over metadata.creationTimestamp)."""
        handled = [t for t in (self.last_schedule_time, self.last_missed_time, self.last_skipped_time) if t]
        return max(handled) if handled else self.created


@dataclasses.dataclass(frozen=True)
class Missed:
    count: int  # times that will never run
    at_least: bool  # the count stopped at MAX_COUNTED
    first: datetime.datetime
    last: datetime.datetime


@dataclasses.dataclass(frozen=True)
class SchedulePlan:
    create_at: datetime.datetime | None = None  # make a run for this time
    found_at: datetime.datetime | None = None  # the latest time not yet handled that has a run already
    due_at: datetime.datetime | None = None  # the latest due time this step handled
    cancel: tuple[str, ...] = ()  # Replace: runs to cancel first
    skipped_at: datetime.datetime | None = None  # Forbid skipped this time
    blocking: tuple[str, ...] = ()  # the unfinished runs Forbid skipped for
    missed: Missed | None = None
    late_by: datetime.timedelta | None = None  # how long past its time the latest due time is
    next_schedule_time: datetime.datetime | None = None

    @property
    def last_schedule_time(self) -> datetime.datetime | None:
        return self.create_at or self.found_at

    @property
    def ran_latest(self) -> bool:
        """Whether the latest due time has a run (made now, or found made)."""
        return self.due_at is not None and self.due_at in (self.create_at, self.found_at)


def plan(state: ScheduleState) -> SchedulePlan:
    cron, now = state.cron, state.now
    next_time = cron.next_after(now)
    if state.suspend:
        # Not handled: on resume these times are missed, and the latest runs if within the deadline.
        return SchedulePlan()
    cursor = state.cursor
    due = due_times(cron, cursor, now)
    if due is None:
        return SchedulePlan(next_schedule_time=next_time)
    latest = due[3]
    # The schedule's own runs of times not yet handled: a step whose status write was lost (a crash
    # between the create and the write) made them. They ran: never counted as missed, and the
    # cursor moves up to the latest of them.
    ran = {
        run.scheduled_time for run in state.runs if run.scheduled_time and cursor < run.scheduled_time <= now
    }
    found = max(ran, default=None)
    if found == latest:
        return SchedulePlan(
            found_at=latest,
            due_at=latest,
            missed=_missed(cron, cursor, latest, ran),
            next_schedule_time=next_time,
        )
    late = now - latest
    deadline = state.starting_deadline_seconds
    if deadline is not None and late > datetime.timedelta(seconds=deadline):
        return SchedulePlan(
            found_at=found,
            due_at=latest,
            missed=_missed(cron, cursor, latest + ONE_SECOND, ran),
            late_by=late,
            next_schedule_time=next_time,
        )
    missed = _missed(cron, cursor, latest, ran)
    unfinished = tuple(run for run in state.runs if not run.finished)
    if unfinished and state.concurrency == Concurrency.FORBID:
        return SchedulePlan(
            found_at=found,
            due_at=latest,
            skipped_at=latest,
            blocking=tuple(run.name for run in unfinished),
            missed=missed,
            late_by=late,
            next_schedule_time=next_time,
        )
    cancel: tuple[str, ...] = ()
    if state.concurrency == Concurrency.REPLACE:
        cancel = tuple(run.name for run in unfinished if not run.cancel_requested)
    return SchedulePlan(
        create_at=latest,
        found_at=found,
        due_at=latest,
        cancel=cancel,
        missed=missed,
        late_by=late,
        next_schedule_time=next_time,
    )


def _missed(
    cron: Cron,
    cursor: datetime.datetime,
    before: datetime.datetime,
    ran: set[datetime.datetime],
) -> Missed | None:
    """The due times in (cursor, before) that have no run: they never run."""
    count, first, last, at_least = 0, None, None, False
    for fire in cron.times_after(cursor):
        if fire >= before:
            break
        if count >= MAX_COUNTED - 1:
            at_least = True
            break
        if fire in ran:
            continue
        first = first or fire
        last = fire
        count += 1
    if first is None or last is None:
        return None
    if at_least:
        # Counting stopped early: the last one is the latest time before `before` without a run.
        last = cron.latest_at_or_before(before - ONE_SECOND)
        while last in ran:
            last = cron.latest_at_or_before(last - ONE_SECOND)
    return Missed(count, at_least, first, last)


def due_times(
    cron: Cron, cursor: datetime.datetime, now: datetime.datetime
) -> tuple[int, bool, datetime.datetime, datetime.datetime] | None:
    """(how many, whether at least, first, latest) of the times in (cursor, now]; None if none."""
    count, first = 0, None
    for fire in cron.times_after(cursor):
        if fire > now:
            break
        first = first or fire
        count += 1
        if count >= MAX_COUNTED:
            return count, True, first, cron.latest_at_or_before(now)
    if first is None:
        return None
    return count, False, first, cron.latest_at_or_before(now)


def run_name(schedule: str, scheduled_time: datetime.datetime) -> str:
    """`<schedule>-<unix minutes>`, like a CronJob's Jobs; within 63 characters (a hash keeps long
    schedule names apart)."""
    suffix = str(int(scheduled_time.timestamp()) // 60)
    return f"{bounded(schedule, MAX_LABEL - len(suffix) - 1)}-{suffix}"


def time_of_run(schedule: str, name: str) -> datetime.datetime | None:
    """The time a run of this schedule is for, read back from its name (`run_name`); None for a
    name `run_name` does not make."""
    _, _, minutes = name.rpartition("-")
    if not minutes.isdigit():
        return None
    moment = datetime.datetime.fromtimestamp(int(minutes) * 60, datetime.UTC)
    return moment if run_name(schedule, moment) == name else None


def bounded(name: str, limit: int = MAX_LABEL) -> str:
    """The name if it fits, else its start and a hash of the whole, within `limit` characters."""
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: limit - len(digest) - 1].rstrip('-.')}-{digest}"


def scheduled_time_label(scheduled_time: datetime.datetime) -> str:
    return str(int(scheduled_time.timestamp()))


def parse_scheduled_time(label: object) -> datetime.datetime | None:
    try:
        return datetime.datetime.fromtimestamp(int(str(label)), datetime.UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def stamp(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def missed_message(plan: SchedulePlan, deadline: int | None) -> str | None:
    """The MissedSchedules Event: how many, between when, and what became of the latest."""
    missed = plan.missed
    if missed is None:
        return None
    runs = (
        f"{'at least ' if missed.at_least else ''}{missed.count} run{'s' if missed.count != 1 else ''} missed"
    )
    when = (
        f"at {stamp(missed.first)}"
        if missed.first == missed.last
        else f"between {stamp(missed.first)} and {stamp(missed.last)}"
    )
    if plan.ran_latest and plan.due_at is not None:
        return f"{runs} {when}; ran the latest ({stamp(plan.due_at)})"
    if plan.skipped_at is not None:
        skipped = stamp(plan.skipped_at)
        return f"{runs} {when}; none ran: the latest ({skipped}) was skipped (concurrencyPolicy Forbid)"
    return f"{runs} {when}; none ran: past startingDeadlineSeconds ({deadline}s)"
