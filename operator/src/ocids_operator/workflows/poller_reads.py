"""What one poll cycle reads from OCI for a compartment: a newest-first window, else the state lists.

The window (ListJobRuns by timeCreated, newest first, down to the oldest followed run's creation)
answers for every followed run at once, finished or not, when it fits in the pages the state
lists would cost. When it does not (an old run keeps it open over many newer ones), the cycle
lists the active states instead, and the runs those miss (they finished) are looked for by
resuming the newest-first read down to the oldest of them, a page only while fewer pages than
missing runs were read, so it never costs more than the GET per run it replaces. What is still
neither seen nor covered gets its GET, as before.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from ..adapters.oci_client import DataScience
from ..core.phases import ALWAYS_LISTED_RUN_STATES, LISTED_WHEN_SEEN_RUN_STATES
from ..core.run_plan import RunView
from ..core.run_window import (
    PAGE_SIZE,
    WindowRead,
    next_window_skip,
    states_seen_pages,
    window_budget,
    window_floor,
)

if TYPE_CHECKING:
    from .run_poller import TrackedRun

NEWEST_FIRST = {"sort_by": "timeCreated", "sort_order": "DESC"}


def states_to_list(tracked: Iterable[TrackedRun]) -> tuple[str, ...]:
    seen = {run.lifecycle_state for run in tracked}
    return ALWAYS_LISTED_RUN_STATES + tuple(state for state in LISTED_WHEN_SEEN_RUN_STATES if state in seen)


@dataclasses.dataclass
class Reading:
    """The runs one cycle saw, and the window read that proves absences (if any)."""

    seen: dict[str, RunView]
    window: WindowRead | None = None
    used_window: bool = False  # the window alone answered: no state list was read

    def covers(self, run: TrackedRun) -> bool:
        return run.run_id in self.seen or (self.window is not None and self.window.covers(run.time_created))


@dataclasses.dataclass
class CompartmentMemory:
    state_pages: int | None = None  # what the state lists cost (or would), last seen
    skip: int = 0  # cycles left before the window is tried again
    failures_skip: int = 0  # the skip after the next window that does not fit


class CompartmentReader:
    def __init__(self, gateway: DataScience) -> None:
        self._gateway = gateway
        self._memory: dict[str, CompartmentMemory] = {}
        # A DataScience without page-level listing (an older fake) is read the old way.
        self._paged = callable(getattr(gateway, "list_job_runs_page", None))

    def forget(self, compartment_id: str) -> None:
        self._memory.pop(compartment_id, None)

    def remember(self, compartment_id: str, memory: CompartmentMemory) -> None:
        """Start from what earlier cycles learned (tests, and a poller taking over a compartment)."""
        self._memory[compartment_id] = memory

    async def read(self, compartment_id: str, due: Mapping[str, TrackedRun]) -> Reading:
        memory = self._memory.setdefault(compartment_id, CompartmentMemory())
        window: WindowRead | None = None
        if self._paged and memory.skip == 0:
            window = WindowRead(floor=window_floor(run.time_created for run in due.values()))
            budget = window_budget(len(due), memory.state_pages)
            await self._page(compartment_id, window, due, budget, per_missing=False)
            reading = Reading({}, window)
            if all(reading.covers(run) for run in due.values()):
                memory.state_pages, memory.failures_skip = states_seen_pages(window.seen.values()), 0
                return Reading(dict(window.seen), window, used_window=True)
            memory.failures_skip = next_window_skip(memory.failures_skip)
            memory.skip = memory.failures_skip
        elif memory.skip:
            memory.skip -= 1
        seen: dict[str, RunView] = {}
        pages = 0
        for state in states_to_list(due.values()):
            views = await self._gateway.list_job_runs(compartment_id, lifecycle_state=state)
            pages += max(1, math.ceil(len(views) / PAGE_SIZE))
            seen.update((view.id, view) for view in views if view.id in due)
        memory.state_pages = pages
        reading = Reading(seen, window)
        missing = {run_id: run for run_id, run in due.items() if not reading.covers(run)}
        if missing and self._paged:
            window = window or WindowRead(floor=None)
            window.floor = window_floor(run.time_created for run in missing.values())
            await self._page(compartment_id, window, missing, len(missing), per_missing=True)
        found = {} if window is None else {k: v for k, v in window.seen.items() if k in due}
        return Reading({**found, **seen}, window)

    async def _page(
        self,
        compartment_id: str,
        window: WindowRead,
        wanted: Mapping[str, TrackedRun],
        budget: int,
        *,
        per_missing: bool,
    ) -> None:
        """Page newest-first until the window covers `wanted`, or `budget` pages were read.

        per_missing: the budget is the runs still missing, re-counted after each page (a page is
        read only while it can still save more GETs than it costs).
        """
        read = 0
        while True:
            still = sum(
                1
                for run in wanted.values()
                if run.run_id not in window.seen and not window.covers(run.time_created)
            )
            allowed = (still if per_missing else budget) - read
            if not window.wants_page(still, allowed):
                return
            views, next_page = await self._gateway.list_job_runs_page(
                compartment_id, page=window.next_page, **NEWEST_FIRST
            )
            window.take(views, next_page)
            read += 1
