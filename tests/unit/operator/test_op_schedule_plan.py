"""TrainingJobSchedule's plan and status against the tables in schedule_scenarios/ (read those)."""

from __future__ import annotations

import datetime
import pathlib
from typing import Any

import pytest
import yaml
from ocids_operator.core import cron as cron_lib
from ocids_operator.core.schedule_plan import (
    MAX_LABEL,
    ScheduledRun,
    ScheduleState,
    bounded,
    missed_message,
    plan,
    run_name,
)
from ocids_operator.core.schedule_status import schedule_events, schedule_status

TABLE = pathlib.Path(__file__).parent / "schedule_scenarios" / "schedule_plan.yaml"
SCENARIOS = yaml.safe_load(TABLE.read_text())["scenarios"]


def at(value: str | None) -> datetime.datetime | None:
    return None if value is None else datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


def stamp(value: datetime.datetime | None) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")


def step(scenario: dict[str, Any]) -> tuple[Any, Any, list[tuple[str, str, str]]]:
    spec, status = scenario.get("spec") or {}, scenario.get("status") or {}
    runs = [
        ScheduledRun(r["name"], at(r["scheduledTime"]), r.get("finished", False), r.get("cancel", False))
        for r in scenario.get("runs") or []
    ]
    state = ScheduleState(
        now=at(scenario["now"]),  # type: ignore[arg-type]
        cron=cron_lib.parse(scenario.get("schedule", "* * * * *"), scenario.get("timeZone", "UTC")),
        created=at(scenario.get("created", "2026-05-01T11:00:00Z")),  # type: ignore[arg-type]
        suspend=spec.get("suspend", False),
        starting_deadline_seconds=spec.get("startingDeadlineSeconds"),
        concurrency=spec.get("concurrencyPolicy", "Allow"),
        last_schedule_time=at(status.get("lastScheduleTime")),
        last_missed_time=at(status.get("lastMissedTime")),
        last_skipped_time=at(status.get("lastSkippedTime")),
        runs=runs,
    )
    result = plan(state)
    deadline = spec.get("startingDeadlineSeconds")
    canceled = list(result.cancel)
    created = run_name("nightly", result.create_at) if result.create_at else None
    events = schedule_events(result, deadline, created, False, canceled)
    active = [r.name for r in runs if not r.finished] + ([created] if created else [])
    succeeded = [at(r["succeededAt"]) for r in scenario.get("runs") or [] if r.get("succeededAt")]
    new_status = schedule_status(
        plan=result,
        suspend=state.suspend,
        deadline=deadline,
        previous=status,
        active=active,
        succeeded_at=succeeded,  # type: ignore[arg-type]
        generation=1,
        now="2026-05-01T00:00:00Z",
    )
    return result, dict(new_status), events


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s["name"])
def test_schedule_plan(scenario: dict[str, Any]) -> None:
    result, status, events = step(scenario)
    want = scenario["expect"]
    if "create" in want:
        assert stamp(result.create_at) == want["create"]
    if "found" in want:
        assert stamp(result.found_at) == want["found"]
    if "cancel" in want:
        assert list(result.cancel) == want["cancel"]
    if "skipped" in want:
        assert stamp(result.skipped_at) == want["skipped"]
    if "next" in want:
        assert stamp(result.next_schedule_time) == want["next"]
    if "missed" in want:
        if want["missed"] is None:
            assert result.missed is None
        else:
            assert result.missed is not None
            got = {
                "count": result.missed.count,
                "atLeast": result.missed.at_least,
                "first": stamp(result.missed.first),
                "last": stamp(result.missed.last),
            }
            assert {key: got[key] for key in want["missed"]} == want["missed"]
    if "events" in want:
        assert [reason for _, reason, _ in events] == want["events"]
    if "message" in want:
        assert any(want["message"] in message for _, _, message in events), events
    for key, value in (want.get("status") or {}).items():
        assert status.get(key) == value, key


def test_every_created_run_is_named_after_its_time_and_fits_a_label() -> None:
    moment = datetime.datetime(2026, 5, 1, 11, 1, tzinfo=datetime.UTC)
    assert run_name("nightly", moment) == "nightly-29627221"
    long = run_name("a" * 80, moment)
    assert len(long) <= MAX_LABEL and long.endswith("-29627221")
    assert run_name("a" * 80, moment) != run_name("a" * 79 + "b", moment)
    assert bounded("short") == "short"


def test_each_step_has_at_most_one_run_however_long_the_operator_was_down() -> None:
    cron = cron_lib.parse("* * * * *")
    created = datetime.datetime(2026, 5, 1, tzinfo=datetime.UTC)
    for hours in (0.05, 1, 24, 24 * 30):
        now = created + datetime.timedelta(hours=hours, seconds=5)
        result = plan(ScheduleState(now=now, cron=cron, created=created))
        assert result.create_at is not None and result.create_at <= now
        assert now - result.create_at < datetime.timedelta(minutes=1)


def test_a_missed_message_without_missed_times_is_none() -> None:
    cron = cron_lib.parse("* * * * *")
    now = datetime.datetime(2026, 5, 1, 11, 1, 5, tzinfo=datetime.UTC)
    result = plan(ScheduleState(now=now, cron=cron, created=now - datetime.timedelta(seconds=30)))
    assert missed_message(result, None) is None


@pytest.mark.parametrize(
    ("schedule", "zone", "names"),
    [
        ("* * *", "UTC", "spec.schedule '* * *': a cron line has 5 fields"),
        ("* * * * * *", "UTC", "this one has 6"),
        ("61 * * * *", "UTC", "its minute field is not valid"),
        ("0 0 30 2 *", "UTC", "its day-of-month field is not valid"),
        ("@often", "UTC", "unknown macro"),
        ("CRON_TZ=UTC 0 * * * *", "UTC", "set the time zone in spec.timeZone"),
        ("* * * * *", "Mars/Olympus", "spec.timeZone 'Mars/Olympus': not an IANA time zone"),
    ],
)
def test_a_bad_schedule_is_refused_naming_the_field(schedule: str, zone: str, names: str) -> None:
    with pytest.raises(cron_lib.InvalidSchedule, match=None) as caught:
        cron_lib.parse(schedule, zone)
    assert names in str(caught.value)


@pytest.mark.parametrize(
    ("macro", "line"),
    [("@hourly", "0 * * * *"), ("@daily", "0 0 * * *"), ("@weekly", "0 0 * * 0"), ("@YEARLY", "0 0 1 1 *")],
)
def test_macros_are_cron_lines(macro: str, line: str) -> None:
    assert cron_lib.parse(macro).expression == line


def _fires(line: str, zone: str, start: str, end: str) -> list[str]:
    cron = cron_lib.parse(line, zone)
    until = at(end)
    out = []
    for fire in cron.times_after(at(start)):  # type: ignore[arg-type]
        if fire > until:  # type: ignore[operator]
            break
        out.append(fire.strftime("%H:%M"))
    return out


def test_daylight_saving_as_documented_fixed_hours_once_wildcard_hours_follow_real_time() -> None:
    # 1 Nov 2026, New York falls back at 06:00 UTC (02:00 EDT -> 01:00 EST): 01:00-01:59 happen twice.
    fall = ("2026-11-01T04:00:00Z", "2026-11-01T07:59:00Z")
    assert _fires("30 1 * * *", "America/New_York", *fall) == ["05:30"]  # once, the first 01:30
    # A wildcard hour: 01:00 and 01:30 local run twice (EDT, then EST).
    assert _fires("*/30 * * * *", "America/New_York", *fall) == [
        "04:30", "05:00", "05:30", "06:00", "06:30", "07:00", "07:30",
    ]  # fmt: skip
    # 8 Mar 2026, spring forward at 07:00 UTC (02:00 EST -> 03:00 EDT): 02:xx never happens.
    spring = ("2026-03-08T05:00:00Z", "2026-03-08T07:59:00Z")
    assert _fires("30 2 * * *", "America/New_York", *spring) == ["07:00"]  # at 03:00 EDT
    assert _fires("*/30 * * * *", "America/New_York", *spring) == [
        "05:30",
        "06:00",
        "06:30",
        "07:00",
        "07:30",
    ]
