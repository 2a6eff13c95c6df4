"""When a Data Science Schedule fires: its trigger (CRON, INTERVAL or ICAL) read as OCI documents it.

CRON is a UNIX cron expression (five fields, or @hourly/@daily/...), evaluated in UTC: OCI's trigger
has no time zone. INTERVAL fires every ``interval`` hours or days from ``timeStart`` (with
``isRandomStartTime``, from a start moved up to ``initialJitterInMinutes`` later: OCI picks it at
random, the emulator by a hash of the start, so a test can predict it). ICAL is an
RFC 5545 recurrence (``FREQ=...``, as dateutil reads it) anchored at ``timeStart``. ``timeStart``
(default: the schedule's creation) and ``timeEnd`` bound every kind.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any

from cronsim import CronSim, CronSimError
from dateutil import rrule

from ocids_emulator.core.errors import invalid, missing
from ocids_emulator.core.timeutil import parse_rfc3339

TRIGGER_TYPES = ("CRON", "INTERVAL", "ICAL")
FREQUENCIES = {"HOURLY": dt.timedelta(hours=1), "DAILY": dt.timedelta(days=1)}
# UNIX cron's nicknames; cronsim reads only the five fields.
NICKNAMES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


def cron_fields(expression: str) -> str:
    text = " ".join(expression.split())
    return NICKNAMES.get(text.lower(), text)


def check_trigger(trigger: Any) -> dict[str, Any]:
    """The trigger, or a 400 naming the field that is wrong."""
    if not isinstance(trigger, dict):
        raise missing("trigger")
    kind = trigger.get("triggerType")
    if kind not in TRIGGER_TYPES:
        raise invalid(f"trigger.triggerType must be one of {', '.join(TRIGGER_TYPES)}")
    start, end = _bound(trigger, "timeStart"), _bound(trigger, "timeEnd")
    if start and end and end <= start:
        raise invalid("trigger.timeEnd must be after trigger.timeStart")
    if kind == "CRON":
        expression = trigger.get("cronExpression")
        if not isinstance(expression, str) or not expression.strip():
            raise missing("trigger.cronExpression")
        try:
            CronSim(cron_fields(expression), dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
        except CronSimError as exc:
            message = f"trigger.cronExpression {expression!r} is not a UNIX cron expression: {exc}"
            raise invalid(message) from None
    elif kind == "INTERVAL":
        if trigger.get("frequency") not in FREQUENCIES:
            raise invalid("trigger.frequency must be HOURLY or DAILY")
        interval = trigger.get("interval")
        if not isinstance(interval, int) or isinstance(interval, bool) or interval < 1:
            raise invalid("trigger.interval must be a positive integer")
        _check_jitter(trigger)
    else:
        recurrence = trigger.get("recurrence")
        if not isinstance(recurrence, str) or not recurrence.strip():
            raise missing("trigger.recurrence")
        try:
            rrule.rrulestr(recurrence, dtstart=dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
        except (ValueError, TypeError) as exc:
            raise invalid(f"trigger.recurrence {recurrence!r} is not an iCal recurrence: {exc}") from None
    return trigger


def next_fire(trigger: dict[str, Any], after: dt.datetime, created: dt.datetime) -> dt.datetime | None:
    """The first time strictly after ``after`` the trigger fires, or None once past ``timeEnd``."""
    start = _bound(trigger, "timeStart") or created
    end = _bound(trigger, "timeEnd")
    # A time before the start fires no earlier than the start (inclusive).
    floor = max(after, start - dt.timedelta(microseconds=1))
    kind = trigger["triggerType"]
    found: dt.datetime | None
    if kind == "CRON":
        found = next(CronSim(cron_fields(trigger["cronExpression"]), floor.astimezone(dt.UTC)), None)
    elif kind == "INTERVAL":
        step = FREQUENCIES[trigger["frequency"]] * int(trigger["interval"])
        start += jitter(trigger, start)
        floor = max(after, start - dt.timedelta(microseconds=1))
        periods = (floor - start) // step + 1 if floor >= start else 0
        found = start + periods * step
    else:
        rule = rrule.rrulestr(trigger["recurrence"], dtstart=start)
        found = rule.after(floor, inc=False)
    if found is None or (end is not None and found > end):
        return None
    return found


# How far latest_due counts the occurrences it passes over before it only says "more than".
MAX_COUNTED = 10_000
# Windows before ``now`` latest_due looks in for the last occurrence, smallest first, so a dense
# trigger is never walked occurrence by occurrence across a long gap.
_WINDOWS = tuple(dt.timedelta(minutes=m) for m in (1, 60, 24 * 60, 31 * 24 * 60, 400 * 24 * 60))


@dataclass(frozen=True)
class Due:
    """What is due at ``now``: the ``latest`` occurrence, and the earlier ones passed over
    (``skipped``, from ``first_skipped``; ``skipped`` stops counting at MAX_COUNTED)."""

    latest: dt.datetime
    skipped: int
    first_skipped: dt.datetime | None


def latest_due(
    trigger: dict[str, Any], first: dt.datetime, now: dt.datetime, created: dt.datetime
) -> Due | None:
    """The latest occurrence at or before ``now``, counting from the first one still due
    (``first``); None when ``first`` lies ahead."""
    if first > now:
        return None
    latest = first
    for window in _WINDOWS:
        found = next_fire(trigger, max(first, now - window), created)
        if found is not None and found <= now:
            latest = found
            break
    while (upcoming := next_fire(trigger, latest, created)) is not None and upcoming <= now:
        latest = upcoming
    skipped = 0
    at: dt.datetime | None = first
    while at is not None and at < latest and skipped < MAX_COUNTED:
        skipped += 1
        at = next_fire(trigger, at, created)
    return Due(latest, skipped, first if skipped else None)


def _check_jitter(trigger: dict[str, Any]) -> None:
    random_start = trigger.get("isRandomStartTime")
    if random_start is not None and not isinstance(random_start, bool):
        raise invalid("trigger.isRandomStartTime must be a boolean")
    window = trigger.get("initialJitterInMinutes")
    if window is None:
        return
    if not isinstance(window, int) or isinstance(window, bool) or window < 0:
        raise invalid("trigger.initialJitterInMinutes must be a non-negative integer")
    step = FREQUENCIES[trigger["frequency"]] * int(trigger["interval"])
    if dt.timedelta(minutes=window) > step:
        raise invalid("trigger.initialJitterInMinutes must not exceed the interval's duration")


def jitter(trigger: dict[str, Any], start: dt.datetime) -> dt.timedelta:
    """How much later than ``start`` an INTERVAL trigger with isRandomStartTime first fires: whole
    minutes within initialJitterInMinutes (default half the interval), chosen from ``start`` alone."""
    if trigger.get("triggerType") != "INTERVAL" or not trigger.get("isRandomStartTime"):
        return dt.timedelta(0)
    step = FREQUENCIES[trigger["frequency"]] * int(trigger["interval"])
    window = trigger.get("initialJitterInMinutes")
    minutes = int(window) if window is not None else int(step.total_seconds() // 120)
    return dt.timedelta(minutes=random.Random(start.isoformat()).randint(0, minutes))


def _bound(trigger: dict[str, Any], key: str) -> dt.datetime | None:
    value = trigger.get(key)
    if value is None:
        return None
    try:
        return parse_rfc3339(str(value))
    except ValueError:
        raise invalid(f"trigger.{key} must be an RFC 3339 date-time") from None
