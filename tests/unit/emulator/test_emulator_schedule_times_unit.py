"""When an emulated Data Science Schedule fires (core/schedule_times.py), trigger by trigger."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from ocids_emulator.core.errors import ApiError
from ocids_emulator.core.schedule_times import MAX_COUNTED, check_trigger, jitter, latest_due, next_fire

T0 = dt.datetime(2026, 3, 7, 10, 7, 30, tzinfo=dt.UTC)


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("trigger", "after", "expected"),
    [
        ({"triggerType": "CRON", "cronExpression": "* * * * *"}, T0, "2026-03-07T10:08:00"),
        ({"triggerType": "CRON", "cronExpression": "*/15 * * * *"}, T0, "2026-03-07T10:15:00"),
        # A time exactly on a match fires the next one: "after" is exclusive.
        (
            {"triggerType": "CRON", "cronExpression": "0 * * * *"},
            at("2026-03-07T11:00:00"),
            "2026-03-07T12:00:00",
        ),
        ({"triggerType": "CRON", "cronExpression": "@daily"}, T0, "2026-03-08T00:00:00"),
        ({"triggerType": "CRON", "cronExpression": "@hourly"}, T0, "2026-03-07T11:00:00"),
        # UTC always: OCI's trigger has no time zone.
        ({"triggerType": "CRON", "cronExpression": "30 2 * * *"}, T0, "2026-03-08T02:30:00"),
        # timeStart holds the first fire back; a match at timeStart itself counts.
        (
            {"triggerType": "CRON", "cronExpression": "0 * * * *", "timeStart": "2026-03-07T14:00:00.000Z"},
            T0,
            "2026-03-07T14:00:00",
        ),
        # timeEnd: nothing after it.
        (
            {"triggerType": "CRON", "cronExpression": "0 0 * * *", "timeEnd": "2026-03-07T23:00:00.000Z"},
            T0,
            None,
        ),
        # INTERVAL counts from timeStart (default: the creation, T0 here).
        ({"triggerType": "INTERVAL", "frequency": "HOURLY", "interval": 2}, T0, "2026-03-07T12:07:30"),
        (
            {"triggerType": "INTERVAL", "frequency": "HOURLY", "interval": 2},
            at("2026-03-07T12:07:30"),
            "2026-03-07T14:07:30",
        ),
        (
            {
                "triggerType": "INTERVAL",
                "frequency": "DAILY",
                "interval": 1,
                "timeStart": "2026-03-01T06:00:00.000Z",
            },
            T0,
            "2026-03-08T06:00:00",
        ),
        # ICAL: an RFC 5545 recurrence anchored at timeStart (default: the creation).
        (
            {"triggerType": "ICAL", "recurrence": "FREQ=DAILY;BYHOUR=9;BYMINUTE=0;BYSECOND=0"},
            T0,
            "2026-03-08T09:00:00",
        ),
        ({"triggerType": "ICAL", "recurrence": "FREQ=MINUTELY;INTERVAL=10"}, T0, "2026-03-07T10:17:30"),
    ],
)
def test_next_fire(trigger: dict[str, Any], after: dt.datetime, expected: str | None) -> None:
    check_trigger(trigger)
    found = next_fire(trigger, after, created=T0)
    assert found == (at(expected) if expected else None)


@pytest.mark.parametrize(
    ("trigger", "message"),
    [
        (None, "Missing required parameter: trigger"),
        ({"triggerType": "WEEKLY"}, "trigger.triggerType must be one of CRON, INTERVAL, ICAL"),
        ({"triggerType": "CRON"}, "Missing required parameter: trigger.cronExpression"),
        ({"triggerType": "CRON", "cronExpression": "61 * * * *"}, "trigger.cronExpression '61 * * * *'"),
        ({"triggerType": "CRON", "cronExpression": "* * *"}, "is not a UNIX cron expression"),
        ({"triggerType": "INTERVAL", "frequency": "MINUTELY", "interval": 1}, "trigger.frequency"),
        ({"triggerType": "INTERVAL", "frequency": "DAILY", "interval": 0}, "trigger.interval"),
        ({"triggerType": "ICAL", "recurrence": "FREQ=SOMETIMES"}, "trigger.recurrence 'FREQ=SOMETIMES'"),
        (
            {"triggerType": "CRON", "cronExpression": "* * * * *", "timeStart": "tomorrow"},
            "trigger.timeStart must be an RFC 3339 date-time",
        ),
        (
            {
                "triggerType": "CRON",
                "cronExpression": "* * * * *",
                "timeStart": "2026-03-07T10:00:00Z",
                "timeEnd": "2026-03-07T09:00:00Z",
            },
            "trigger.timeEnd must be after trigger.timeStart",
        ),
    ],
)
def test_bad_triggers_are_refused_naming_the_field(trigger: Any, message: str) -> None:
    with pytest.raises(ApiError) as caught:
        check_trigger(trigger)
    assert caught.value.status == 400
    assert message in caught.value.message


EVERY_MINUTE = {"triggerType": "CRON", "cronExpression": "* * * * *"}
HOURLY = {"triggerType": "INTERVAL", "frequency": "HOURLY", "interval": 1}


@pytest.mark.parametrize(
    ("trigger", "first", "now", "latest", "skipped"),
    [
        # Not due yet: nothing.
        (EVERY_MINUTE, "2026-03-07T10:08:00", "2026-03-07T10:07:59", None, 0),
        # Due: that one, nothing skipped.
        (EVERY_MINUTE, "2026-03-07T10:08:00", "2026-03-07T10:08:00", "2026-03-07T10:08:00", 0),
        # Three minutes late: the latest of the three, two skipped (no backfill).
        (EVERY_MINUTE, "2026-03-07T10:08:00", "2026-03-07T10:10:30", "2026-03-07T10:10:00", 2),
        # A day down, hourly: 24 due, the last runs.
        (HOURLY, "2026-03-07T11:00:00", "2026-03-08T10:30:00", "2026-03-08T10:00:00", 23),
        # A year of minutes: found without walking them one by one; the count stops at MAX_COUNTED.
        (EVERY_MINUTE, "2026-03-07T10:08:00", "2027-03-07T10:08:30", "2027-03-07T10:08:00", MAX_COUNTED),
    ],
)
def test_latest_due_fires_only_the_latest_occurrence(
    trigger: dict[str, Any], first: str, now: str, latest: str | None, skipped: int
) -> None:
    created = at("2026-03-07T10:00:00")
    due = latest_due(trigger, at(first), at(now), created)
    if latest is None:
        assert due is None
        return
    assert due is not None
    assert (due.latest, due.skipped) == (at(latest), skipped)
    assert due.first_skipped == (at(first) if skipped else None)


def test_a_random_start_is_within_the_jitter_window_and_deterministic() -> None:
    trigger = {**HOURLY, "isRandomStartTime": True, "initialJitterInMinutes": 20}
    start = at("2026-03-07T10:00:00")
    offsets = {jitter(trigger, start + dt.timedelta(days=d)) for d in range(50)}
    assert all(dt.timedelta(0) <= o <= dt.timedelta(minutes=20) for o in offsets) and len(offsets) > 3
    assert jitter(trigger, start) == jitter(dict(trigger), start)
    first = next_fire(trigger, start - dt.timedelta(hours=1), start)
    assert first == start + jitter(trigger, start)
    # Later fires keep the first one's phase: every interval after it.
    assert next_fire(trigger, first, start) == first + dt.timedelta(hours=1)
    # Default window: half the interval.
    default = {**HOURLY, "isRandomStartTime": True}
    assert all(jitter(default, start + dt.timedelta(days=d)) <= dt.timedelta(minutes=30) for d in range(50))
    # Off: no jitter even with a window.
    assert jitter({**HOURLY, "initialJitterInMinutes": 20}, start) == dt.timedelta(0)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"isRandomStartTime": "yes"}, "trigger.isRandomStartTime"),
        ({"initialJitterInMinutes": -1}, "trigger.initialJitterInMinutes"),
        ({"initialJitterInMinutes": 61}, "trigger.initialJitterInMinutes must not exceed"),
    ],
)
def test_bad_jitter_is_refused_naming_the_field(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(ApiError) as refused:
        check_trigger({**HOURLY, **extra})
    assert message in refused.value.message
