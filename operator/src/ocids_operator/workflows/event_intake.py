"""Where every OCI event lands, from the stream (workflows/events.py) and the Notifications endpoint
(workflows/notifications.py) alike: dedupe -> the followed run -> one confirming read.

An event is only a hint. It is deduped by eventID; its resourceId must be a run the poller follows,
in the compartment the event names; only the end types (OCIDS_EVENTS_RUN_END_TYPES) ask for a read
(`RunPoller.confirm`), and the read, not the event, decides what status says. A forged, replayed or
stale event costs at most that read and never writes a phase the read did not show. Every job-run
event also feeds the events' health (core/events_health.py), which decides how slowly runs are polled.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from .. import metrics
from ..core.event_hints import InvalidEvent, SeenEvents, announces_end, is_run_event, parse_envelope
from ..core.events_health import EventsHealth, EventsState, StateChange
from ..settings import OperatorSettings

log = logging.getLogger(__name__)


class EventSource(enum.StrEnum):
    STREAM = "stream"
    NOTIFICATIONS = "notifications"


class IntakeOutcome(enum.StrEnum):
    HINT = "Hint"  # an end of a followed run: one confirming read queued
    DUPLICATE = "Duplicate"  # its eventID was taken before
    UNFOLLOWED = "Unfollowed"  # an end of a run the operator does not follow (ended, or not ours)
    MISMATCH = "Mismatch"  # a followed run, but the event names another compartment
    NO_READ = "NoRead"  # a job-run event that is not an end (or not a job-run event): proof of flow only
    INVALID = "Invalid"  # not an envelope the operator can read


class HintReader(Protocol):
    """What the intake needs of the poller (workflows/run_poller.RunPoller)."""

    def followed_compartment(self, run_id: str) -> str | None: ...

    def confirm(self, run_id: str) -> bool: ...

    def end_announced(self, run_id: str) -> None: ...

    def set_events_health(self, health: EventsHealth | None) -> None: ...

    def events_changed(self, change: StateChange) -> None: ...

    def following(self) -> bool: ...

    async def until_following(self) -> None: ...


class EventIntake:
    def __init__(
        self,
        settings: OperatorSettings,
        poller: HintReader,
        sources: frozenset[EventSource],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._poller = poller
        self._clock = clock
        self.sources = sources
        self.health = EventsHealth(bool(sources), settings.events_silence_seconds, clock())
        self.seen = SeenEvents()
        self._listeners: list[Callable[[StateChange], object]] = []
        metrics.EVENTS_STATE.labels(self.health.state(clock()).value).set(1)
        poller.set_events_health(self.health if sources else None)

    @property
    def source_label(self) -> str:
        """`stream`, `notifications`, `both` or `` (none): what the status ConfigMap says."""
        if len(self.sources) > 1:
            return "both"
        return next(iter(self.sources)).value if self.sources else ""

    def on_change(self, listener: Callable[[StateChange], object]) -> None:
        self._listeners.append(listener)

    def offer(self, doc: Mapping[str, Any], source: EventSource) -> IntakeOutcome:
        """Take one event envelope (a hint). Never waits on OCI: a read it asks for runs later."""
        try:
            outcome = self._take(doc, source)
        except Exception:  # one event that breaks something is dropped alone, never the source
            log.exception("event ignored: it could not be handled")
            outcome = IntakeOutcome.INVALID
        metrics.EVENTS_RECEIVED.labels(source.value, outcome.value).inc()
        self.check()
        return outcome

    def _take(self, doc: Mapping[str, Any], source: EventSource) -> IntakeOutcome:
        try:
            hint = parse_envelope(doc)
        except InvalidEvent as exc:
            log.debug("event ignored: %s", exc)
            return IntakeOutcome.INVALID
        now = self._clock()
        if not self.seen.first_time(hint.event_id, now):
            return IntakeOutcome.DUPLICATE
        # Proof that events flow slows polling down, so a delivery that anyone with the Notifications
        # credentials could forge proves it only when it names a run the operator just created (its
        # create events come before the run is followed) or a followed run, in that run's compartment.
        followed = self._poller.followed_compartment(hint.resource_id)
        if (
            source is EventSource.STREAM
            or self.health.expecting(hint.resource_id)
            or (followed is not None and followed == hint.compartment_id)
        ):
            self.health.message(now)
        if not is_run_event(hint.event_type):
            return IntakeOutcome.NO_READ
        self.health.met(hint.resource_id)
        if not announces_end(hint.event_type, self._settings.events_run_end_types):
            return IntakeOutcome.NO_READ
        compartment = self._poller.followed_compartment(hint.resource_id)
        if compartment is None:
            self._poller.end_announced(hint.resource_id)  # polling found it first: not a missed end
            return IntakeOutcome.UNFOLLOWED
        if compartment != hint.compartment_id:
            log.warning(
                "event %s names run %s in compartment %s, which the operator follows in %s: no read",
                hint.event_id,
                hint.resource_id,
                hint.compartment_id,
                compartment,
            )
            return IntakeOutcome.MISMATCH
        return IntakeOutcome.HINT if self._poller.confirm(hint.resource_id) else IntakeOutcome.UNFOLLOWED

    # What the stream consumer reports ----------------------------------------------------------------
    def read_ok(self, source: str = "") -> None:
        """A read of `source` (a stream partition; "" when there is one) succeeded."""
        self.health.read_ok(self._clock(), source)
        self.check()

    def read_failed(self, reason: str, source: str = "") -> None:
        self.health.read_failed(self._clock(), reason, source)
        self.check()

    def following(self) -> bool:
        """Whether any run is followed (else no event could matter: the stream is not read)."""
        return self._poller.following()

    async def until_following(self) -> None:
        await self._poller.until_following()

    def expect(self, run_id: str) -> None:
        """The operator created `run_id`: its create event must come (else the events are silent)."""
        self.health.expect(run_id, self._clock())

    def state(self) -> EventsState:
        return self.health.state(self._clock())

    def check(self) -> StateChange | None:
        """Note a change of state (also called each second: silence comes with time alone)."""
        change = self.health.change(self._clock())
        if change is None:
            return None
        log.log(
            logging.INFO if change.new in (EventsState.HEALTHY, EventsState.STARTING) else logging.WARNING,
            "events: %s -> %s: %s",
            change.old.value.lower(),
            change.new.value.lower(),
            change.reason,
        )
        for state in EventsState:
            metrics.EVENTS_STATE.labels(state.value).set(1 if state is change.new else 0)
        self._poller.events_changed(change)
        for listener in self._listeners:
            listener(change)
        return change
