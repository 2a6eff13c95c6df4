"""Cron lines read in an IANA time zone: when a TrainingJobSchedule's runs are due. Pure.

The fields are parsed by `cronsim` (the parser of Healthchecks.io, maintained, pure Python); this
module adds the @-macros, holds the line to 5 fields, names spec.schedule / spec.timeZone in errors
and answers in UTC. Daylight saving (cronsim's rules, as Vixie cron's): a line with a fixed hour
fires once per day: a wall-clock time a spring-forward skips (02:30) fires at the first minute after
the change (03:00); a time a fall-back repeats (01:30) fires once, at its first occurrence. A line
whose hour field is a wildcard or step (`*/30 * * * *`, `0 * * * *`) follows real time instead: the
skipped hour's times do not fire, and the repeated hour's fire twice (01:00 and 01:30 EDT, then again
EST).
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
FIELDS = ("minute", "hour", "day-of-month", "month", "day-of-week")
ONE_SECOND = datetime.timedelta(seconds=1)


class InvalidSchedule(ValueError):
    """A schedule or time zone that cannot be used; the message names the field."""


@dataclasses.dataclass(frozen=True)
class Cron:
    expression: str  # 5 fields, macros expanded
    zone: ZoneInfo

    def times_after(self, after: datetime.datetime) -> Iterator[datetime.datetime]:
        """The fire times strictly after `after`, in UTC, earliest first."""
        start = after.astimezone(self.zone)
        for fire in CronSim(self.expression, start):
            yield fire.astimezone(datetime.UTC)

    def next_after(self, after: datetime.datetime) -> datetime.datetime:
        return next(self.times_after(after))

    def latest_at_or_before(self, moment: datetime.datetime) -> datetime.datetime:
        """The latest fire time not after `moment` (cron times are whole minutes)."""
        # cronsim's reverse walk starts strictly before its start: start one second after.
        start = (moment.replace(microsecond=0) + ONE_SECOND).astimezone(self.zone)
        return next(iter(CronSim(self.expression, start, reverse=True))).astimezone(datetime.UTC)


def parse(schedule: str, time_zone: str = "UTC") -> Cron:
    """The schedule, or InvalidSchedule naming spec.schedule or spec.timeZone."""
    zone = parse_zone(time_zone)
    text = " ".join(schedule.split())
    expression = MACROS.get(text.lower(), text)
    if expression.startswith("@"):
        known = ", ".join(sorted(MACROS))
        raise InvalidSchedule(f"spec.schedule {schedule!r}: unknown macro (known: {known})")
    fields = expression.split(" ")
    if any(field.upper().startswith(("TZ=", "CRON_TZ=")) for field in fields):
        raise InvalidSchedule(
            f"spec.schedule {schedule!r}: set the time zone in spec.timeZone, not in the line"
        )
    if len(fields) != len(FIELDS):
        raise InvalidSchedule(
            f"spec.schedule {schedule!r}: a cron line has 5 fields ({' '.join(FIELDS)}); "
            f"this one has {len(fields)}"
        )
    try:
        # Constructing checks each field; an impossible date (30 February) fails at the first step.
        next(iter(CronSim(expression, datetime.datetime(2000, 1, 1, tzinfo=zone))))
    except (CronSimError, StopIteration) as exc:
        reason = str(exc) or "it never fires"
        if reason.startswith("Bad "):
            reason = f"its {reason[4:]} field is not valid (or names a date that never comes)"
        raise InvalidSchedule(f"spec.schedule {schedule!r}: {reason}") from None
    return Cron(expression, zone)


def parse_zone(time_zone: str) -> ZoneInfo:
    try:
        return ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidSchedule(
            f"spec.timeZone {time_zone!r}: not an IANA time zone (e.g. UTC, Europe/Berlin, America/New_York)"
        ) from None
