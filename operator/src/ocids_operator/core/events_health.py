"""Whether OCI Events reach the operator: the state that decides how slowly runs may be polled. Pure
(the clock is passed in).

- Off: no events source is configured; polling as ever.
- Starting: a source is configured, but nothing has proven it yet (no stream read succeeded, no
  notification arrived).
- Healthy: the last stream read succeeded (or a notification arrived) and no expected event is
  overdue: polling is only the fallback.
- Silent: an event the operator knows must come (the create event of a run it created) is
  `silence_seconds` overdue: the rule, the stream or the delivery dropped it. Any later event
  proves the flow again; the overdue expectations are then dropped (those events were lost).
- Failing: the last read of some stream partition failed (each partition counts on its own: one
  dead partition loses the events keyed to it however well the others read).
- Stopped: the operator that wrote this state stopped (the status ConfigMap's last word).

Anything but Healthy means today's polling intervals, at once.
"""

from __future__ import annotations

import collections
import dataclasses
import enum

# Expectations and recently seen run ids kept at most (a flood of creations must not grow memory).
MAX_EXPECTED = 100_000
MAX_RECENT = 10_000


class EventsState(enum.StrEnum):
    OFF = "Off"
    STARTING = "Starting"
    HEALTHY = "Healthy"
    SILENT = "Silent"
    FAILING = "Failing"
    STOPPED = "Stopped"


@dataclasses.dataclass(frozen=True)
class StateChange:
    old: EventsState
    new: EventsState
    reason: str
    at: float


class EventsHealth:
    def __init__(self, enabled: bool, silence_seconds: float, now: float = 0.0) -> None:
        self.enabled = enabled
        self.silence_seconds = silence_seconds
        self._proven = False  # a read succeeded or an event arrived, ever
        # Each source's (partition's) last read failure (reason, since), until a read of it succeeds.
        self._failures: dict[str, tuple[str, float]] = {}
        self._outage_since: float | None = None  # since when any source has been failing
        # run id -> when its event was expected from (insertion order is time order).
        self._expected: collections.OrderedDict[str, float] = collections.OrderedDict()
        # Run ids an event named lately: an event may be read before its run's create returns.
        self._recent: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._last = EventsState.STARTING if enabled else EventsState.OFF
        self.since = now
        self.reason = self._describe(self._last, now)
        self.lost_expectations = 0  # expected events never seen (dropped once the flow was proven again)

    # What the sources report ---------------------------------------------------------------------
    def read_ok(self, now: float, source: str = "") -> None:
        self._failures.pop(source, None)
        if not self._failures and self._outage_since is not None:
            # Time spent unable to read does not count against expected events (they wait in the
            # stream): only the part of the outage after each expectation was made.
            outage = self._outage_since
            for run_id, since in self._expected.items():
                self._expected[run_id] = since + max(0.0, now - max(since, outage))
            self._outage_since = None
        self._proven = True

    def read_failed(self, now: float, reason: str, source: str = "") -> None:
        since = self._failures[source][1] if source in self._failures else now
        self._failures[source] = (reason, since)
        if self._outage_since is None:
            self._outage_since = now

    def message(self, now: float) -> None:
        """A job-run event arrived (any source): events flow, so expectations overdue were lost."""
        self._proven = True
        while self._expected:
            run_id, since = next(iter(self._expected.items()))
            if now - since < self.silence_seconds:
                break
            del self._expected[run_id]
            self.lost_expectations += 1

    def expect(self, run_id: str, now: float) -> None:
        """An event about `run_id` must come (the operator just created it)."""
        if not self.enabled:
            return
        if run_id in self._recent:
            # Its event came before the create call returned: no one could have forged it (OCI had not
            # told anyone the id yet), so it proves the events flow as much as a later one would.
            self.message(now)
            return
        self._expected[run_id] = now
        self._expected.move_to_end(run_id)
        while len(self._expected) > MAX_EXPECTED:
            self._expected.popitem(last=False)

    def expecting(self, run_id: str) -> bool:
        """Whether the operator created `run_id` and awaits its first event."""
        return run_id in self._expected

    def met(self, run_id: str) -> None:
        """An event about `run_id` arrived."""
        self._expected.pop(run_id, None)
        self._recent[run_id] = None
        self._recent.move_to_end(run_id)
        while len(self._recent) > MAX_RECENT:
            self._recent.popitem(last=False)

    # What it makes of them ---------------------------------------------------------------------
    def overdue(self, now: float) -> str | None:
        """The run whose expected event is overdue the longest; None when none is."""
        if not self._expected or self._failures:
            return None
        run_id, since = next(iter(self._expected.items()))
        return run_id if now - since >= self.silence_seconds else None

    def state(self, now: float) -> EventsState:
        if not self.enabled:
            return EventsState.OFF
        if self._failures:
            return EventsState.FAILING
        if not self._proven:
            return EventsState.STARTING
        if self.overdue(now) is not None:
            return EventsState.SILENT
        return EventsState.HEALTHY

    def healthy(self, now: float) -> bool:
        return self.state(now) is EventsState.HEALTHY

    def change(self, now: float) -> StateChange | None:
        """The change since the last call (recording it: `since`, `reason`), else None."""
        new = self.state(now)
        if new is self._last:
            if new is EventsState.FAILING:
                self.reason = self._describe(new, now)  # the latest failure, same state
            return None
        change = StateChange(self._last, new, self._describe(new, now), now)
        self._last, self.since, self.reason = new, now, change.reason
        return change

    def _describe(self, state: EventsState, now: float) -> str:
        if state is EventsState.OFF:
            return "no events source configured"
        if state is EventsState.STARTING:
            return "waiting for the first read"
        if state is EventsState.FAILING:
            return self._failure_text()
        if state is EventsState.SILENT:
            return f"no event about run {self.overdue(now)} within {self.silence_seconds:g}s of its creation"
        return "events arrive"

    def _failure_text(self) -> str:
        if not self._failures:
            return "reading events failed"
        if len(self._failures) == 1:
            return next(iter(self._failures.values()))[0]
        # The most recent failure, and how many sources fail.
        reason, _ = max(self._failures.values(), key=lambda failure: failure[1])
        return f"{reason} (and {len(self._failures) - 1} more partition(s) failing)"
