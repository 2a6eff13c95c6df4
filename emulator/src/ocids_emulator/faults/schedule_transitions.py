"""Schedules that take time to change, as OCI's do: CREATING, UPDATING or DELETING for a while.

The emulator applies a schedule change at once by default; this fault makes the change
asynchronous so a client meets the 409 IncorrectState OCI answers to a change made meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ocids_emulator.core.errors import invalid
from ocids_emulator.faults.denials import id_set


@dataclass
class ScheduleTransitions:
    """Changes to the named schedules (every schedule, new ones included, when none are) stay in
    their transient state for ``seconds``."""

    seconds: float
    schedule_ids: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, raw: Any) -> ScheduleTransitions:
        if not isinstance(raw, dict):
            raise invalid("scheduleTransitions must be an object")
        seconds = raw.get("seconds")
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or not 0 < seconds <= 86400:
            raise invalid("scheduleTransitions.seconds must be a number from 0 (exclusive) to 86400")
        return cls(float(seconds), id_set(raw.get("scheduleIds"), "scheduleTransitions.scheduleIds"))

    def to_dict(self) -> dict[str, Any]:
        return {"seconds": self.seconds, "scheduleIds": sorted(self.schedule_ids)}

    def delay(self, schedule_id: str | None) -> float:
        """How long this schedule's change takes (0: at once); a create (no id yet) matches only
        when no schedule is named."""
        if self.schedule_ids and schedule_id not in self.schedule_ids:
            return 0.0
        return self.seconds
