"""One poller per compartment (and OCI identity) follows every non-terminal run the operator tracks.

Each cycle reads the compartment's runs newest first, down to the creation of the oldest run it
follows, when that fits in the pages the per-state lists would cost; otherwise it lists the
non-terminal states and looks for the runs those miss (they ended) with a capped newest-first
read (poller_reads.py). Either way a run's end is learned from a list, not from a GET of its
own; a run gets one GET only when no list page would answer for it for less, and when it changes
state before its log details are known (summaries carry none). Status updates of one cycle are
written a few at a time, so a thousand runs ending together reach their resources within the cycle.

Runs are listed with the OCI identity that created them (adapters/oci_identities.py): each
(identity, compartment) has its own poller, so a team's lists are what its own policies allow.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import logging
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from .. import metrics
from ..adapters.kube import KubeClient
from ..adapters.oci_client import DataScience
from ..adapters.oci_identities import OPERATOR, Identities, IdentityKey
from ..api import TrainingJobRunStatus
from ..api.run_policies import MetricStatus, RetryPolicy
from ..core import conditions as cond
from ..core.cost import ended_cost
from ..core.events_health import EventsHealth, EventsState, StateChange
from ..core.followed_status import followed_status
from ..core.kinds import TRAINING_JOB_RUN_KIND
from ..core.phases import ACTIVE_RUN_PHASES, BUSY_RUN_STATES, RunPhase, RunState, goes_back
from ..core.retry import after_attempt, retry_event
from ..core.run_plan import RunView, is_terminal
from ..core.run_status import duration_seconds, log_tail, phase_event, run_status
from ..core.status_patch import StatusPatch
from ..core.times import parse_time
from ..settings import OperatorSettings
from .poller_reads import CompartmentReader, states_to_list
from .run_metrics import (
    DRAIN_SECONDS,
    MetricReading,
    RunMetrics,
    end_known_since,
    log_group_compartment,
    may_have_logged,
)
from .run_status_writer import RunStatusWriter

__all__ = [
    "MAX_RUN_FAILURES",
    "RunPoller",
    "TickPlan",
    "TrackedRun",
    "has_news",
    "next_delay",
    "next_interval",
    "plan_tick",
    "poll_interval",
    "states_to_list",
]

log = logging.getLogger(__name__)

# A just-registered run is left alone this long, so the handler's own status write lands first.
SETTLE_SECONDS = 1.0
# A run whose own update keeps failing is retried with its own backoff (the poll interval doubled
# per failure, up to this), and let go after MAX_RUN_FAILURES in a row (about half an hour): one
# bad run never slows the others, nor stays tracked forever.
RUN_BACKOFF_CAP_SECONDS = 600.0
MAX_RUN_FAILURES = 8
# Status writes (each with its Event) in flight at once: enough that a thousand runs ending in one
# cycle are written within a second or two, few enough to leave the API client's 20 connections
# to the handlers.
APPLY_CONCURRENCY = 16


@dataclasses.dataclass(slots=True)  # thousands are followed at once: no __dict__ each
class TrackedRun:
    run_id: str
    compartment_id: str
    namespace: str
    name: str
    uid: str
    generation: int | None
    # What the poller's writes read back of status (core/followed_status.py), not all of it.
    status: dict[str, Any]
    registered_at: float
    lifecycle_state: str = RunState.ACCEPTED
    lifecycle_details: str | None = None
    logs_known: bool = False
    # False when neither the run nor its job enables logging: no GET is spent looking for logs.
    expects_logs: bool = True
    # This run's own failures in a row, and when it is looked at again (its own backoff).
    failures: int = 0
    retry_at: float = 0.0
    # When OCI accepted the run (what ListJobRuns sorts by as timeCreated); None: not known yet,
    # and no newest-first read can prove it gone.
    time_created: datetime.datetime | None = None
    # OCI answered 404 to its GET while its list showed it (IAM allows inspect, not read): it is
    # read with a list by id from then on.
    get_denied: bool = False
    # Whose OCI identity created the run, and lists and reads it.
    identity: IdentityKey = OPERATOR
    # A multi-node run: summaries carry no node groups, so each change a list shows is read with a GET.
    multi_node: bool = False
    # Its node groups as last written (name, state, details), to tell a GET with news from one without.
    node_groups: tuple[Any, ...] = ()
    # spec.metrics in effect (the run's, else its TrainingJob's), wire form; None: not known.
    metric_specs: tuple[dict[str, Any], ...] | None = None
    # What its log lines read so far make of them (workflows/run_metrics.py).
    metric_reading: MetricReading | None = None
    # Why metrics in effect are not read (a regex admission would reject now): told once in an Event.
    metric_problems: tuple[str, ...] = ()
    # When its metrics alone were last written (monotonic; OCIDS_METRICS_WRITE_SECONDS apart).
    metrics_written_at: float | None = None
    # An ended run whose last metric lines are still read: when that stops, final or not (monotonic).
    drain_until: float | None = None
    # spec.retryPolicy (None: none): a retryable failure waits for its retry, unless spec.cancel is set.
    retry_policy: RetryPolicy | None = None
    canceled: bool = False

    @property
    def involved(self) -> dict[str, Any]:
        return TRAINING_JOB_RUN_KIND.involved_object(
            {"name": self.name, "namespace": self.namespace, "uid": self.uid}
        )


@dataclasses.dataclass(frozen=True)
class TickPlan:
    updates: tuple[tuple[str, RunView], ...]  # runs whose listed state differs from the last known
    fetch: tuple[str, ...]  # runs that need one GET (left the lists, or logs not known yet)


def has_news(run: TrackedRun, view: RunView) -> bool:
    """Whether a read run differs from what its status already says."""
    changed = (view.lifecycle_state, view.lifecycle_details) != (run.lifecycle_state, run.lifecycle_details)
    groups_changed = bool(view.node_groups) and tuple(view.node_groups) != run.node_groups
    return changed or groups_changed or bool(view.log_id and not run.logs_known)


def plan_tick(tracked: Mapping[str, TrackedRun], listed: Mapping[str, RunView], cutoff: float) -> TickPlan:
    """Pure: compare the listed states with what each tracked run was last seen as.

    Runs registered after `cutoff` (the moment listing began, minus a settle time) are skipped:
    they may not be in lists taken before they existed.
    """
    updates: list[tuple[str, RunView]] = []
    fetch: list[str] = []
    for run_id, run in tracked.items():
        if run.registered_at > cutoff:
            continue
        view = listed.get(run_id)
        if view is None:
            fetch.append(run_id)
            continue
        changed = (view.lifecycle_state, view.lifecycle_details) != (
            run.lifecycle_state,
            run.lifecycle_details,
        )
        awaiting_logs = run.expects_logs and not run.logs_known
        if changed and awaiting_logs and view.lifecycle_state != run.lifecycle_state:
            fetch.append(run_id)  # a summary carries no logDetails: read the run once per state change
        elif changed and run.multi_node:
            fetch.append(run_id)  # nor node groups: a multi-node run is read on each change
        elif changed:
            updates.append((run_id, view))
    return TickPlan(tuple(updates), tuple(fetch))


def next_interval(tracked: Iterable[TrackedRun], settings: OperatorSettings, now: float) -> float:
    """Fast while any run is starting, stopping, or young; slow once all are long-running."""
    for run in tracked:
        if (
            run.lifecycle_state in BUSY_RUN_STATES
            or now - run.registered_at < settings.poll_fast_window_seconds
        ):
            return settings.poll_interval_seconds
    return settings.poll_slow_interval_seconds


def poll_interval(
    tracked: Iterable[TrackedRun],
    settings: OperatorSettings,
    now: float,
    events_healthy: bool,
    unread: bool = False,
) -> float:
    """While events are healthy they bring the ends: the compartment is polled only as a fallback
    (OCIDS_EVENTS_POLL_INTERVAL_SECONDS), fast only while a run is ACCEPTED, since OCI emits no event
    when a run starts, or while a followed run was not read by a cycle yet (`unread`: followed again
    after a restart or a leader change, its end may have come while no one read the stream).
    Otherwise today's intervals."""
    runs = list(tracked)
    if not events_healthy:
        return next_interval(runs, settings, now)
    if unread or any(run.lifecycle_state == RunState.ACCEPTED for run in runs):
        return settings.poll_interval_seconds
    return max(settings.events_poll_interval_seconds, settings.poll_interval_seconds)


def next_delay(interval: float, failures: int, since_last_start: float) -> float:
    """Wait before the next cycle, counted from the last one's start: a long cycle does not push
    the next one back, so a run's end reaches its status within an interval plus one cycle."""
    return max(min(interval * 2**failures, 600.0) - since_last_start, 0.0)


def metric_models(values: Sequence[Mapping[str, Any]]) -> list[MetricStatus]:
    return [MetricStatus.model_validate(value) for value in values]


# A poller's key: the identity that lists, and the compartment it lists.
PollKey = tuple[IdentityKey, str]


class RunPoller:
    """Owns the tracked runs and one asyncio task per (identity, compartment) that has any."""

    def __init__(
        self,
        settings: OperatorSettings,
        gateway: DataScience,
        kube: KubeClient,
        clock: Callable[[], float] = time.monotonic,
        identities: Identities | None = None,
    ) -> None:
        self._settings = settings
        self._gateway = gateway
        self._identities = identities
        self._kube = kube
        self._status = RunStatusWriter(kube)
        self._clock = clock
        self.metrics = RunMetrics(overlap_ms=int(settings.metrics_ingestion_lag_seconds * 1000))
        self._runs: dict[str, TrackedRun] = {}
        # Ended runs whose last metric lines are still read (workflows/run_metrics.py): not followed
        # in OCI any more, only in their compartment's one Logging search a cycle.
        self._draining: dict[str, TrackedRun] = {}
        self._problems_told: set[str] = set()  # runs whose unreadable metrics an Event named
        self._telling: set[asyncio.Task[None]] = set()
        self._tasks: dict[PollKey | str, asyncio.Task[None]] = {}  # str: a run id (PerRunPoller)
        self._wake: dict[PollKey, asyncio.Event] = {}
        self.reader = CompartmentReader(gateway)  # the operator identity's
        self._readers: dict[IdentityKey, tuple[DataScience, CompartmentReader]] = {}
        self._batching = 0  # cycles writing right now (compartments poll concurrently)
        # OCI Events (workflows/event_intake.py): their health sets the interval; end hints are
        # collected per compartment for events_confirm_batch_seconds, then confirmed with one read.
        self._events: EventsHealth | None = None
        self._hints: dict[PollKey, set[str]] = {}
        self._hint_tasks: dict[PollKey, asyncio.Task[None]] = {}
        self._cycle_now: set[PollKey] = set()  # loops asked to cycle at once (a batch of hints)
        # ... whose next cycle confirms these hinted runs (its pages count as confirming reads)
        self._confirm_cycles: dict[PollKey, set[str]] = {}
        # Runs registered up to this moment were read by the compartment's last cycle.
        self._read_upto: dict[PollKey, float] = {}
        # One writer per run: a hint's read and the cycle's may both answer for it (run id -> the
        # lock and how many hold or wait for it; gone when none does).
        self._writers: dict[str, tuple[asyncio.Lock, list[int]]] = {}
        self._followed = asyncio.Event()  # set while any run is followed (the stream is read)
        self._cycle_cost: dict[PollKey, int] = {}  # OCI calls the compartment's last cycle made
        self._waiting: dict[PollKey, float] = {}  # how long each loop sleeps right now
        self._announced: set[str] = set()  # followed runs an end event named
        # Ends polling found that no event named yet (run id -> when): missed, unless one comes soon.
        self._unannounced: dict[str, float] = {}
        self.last_cycle: float | None = None
        self.cycles = 0

    # Registration ---------------------------------------------------------------------------------
    def track(self, run: TrackedRun) -> None:
        run.registered_at = self._clock()
        run.status = followed_status(run.status)
        run.compartment_id, run.namespace = sys.intern(run.compartment_id), sys.intern(run.namespace)
        if is_terminal(run.status.get("phase")):  # ended before its final metrics were read (restart)
            self._resume_draining(run)
            return
        run.time_created = run.time_created or parse_time(run.status.get("timeAccepted"))
        old = self._runs.get(run.run_id)
        if old is not None:
            run.lifecycle_state, run.lifecycle_details = old.lifecycle_state, old.lifecycle_details
            run.logs_known = run.logs_known or old.logs_known
            run.get_denied = run.get_denied or old.get_denied
            run.node_groups = run.node_groups or old.node_groups
            run.time_created = old.time_created or run.time_created  # may be OCI's own, finer than status
            run.metric_reading = old.metric_reading
            run.metric_specs = old.metric_specs if run.metric_specs is None else run.metric_specs
            old.canceled = old.canceled or run.canceled  # an update in flight with it must not retry
        self._runs[run.run_id] = run
        self._followed.set()
        if run.metric_problems and run.uid not in self._problems_told:
            self._problems_told.add(run.uid)
            self._tell_metric_problems(run)
        metrics.TRACKED_RUNS.set(len(self._runs))
        self._refresh_phase_gauge()
        self._follow(run)

    def _tell_metric_problems(self, run: TrackedRun) -> None:
        """A metric that cannot be read is left out (the others are read): said once, as an Event."""
        message = "; ".join(run.metric_problems) + " (this metric is not read)"
        log.warning("TrainingJobRun %s/%s: %s", run.namespace, run.name, message)
        with contextlib.suppress(RuntimeError):  # no running loop (unit tests of registration)
            task = asyncio.get_running_loop().create_task(
                self._kube.post_event(run.involved, "Warning", "InvalidMetric", message[:1024])
            )
            self._telling.add(task)  # held until done (the loop keeps only weak references)
            task.add_done_callback(self._telling.discard)

    def untrack(self, run_id: str) -> None:
        self._runs.pop(run_id, None)
        self._announced.discard(run_id)
        self._draining.pop(run_id, None)
        metrics.TRACKED_RUNS.set(len(self._runs))
        self._refresh_phase_gauge()

    def tracked(
        self, compartment_id: str | None = None, identity: IdentityKey | None = None
    ) -> dict[str, TrackedRun]:
        return {
            run_id: run
            for run_id, run in self._runs.items()
            if (compartment_id is None or run.compartment_id == compartment_id)
            and (identity is None or run.identity == identity)
        }

    def draining(self, compartment_id: str, identity: IdentityKey = OPERATOR) -> dict[str, TrackedRun]:
        return {
            run_id: run
            for run_id, run in self._draining.items()
            if run.compartment_id == compartment_id and run.identity == identity
        }

    def _gateway_of(self, identity: IdentityKey) -> DataScience:
        """The identity's OCI client (built by the handler that registered its runs)."""
        known = self._identities.known(identity) if self._identities is not None else None
        return known.oci if known is not None and not identity.is_operator else self._gateway

    def _reader_of(self, identity: IdentityKey) -> CompartmentReader:
        if identity.is_operator:
            return self.reader
        gateway = self._gateway_of(identity)
        known = self._readers.get(identity)
        if known is None or known[0] is not gateway:  # first use, or the identity was rebuilt
            known = self._readers[identity] = (gateway, CompartmentReader(gateway))
        return known[1]

    def _follow(self, run: TrackedRun) -> None:
        key = (run.identity, run.compartment_id)
        if self._waiting.get(key, 0.0) > self._settings.poll_interval_seconds:
            self._wake[key].set()  # a slow sleep: a new run may need the fast interval
        self._ensure_task(run.compartment_id, run.identity)

    def _ensure_task(self, compartment_id: str, identity: IdentityKey = OPERATOR) -> None:
        key = (identity, compartment_id)
        task = self._tasks.get(key)
        if task is not None and not task.done():
            return
        with contextlib.suppress(RuntimeError):  # no running loop (unit tests of registration)
            self._wake[key] = asyncio.Event()
            self._tasks[key] = asyncio.get_running_loop().create_task(
                self._loop(compartment_id, identity), name=f"ocids-poller:{compartment_id[-12:]}"
            )

    async def stop(self) -> None:
        tasks = list(self._tasks.values()) + list(self._hint_tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._hint_tasks.clear()

    # OCI Events ----------------------------------------------------------------------------------
    def set_events_health(self, health: EventsHealth | None) -> None:
        self._events = health

    def events_healthy(self) -> bool:
        return self._events is not None and self._events.healthy(self._clock())

    def events_changed(self, change: StateChange) -> None:
        """Away from Healthy: every loop sleeping the slow fallback looks again at once (the fast
        interval then applies, counted from its last cycle). Back to Healthy: each slows down after
        its next cycle."""
        if change.old is EventsState.HEALTHY:
            for wake in self._wake.values():
                wake.set()

    def following(self) -> bool:
        return bool(self._runs)

    async def until_following(self) -> None:
        """Returns once any run is followed (at once if one is)."""
        while not self._runs:
            self._followed.clear()
            await self._followed.wait()

    def expect_event(self, run_id: str) -> None:
        """The operator just created `run_id`: with events on, its create event must follow."""
        if self._events is not None:
            self._events.expect(run_id, self._clock())

    def followed_compartment(self, run_id: str) -> str | None:
        run = self._runs.get(run_id)
        return None if run is None else run.compartment_id

    def confirm(self, run_id: str) -> bool:
        """An event says this followed run ended: read it (with the other hints of its compartment
        collected meanwhile) and write what the read shows. False when the run is not followed."""
        run = self._runs.get(run_id)
        if run is None:
            return False
        self._announced.add(run_id)
        key = (run.identity, run.compartment_id)
        self._hints.setdefault(key, set()).add(run_id)
        if key not in self._hint_tasks:
            with contextlib.suppress(RuntimeError):  # no running loop (unit tests of registration)
                self._hint_tasks[key] = asyncio.get_running_loop().create_task(
                    self._confirm_soon(key), name=f"ocids-hints:{run.compartment_id[-12:]}"
                )
        return True

    def end_announced(self, run_id: str) -> None:
        """An end event named a run no longer followed: if polling found that end, it was not missed."""
        self._unannounced.pop(run_id, None)

    def count_missed(self, now: float) -> None:
        """Ends polling found that no event named within OCIDS_EVENTS_SILENCE_SECONDS: missed."""
        wait = self._settings.events_silence_seconds
        for run_id, found in list(self._unannounced.items()):
            if now - found < wait:
                break
            del self._unannounced[run_id]
            metrics.EVENTS_MISSED_ENDS.inc()

    async def _confirm_soon(self, key: PollKey) -> None:
        """The compartment's hints, in batches, until none is left. The task stays registered while
        it reads and writes, so stop() cancels it (no write after the clients closed) and hints that
        come meanwhile join its next batch."""
        try:
            while self._hints.get(key):
                await asyncio.sleep(self._settings.events_confirm_batch_seconds)
                await self._confirm_batch(key, self._hints.pop(key, set()))
        finally:
            self._hint_tasks.pop(key, None)

    async def _confirm_batch(self, key: PollKey, hinted: set[str]) -> None:
        now = self._clock()
        runs = [run_id for run_id in hinted if run_id in self._runs]
        if not runs:
            return
        cost = self._cycle_cost.get(key)
        task = self._tasks.get(key)
        due = all(self._runs[run_id].retry_at <= now for run_id in runs) and all(
            self._runs[run_id].registered_at <= now - SETTLE_SECONDS for run_id in runs
        )
        if cost is not None and cost <= len(runs) and due and task is not None and not task.done():
            # The compartment's own cycle answers them all for no more calls than their GETs.
            self._confirm_cycles.setdefault(key, set()).update(runs)
            self._cycle_now.add(key)
            self._wake[key].set()
            return
        await self._ready(key[0])
        metrics.EVENTS_CONFIRM_READS.inc(len(runs))
        await self._bounded([self._fetch_and_apply(run_id, None) for run_id in runs])
        self._unconfirmed(runs)

    def _unconfirmed(self, run_ids: Iterable[str]) -> None:
        """Hinted runs the confirming read did not show ended: the event did not announce an end
        (forged, stale, or ahead of OCI's reads), so polling that finds the end counts it missed."""
        for run_id in run_ids:
            if run_id in self._runs:
                self._announced.discard(run_id)

    def _refresh_phase_gauge(self) -> None:
        if self._batching:  # counted once when the cycle's writes are done, not once per run
            return
        counts: dict[str, int] = {}
        for run in self._runs.values():
            phase = str(run.status.get("phase") or RunPhase.ACCEPTED)
            counts[phase] = counts.get(phase, 0) + 1
        for active in sorted(ACTIVE_RUN_PHASES):
            metrics.RUNS_BY_PHASE.labels(active.value).set(counts.get(active, 0))

    # The loop ------------------------------------------------------------------------------------
    async def _loop(self, compartment_id: str, identity: IdentityKey = OPERATOR) -> None:
        key = (identity, compartment_id)
        failures = 0
        started = self._clock()
        while True:
            runs = self.tracked(compartment_id, identity)
            if not runs and not self.draining(compartment_id, identity):
                self._tasks.pop(key, None)
                self._read_upto.pop(key, None)
                self._reader_of(identity).forget(compartment_id)
                return
            now = self._clock()
            read_upto = self._read_upto.get(key)
            unread = any(
                read_upto is None or (run.registered_at > read_upto and run.retry_at <= now)
                for run in runs.values()
            )
            interval = (
                poll_interval(runs.values(), self._settings, now, self.events_healthy(), unread)
                if runs
                else self._settings.poll_interval_seconds  # only final metrics left: soon over
            )
            delay = 0.0 if key in self._cycle_now else next_delay(interval, failures, self._clock() - started)
            if delay > 0:
                # Woken early (events no longer healthy, a new run, hints to confirm): the interval
                # that applies now is worked out again, from the last cycle's start.
                wake = self._wake[key]
                self._waiting[key] = delay
                metrics.POLL_WAIT.set(max(self._waiting.values()))
                # asyncio.wait, not wait_for: 3.11's wait_for swallows a cancel that meets a wake-up.
                waiter = asyncio.ensure_future(wake.wait())
                try:
                    woke, _ = await asyncio.wait({waiter}, timeout=delay)
                finally:
                    waiter.cancel()
                    self._waiting.pop(key, None)
                    metrics.POLL_WAIT.set(max(self._waiting.values(), default=0.0))
                wake.clear()
                if woke:
                    continue
            self._cycle_now.discard(key)
            started = self._clock()
            try:
                await self.cycle(compartment_id, identity)
                failures = 0
                metrics.POLL_CYCLES.labels("ok").inc()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Only the compartment's lists get here (one run's failure is that run's own): with
                # no list, no run of the compartment can be followed.
                failures = min(failures + 1, 4)
                metrics.POLL_CYCLES.labels("error").inc()
                log.warning(
                    "polling runs in %s as %s failed (%s: %s); backing off",
                    compartment_id,
                    identity,
                    type(exc).__name__,
                    exc,
                )

    async def _ready(self, identity: IdentityKey) -> None:
        """A workload identity's ServiceAccount token kept fresh (minted on the loop, not in the SDK)."""
        if self._identities is not None and not identity.is_operator:
            await self._identities.get(identity)

    async def cycle(self, compartment_id: str, identity: IdentityKey = OPERATOR) -> None:
        """One poll of one compartment. Public so tests and the benchmark can drive it directly."""
        runs = self.tracked(compartment_id, identity)
        draining = self.draining(compartment_id, identity)
        if not runs and not draining:
            return
        await self._ready(identity)
        cutoff = self._clock() - SETTLE_SECONDS
        # Runs in their own backoff, and runs too new to be in lists taken now, are not asked about.
        due = {
            run_id: run
            for run_id, run in runs.items()
            if run.retry_at <= self._clock() and run.registered_at <= cutoff
        }
        seen: Mapping[str, RunView] = {}
        pages, windowed = 0, False
        key = (identity, compartment_id)
        # Hints this cycle confirms: those asked for before it began (a later one waits for the next).
        confirming = self._confirm_cycles.pop(key, None)
        if due:
            reader = self._reader_of(identity)
            reading = await reader.read(compartment_id, due)
            seen, pages = reading.seen, reading.pages
            self._read_upto[key] = cutoff
            memory = reader.memory(compartment_id)
            # Newest-first windows fit here: a cycle answers ended runs too, with no GET of their own.
            windowed = reading.window is not None and memory.skip == 0 and memory.failures_skip == 0
        # ONE Logging search a cycle for every running run with metrics and every ended one whose last
        # lines are still read. It runs while the phases are written: a phase never waits on Logging.
        searched = [
            run
            for run_id, run in due.items()
            if run.metric_specs
            and may_have_logged(run, view.lifecycle_state if (view := seen.get(run_id)) else None)
        ] + list(draining.values())
        search = asyncio.ensure_future(self.metrics.read(self._gateway_of(identity), searched))
        try:
            if due:
                plan = plan_tick(due, seen, cutoff)
                work: list[Awaitable[object]] = [
                    self._apply_safely(run_id, view) for run_id, view in plan.updates
                ]
                work += [self._fetch_and_apply(run_id, seen.get(run_id)) for run_id in plan.fetch]
                pages += len(plan.fetch)
                await self._bounded(work)
        finally:
            read_ok = await search
            if windowed:
                self._cycle_cost[key] = pages + (1 if searched else 0)
            else:
                self._cycle_cost.pop(key, None)
            if confirming is not None:
                metrics.EVENTS_CONFIRM_READS.inc(pages + (1 if searched else 0))
                self._unconfirmed(confirming)
        # New values (of runs this cycle's phase writes did not cover) and the final ones of ended runs.
        await self._bounded(
            [self._write_metrics(run.run_id) for run in searched if run.run_id in self._runs]
            + [self._drain(run, read_ok) for run in searched if run.run_id in self._draining]
        )
        self.last_cycle = self._clock()
        self.cycles += 1

    async def _write_metrics(self, run_id: str) -> None:
        """A running run's new metric values, alone (no phase change), at most once per
        OCIDS_METRICS_WRITE_SECONDS per run. Under the run's writer lock, like every status write: a
        retry's write (which empties status.metrics for the next attempt) must never be overtaken by a
        metrics write of the attempt that failed."""
        async with self._writer(run_id):
            await self._write_metrics_alone(run_id)

    async def _write_metrics_alone(self, run_id: str) -> None:
        run = self._runs.get(run_id)  # read under the lock: a write meanwhile may have let it go
        values = None if run is None else self.metrics.changed(run)
        if run is None or values is None:
            return
        last = run.metrics_written_at
        if last is not None and self._clock() - last < self._settings.metrics_write_seconds:
            return
        patch = StatusPatch(TrainingJobRunStatus.model_validate({"metrics": values}))
        try:
            written = await self._status.write(run.namespace, run.name, run.uid, patch)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the next cycle writes them again: they stay in memory
            log.warning("writing the metrics of run %s failed (%s: %s)", run_id, type(exc).__name__, exc)
            return
        if not written:
            self.untrack(run_id)
            return
        run.status = {**run.status, "metrics": values}
        run.metrics_written_at = self._clock()

    @staticmethod
    def _drainable(run: TrackedRun) -> bool:
        """Whether an ended run has metric lines left to read (else its metrics are final)."""
        logs = run.status.get("logs") or {}
        return bool(run.metric_specs and logs.get("logGroupId") and logs.get("logId"))

    def _start_draining(self, run: TrackedRun, finished: datetime.datetime | None) -> bool:
        """Keep reading an ended run's metrics (its last lines may not be searchable yet)."""
        if not self._drainable(run):
            return False
        reading = run.metric_reading or MetricReading()
        reading.end_seen_ms = end_known_since(finished, self.metrics.now_ms())
        reading.final = False
        run.metric_reading = reading
        run.drain_until = self._clock() + DRAIN_SECONDS
        self._draining[run.run_id] = run
        return True

    def _resume_draining(self, run: TrackedRun) -> None:
        """A run that ended while its final metrics were still read by an earlier process."""
        if run.status.get("metricsFinal") is not False or run.run_id in self._draining:
            return
        if self._start_draining(run, parse_time(run.status.get("timeFinished"))):
            self._follow(run)

    async def _drain(self, run: TrackedRun, read_ok: bool) -> None:
        """An ended run's metrics once read past its end (or once DRAIN_SECONDS passed), with
        status.metricsFinal: written once, then the run is let go."""
        reading = run.metric_reading
        if reading is not None and reading.end_seen_ms is None:  # never marked: the overlap starts now
            reading.end_seen_ms = self.metrics.now_ms()
        final = reading is not None and reading.final and read_ok
        if not final and (run.drain_until or 0) > self._clock():
            return
        if not final:
            log.warning(
                "the last metric lines of run %s could not be read within %.0fs of its end; status.metrics "
                "keeps what was read",
                run.run_id,
                DRAIN_SECONDS,
            )
        fields: dict[str, Any] = {"metricsFinal": True}
        values = self.metrics.changed(run)
        if values is not None:
            fields["metrics"] = values
        try:
            written = await self._status.write(
                run.namespace, run.name, run.uid, StatusPatch(TrainingJobRunStatus.model_validate(fields))
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # kept: the next cycle writes it again
            log.warning(
                "writing the final metrics of run %s failed (%s: %s)", run.run_id, type(exc).__name__, exc
            )
            return
        self._draining.pop(run.run_id, None)
        if written:
            run.status = {**run.status, **fields}

    async def _bounded(self, work: Sequence[Awaitable[object]]) -> None:
        gate = asyncio.Semaphore(APPLY_CONCURRENCY)

        async def one(step: Awaitable[object]) -> None:
            async with gate:
                await step

        self._batching += 1
        try:
            await asyncio.gather(*(one(step) for step in work))
        finally:
            self._batching -= 1
            self._refresh_phase_gauge()

    async def _fetch_and_apply(self, run_id: str, listed: RunView | None) -> None:
        run = self._runs.get(run_id)
        gateway = self._gateway_of(run.identity if run is not None else OPERATOR)
        try:
            if run is not None and run.get_denied:  # IAM lets us list it, not read it: one list by id
                job_run = await self._confirm_gone(run_id, listed)
            else:
                job_run = await gateway.get_job_run(run_id) or await self._confirm_gone(run_id, listed)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # One run OCI cannot answer for right now must not hold back the others' updates.
            self._failed(run_id, f"reading OCI job run {run_id} failed: {type(exc).__name__}: {exc}")
            return
        if run is not None and not has_news(run, job_run):  # a lone run is read, not listed: no write
            run.failures, run.retry_at = 0, 0.0
            run.time_created = job_run.time_accepted or run.time_created
            await self._write_metrics(run_id)  # but for new metric values, if any
            return
        await self._apply_safely(run_id, job_run)

    async def _log_tail(self, run: TrackedRun, view: RunView) -> str | None:
        """status.logTail of a run that just ended: one Logging search, only when OCIDS_LOG_TAIL_LINES
        is set and the run's log is known. Best effort: the phase is written whatever Logging says."""
        lines = self._settings.log_tail_lines
        logs = run.status.get("logs") or {}
        log_group_id, log_id = view.log_group_id or logs.get("logGroupId"), view.log_id or logs.get("logId")
        if lines <= 0 or not log_group_id or not log_id:
            return None
        gateway = self._gateway_of(run.identity)
        compartment = await log_group_compartment(gateway, run, str(log_group_id))  # not the run's
        try:
            found = await gateway.search_run_log_tail(compartment, log_group_id, log_id, run.run_id, lines)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning(
                "reading the last log lines of run %s failed (%s %s); status.logTail left unset",
                run.run_id,
                type(exc).__name__,
                getattr(exc, "status", ""),
            )
            return None
        return log_tail(found, self._settings.log_tail_bytes)

    async def _confirm_gone(self, run_id: str, listed: RunView | None) -> RunView:
        """What a GetJobRun 404 means: OCI answers 404 for a run it denies us too (IAM), so a run
        we created is taken as deleted only once the compartment's list agrees."""
        run = self._runs.get(run_id)
        compartment = run.compartment_id if run is not None else ""
        if listed is None:
            gateway = self._gateway_of(run.identity if run is not None else OPERATOR)
            found = await gateway.list_job_runs(compartment, id=run_id)
            listed = next((view for view in found if view.id == run_id), None)
        if listed is not None and listed.state is not RunState.DELETED:
            if run is not None and not run.get_denied:
                log.warning(
                    "OCI answered 404 to GetJobRun %s, which its list still shows: following the list",
                    run_id,
                )
                run.get_denied = True
            return listed
        return RunView(run_id, None, compartment, RunState.DELETED, "the OCI job run no longer exists")

    def _failed(self, run_id: str, problem: str) -> None:
        """One more failure of this run alone: back it off, and let it go after MAX_RUN_FAILURES."""
        run = self._runs.get(run_id)
        if run is None:
            return
        run.failures += 1
        if run.failures >= MAX_RUN_FAILURES:
            log.error(
                "giving up following run %s (TrainingJobRun %s/%s) after %d failures in a row; last: %s. "
                "It is followed again when the operator restarts",
                run_id,
                run.namespace,
                run.name,
                run.failures,
                problem,
            )
            metrics.RUNS_DROPPED.inc()
            self.untrack(run_id)
            return
        delay = min(self._settings.poll_interval_seconds * 2**run.failures, RUN_BACKOFF_CAP_SECONDS)
        run.retry_at = self._clock() + delay
        log.warning("%s; this run is tried again in %.0fs", problem, delay)

    async def _apply_safely(self, run_id: str, view: RunView) -> bool:
        """One run's update; a failure (e.g. the API server answering 500) must not stop the others."""
        try:
            await self._apply(run_id, view)
            return True
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._failed(run_id, f"updating the status of run {run_id} failed: {type(exc).__name__}: {exc}")
            return False

    @contextlib.asynccontextmanager
    async def _writer(self, run_id: str) -> AsyncIterator[None]:
        lock, holders = self._writers.get(run_id) or self._writers.setdefault(run_id, (asyncio.Lock(), [0]))
        holders[0] += 1
        try:
            async with lock:
                yield
        finally:
            holders[0] -= 1
            if not holders[0]:
                self._writers.pop(run_id, None)

    async def _apply(self, run_id: str, view: RunView) -> None:
        """Write what a read shows. One writer per run at a time (a hint's read and the cycle's may
        answer together): whether the run is still followed and the read still news is decided
        under that, right before the write, so a slower older answer never overwrites a newer one."""
        async with self._writer(run_id):
            run = self._runs.get(run_id)
            if run is None or not has_news(run, view):
                return  # another read wrote it (and may have ended it) meanwhile
            await self._apply_one(run_id, run, view)

    async def _apply_one(self, run_id: str, run: TrackedRun, view: RunView) -> None:
        if goes_back(run.lifecycle_state, view.lifecycle_state):
            # Older than what status shows (a lagging list, a stale event's read): never written.
            log.info(
                "run %s read as %s after %s: an older answer, not written",
                run_id,
                view.lifecycle_state,
                run.lifecycle_state,
            )
            return
        old_phase = run.status.get("phase")
        status = run_status(view, self._gateway.region, run.status, run.generation, cond.now_rfc3339())
        if view.log_id is None and "logs" in run.status:
            status = status.without("logs")  # a summary knows no logs: keep what we wrote before
        if is_terminal(status.get("phase")) and not is_terminal(old_phase):
            tail = await self._log_tail(run, view)
            if tail is not None:
                status = status.with_fields(log_tail=tail)
        if run.metric_specs and (values := self.metrics.changed(run)) is not None:
            status = status.with_fields(metrics=metric_models(values))
        now = datetime.datetime.now(datetime.UTC)
        status = after_attempt(
            run.status, status, run.retry_policy, now, run.generation, canceled=run.canceled
        )
        drains = False
        if is_terminal(status.get("phase")) and not status.get("nextAttemptAt"):
            if view.log_id and not (run.status.get("logs") or {}).get(
                "logId"
            ):  # ended before a write showed it
                run.status = {**run.status, "logs": {"logGroupId": view.log_group_id, "logId": view.log_id}}
            drains = self._drainable(run)
            status = status.with_fields(metrics_final=not drains)
            if (cost := ended_cost(run.status, status, now)) is not None:
                status = status.with_fields(cost=cost)
        if not await self._status.write(
            run.namespace, run.name, run.uid, status
        ):  # the TrainingJobRun is gone
            self.untrack(run_id)
            return
        # Remember what OCI said only once it is written, so a failed patch is retried next cycle.
        run.failures, run.retry_at = 0, 0.0
        run.lifecycle_state, run.lifecycle_details = view.lifecycle_state, view.lifecycle_details
        run.logs_known = run.logs_known or bool(view.log_id)
        run.node_groups = tuple(view.node_groups) or run.node_groups
        run.time_created = view.time_accepted or run.time_created  # OCI's, to the millisecond
        run.status = followed_status({**run.status, **status})
        event = retry_event(status) or phase_event(old_phase, view)
        if event is not None:
            await self._kube.post_event(run.involved, *event)
        if is_terminal(status.get("phase")):
            if self._events is not None and run_id not in self._announced:
                self._unannounced[run_id] = self._clock()  # missed, unless an end event comes soon
            self._announced.discard(run_id)
            seconds = duration_seconds(view)
            if seconds is not None:
                metrics.RUN_DURATION.labels(status["phase"]).observe(seconds)
            self._runs.pop(run_id, None)  # not followed any more; its final metrics may still be read
            if drains:
                self._start_draining(run, view.time_finished)
            metrics.TRACKED_RUNS.set(len(self._runs))
            self._refresh_phase_gauge()
        elif status.get("nextAttemptAt"):  # this OCI run ended; the retry will be a new one
            self.untrack(run_id)
        else:
            self._refresh_phase_gauge()
