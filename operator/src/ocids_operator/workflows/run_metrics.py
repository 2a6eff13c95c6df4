"""status.metrics of TrainingJobRuns, read from their logs through OCI Logging search.

The poller asks once per cycle per (identity, compartment): ONE search (a few pages at most) over
the logs of every followed run that has metrics, running or just ended, its lines split by source
(core/metric_lines.py). Each run remembers, in memory, up to when its lines were read and the ids of
the lines it counted near that mark, so the next window overlaps the last one (lines Logging ingests
a little late are still found) without any line counted twice.

A run that ended stays in that search until a read that reached the end began OVERLAP after this
process first knew of the end (its last lines, e.g. a final `test accuracy=`, are the likeliest not
ingested yet when OCI says it finished), or until DRAIN_SECONDS passed: then its values are final
(status.metricsFinal). The overlap is counted on the operator's own clock, from a moment no earlier
than the end itself: OCI's timeFinished against the local clock would shorten it by any skew (it
is used only where it proves the end older, allowing for AHEAD_MS of skew: after a restart).

After a restart a run's lines are read again from its start (status cannot say which lines were
counted): while those reads stop at their page cap, status is not rewound; once one reads to the
end, its values are the run's (a retry's new OCI run starts its metrics afresh this way too). A run
that started longer ago than Logging can search (14 days) goes on from what status shows instead.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ..adapters.oci_client import DataScience
from ..core.metric_lines import (
    LogLine,
    RunLog,
    is_ocid,
    merge,
    never_backwards,
    observed,
    run_of,
    runs_search_query,
)
from ..core.phases import RunState
from ..core.run_plan import is_terminal
from ..core.times import parse_time

if TYPE_CHECKING:
    from .run_poller import TrackedRun

log = logging.getLogger(__name__)

# Each window starts this long before where the last one ended: lines ingested up to this late
# (stamped earlier than lines already read) are still counted; an ended run's values are final once a
# read covered this long past its end. OCIDS_METRICS_INGESTION_LAG_SECONDS sets it.
OVERLAP_MS = 30_000
# Records a page asks for (Logging's maximum), and pages one search reads at most: a cycle never
# spends more than this on metrics; what is left is read by the next. A search for a run read for
# the first time (a new run, or every run after a restart) may read more, so a restart's catch-up
# does not hold back the live runs' values for many cycles.
PAGE_LIMIT = 1000
MAX_PAGES = 5
CATCH_UP_PAGES = 20
# Logging searches a window of at most 14 days.
MAX_WINDOW_MS = (14 * 24 * 3600 - 3600) * 1000
# Lines stamped a little after the operator's clock (OCI's clock ahead) are still in the window.
AHEAD_MS = 5 * 60 * 1000
# An ended run's metrics are read at most this long after its end; then what was read is final.
DRAIN_SECONDS = 300.0


@dataclasses.dataclass
class MetricReading:
    """What one run's lines read so far make of its metrics (kept in memory only)."""

    values: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    since_ms: int | None = None  # lines up to here were read (None: nothing yet, start at the run's start)
    recent: dict[str, int] = dataclasses.field(
        default_factory=dict
    )  # counted lines near since_ms: key -> time
    # The last search stopped at its page cap: the next starts right at since_ms (no overlap, or a
    # log denser than the cap would be read from the same place again and again).
    capped: bool = False
    # Lines stamped at or before this were counted by an earlier process (values seeded from status).
    counted_until_ms: int | None = None
    # When this process first knew the run had ended (its own wall clock, epoch ms); final: a
    # complete read began OVERLAP after that.
    end_seen_ms: int | None = None
    final: bool = False


def run_log(run: TrackedRun, compartment_id: str | None = None) -> RunLog | None:
    """Where the run logs; `compartment_id` is its log group's (it may differ from the run's)."""
    logs = run.status.get("logs") or {}
    group, log_id = str(logs.get("logGroupId") or ""), str(logs.get("logId") or "")
    compartment = compartment_id or run.compartment_id
    if not run.metric_specs or not all(is_ocid(v) for v in (group, log_id, run.run_id, compartment)):
        return None
    return RunLog(run.run_id, compartment, group, log_id)


def may_have_logged(run: TrackedRun, listed_state: str | None) -> bool:
    """A run OCI still shows as accepted has not started: its log is empty."""
    return run.lifecycle_state != RunState.ACCEPTED or (
        listed_state is not None and listed_state != RunState.ACCEPTED
    )


def _line_key(line: LogLine) -> str:
    # Without a record id, two nodes printing the same line in the same millisecond stay two lines.
    return line.id or f"{line.source}|{line.time_ms}|{line.message}"


def _start_ms(run: TrackedRun, now_ms: int) -> int:
    started = run.time_created or parse_time(run.status.get("timeAccepted"))
    return int(started.timestamp() * 1000) - 1000 if started else now_ms - MAX_WINDOW_MS


def _first_reading(run: TrackedRun, now_ms: int, overlap_ms: int = OVERLAP_MS) -> MetricReading:
    """A run not read yet by this process. One whose start Logging can no longer search goes on
    from what status shows (re-read from the window's start, its steps would go back)."""
    if _start_ms(run, now_ms) >= now_ms - MAX_WINDOW_MS:
        return MetricReading()
    shown = [dict(m) for m in run.status.get("metrics") or []]
    stamps = [parse_time(m.get("updatedAt")) for m in shown]
    last = max((int(at.timestamp() * 1000) for at in stamps if at is not None), default=None)
    if last is None:
        return MetricReading()
    return MetricReading(values=shown, since_ms=last + overlap_ms, counted_until_ms=last)


async def log_group_compartment(gateway: DataScience, run: TrackedRun, log_group_id: str) -> str:
    """The compartment of the run's log group (a shared logging compartment is common): what a
    Logging search must name. Read once per log group (cached by the client); the run's own
    compartment when it cannot be read."""
    try:
        found = await gateway.compartment_of(log_group_id)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.warning("reading log group %s failed (%s); searching the run's compartment", log_group_id, exc)
        return run.compartment_id
    return found or run.compartment_id


class RunMetrics:
    """Reads metric lines for the poller; never raises (a failed search leaves metrics as they were)."""

    def __init__(self, wall_ms: Callable[[], int] | None = None, overlap_ms: int = OVERLAP_MS) -> None:
        self._wall_ms = wall_ms or (lambda: int(time.time() * 1000))
        self._overlap_ms = overlap_ms

    def now_ms(self) -> int:
        return self._wall_ms()

    def changed(self, run: TrackedRun) -> list[dict[str, Any]] | None:
        """The metrics to write for this run, or None: unchanged, or (after a restart) not caught up."""
        reading = run.metric_reading
        if reading is None or not observed(reading.values):
            return None
        written = list(run.status.get("metrics") or [])
        if reading.values == written or (reading.capped and not never_backwards(written, reading.values)):
            return None  # unchanged, or still catching up with what an earlier process wrote
        return reading.values

    async def read(self, gateway: DataScience, runs: Sequence[TrackedRun]) -> bool:
        """ONE search over these runs' logs; each run's reading moves on with the lines found.
        False when the search failed (nothing moved on)."""
        logs: dict[str, tuple[TrackedRun, RunLog]] = {}
        for run in runs:
            group = str((run.status.get("logs") or {}).get("logGroupId") or "")
            if not run.metric_specs or not is_ocid(group):
                continue
            where = run_log(run, await log_group_compartment(gateway, run, group))
            if where is not None:
                logs[run.run_id] = (run, where)
        if not logs:
            return True
        now_ms = self._wall_ms()
        readings: dict[str, MetricReading] = {}
        for run_id, (run, _) in logs.items():
            # Attached before the search: a run found ended while it runs is marked on this same
            # reading (a reading attached after would not know the end).
            reading = run.metric_reading or _first_reading(run, now_ms, self._overlap_ms)
            run.metric_reading = readings[run_id] = reading
        start_ms = min(
            _start_ms(logs[run_id][0], now_ms)
            if reading.since_ms is None
            else _resume_ms(reading, self._overlap_ms)
            for run_id, reading in readings.items()
        )
        start_ms = max(start_ms, now_ms - MAX_WINDOW_MS)
        catching_up = any(reading.since_ms is None for reading in readings.values())
        max_pages = CATCH_UP_PAGES if catching_up else MAX_PAGES
        query = runs_search_query([where for _, where in logs.values()])
        found: dict[str, list[LogLine]] = {run_id: [] for run_id in logs}
        newest: int | None = None
        page: str | None = None
        pages = 0
        try:
            while True:
                lines, page = await gateway.search_logs_page(
                    query, _moment(start_ms), _moment(now_ms + AHEAD_MS), page, PAGE_LIMIT
                )
                pages += 1
                for line in lines:
                    source_run = run_of(line.source, found.keys())
                    if source_run is not None:
                        found[source_run].append(line)
                    newest = line.time_ms if newest is None else max(newest, line.time_ms)
                if not page or pages >= max_pages:
                    break
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning(
                "reading metrics of %d run(s) from OCI Logging failed (%s %s); status.metrics is updated "
                "at a later poll",
                len(logs),
                type(exc).__name__,
                getattr(exc, "status", ""),
            )
            return False
        complete = not page
        mark = now_ms if complete else newest
        for run_id, (run, _) in logs.items():
            try:
                self._move_on(run, readings[run_id], found[run_id], mark, complete, now_ms)
            except Exception as exc:  # one run's metrics must never stop the others' (nor the cycle)
                log.warning("reading the metrics of run %s failed (%s: %s)", run_id, type(exc).__name__, exc)
        return True

    def _move_on(
        self,
        run: TrackedRun,
        reading: MetricReading,
        lines: Sequence[LogLine],
        mark: int | None,
        complete: bool,
        now_ms: int,
    ) -> None:
        fresh = self._not_counted(reading, lines)
        values = merge(reading.values, run.metric_specs or (), fresh)
        reading.values = values
        if mark is not None:
            reading.since_ms = max(reading.since_ms or mark, mark)
        for line in fresh:
            reading.recent[_line_key(line)] = line.time_ms
        if reading.since_ms is not None:
            floor = reading.since_ms - self._overlap_ms
            reading.recent = {key: at for key, at in reading.recent.items() if at >= floor}
        reading.capped = not complete
        if reading.end_seen_ms is None and is_terminal(run.status.get("phase")):  # no one marked it
            reading.end_seen_ms = end_known_since(parse_time(run.status.get("timeFinished")), now_ms)
        if complete and reading.end_seen_ms is not None and now_ms >= reading.end_seen_ms + self._overlap_ms:
            reading.final = True
        run.metric_reading = reading

    def _not_counted(self, reading: MetricReading, lines: Sequence[LogLine]) -> list[LogLine]:
        floor = None if reading.since_ms is None else reading.since_ms - self._overlap_ms
        if reading.counted_until_ms is not None:
            floor = max(floor or 0, reading.counted_until_ms + 1)
        fresh, keys = [], set(reading.recent)
        for line in lines:
            key = _line_key(line)
            if key in keys or (floor is not None and line.time_ms < floor):
                continue
            keys.add(key)
            fresh.append(line)
        return fresh


def end_known_since(finished: datetime.datetime | None, now_ms: int) -> int:
    """A moment on this process's clock no earlier than the run's end: now (when it learns of the
    end), or OCI's timeFinished plus the most OCI's clock may be ahead of ours, if that is earlier
    (a run that ended long before a restart is not waited on again)."""
    if finished is None:
        return now_ms
    return min(now_ms, int(finished.timestamp() * 1000) + AHEAD_MS)


def _resume_ms(reading: MetricReading, overlap_ms: int) -> int:
    assert reading.since_ms is not None
    return reading.since_ms if reading.capped else reading.since_ms - overlap_ms


def _moment(epoch_ms: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(epoch_ms / 1000, tz=datetime.UTC)
