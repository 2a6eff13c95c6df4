"""What one poll cycle reads from OCI for a compartment: a newest-first window, else the state lists.

The window (ListJobRuns by timeCreated, newest first, down to the oldest followed run's creation)
answers for every followed run at once, finished or not, when it fits in the pages the state
lists would cost. When it does not (an old run keeps it open over many newer ones), the cycle
lists the active states instead, and the runs those miss (they finished) are looked for by
resuming the newest-first read down to the oldest of them. A followed run shown on any page read
is answered, whatever the times say. Every page is weighed against the GETs it saves
(core/run_window.py: `CycleBudget`), so a cycle costs no more than a GET per followed run beyond
what earlier cycles saved. What is still not shown gets its GET, as before.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from ..adapters.oci_client import DataScience
from ..core.phases import ALWAYS_LISTED_RUN_STATES, LISTED_WHEN_SEEN_RUN_STATES
from ..core.run_plan import RunView
from ..core.run_window import (
    PAGE_SIZE,
    CycleBudget,
    ListCredit,
    WindowRead,
    next_window_skip,
    states_seen_pages,
    states_worth_listing,
    window_budget,
    window_floor,
)

if TYPE_CHECKING:
    from .run_poller import TrackedRun

NEWEST_FIRST = {"sort_by": "timeCreated", "sort_order": "DESC"}


def states_to_list(tracked: Iterable[TrackedRun]) -> tuple[str, ...]:
    """The state lists a reader without page-level listing reads."""
    seen = {run.lifecycle_state for run in tracked}
    return ALWAYS_LISTED_RUN_STATES + tuple(state for state in LISTED_WHEN_SEEN_RUN_STATES if state in seen)


@dataclasses.dataclass
class Reading:
    """The followed runs one cycle's lists showed, and the window read that proves absences (if any)."""

    seen: dict[str, RunView]
    window: WindowRead | None = None
    pages: int = 0  # list pages the cycle read (each one OCI call)


@dataclasses.dataclass
class CompartmentMemory:
    state_pages: int | None = None  # what the state lists cost (or would, at least), last seen
    skip: int = 0  # cycles left before the window is tried again
    failures_skip: int = 0  # the skip after the next window that does not fit
    credit: ListCredit = dataclasses.field(default_factory=ListCredit)


class CycleReads:
    """The followed runs due this cycle, the ones the pages read have shown, and the page budget."""

    def __init__(self, due: Mapping[str, TrackedRun], budget: CycleBudget) -> None:
        self.due = due
        self.budget = budget
        self.seen: dict[str, RunView] = {}

    def unanswered(self) -> dict[str, TrackedRun]:
        return {run_id: run for run_id, run in self.due.items() if run_id not in self.seen}

    def uncovered(self, window: WindowRead) -> dict[str, TrackedRun]:
        """Not shown, and not passed by the window either: only more pages may show them."""
        return {
            run_id: run for run_id, run in self.unanswered().items() if not window.covers(run.time_created)
        }

    def take(self, views: Sequence[RunView]) -> None:
        answered = 0
        for view in views:
            run = self.due.get(view.id)
            if run is None:
                continue
            answered += view.id not in self.seen
            self.seen[view.id] = view
            # OCI's own time, to the millisecond: the status keeps whole seconds, which may put a
            # run's floor below the runs created in its second.
            run.time_created = view.time_accepted or run.time_created
        self.budget.took(answered)


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

    def memory(self, compartment_id: str) -> CompartmentMemory:
        return self._memory.setdefault(compartment_id, CompartmentMemory())

    async def read(self, compartment_id: str, due: Mapping[str, TrackedRun]) -> Reading:
        memory = self.memory(compartment_id)
        if not self._paged:
            return await self._read_whole_lists(compartment_id, due, memory)
        allowance = memory.credit.allowance(run.time_created for run in due.values())
        cycle = CycleReads(due, CycleBudget(allowance))
        window: WindowRead | None = None
        if memory.skip == 0:
            window = WindowRead(floor=window_floor(run.time_created for run in due.values()))
            await self._window(compartment_id, window, cycle, window_budget(len(due), memory.state_pages))
            if not cycle.uncovered(window):
                memory.state_pages, memory.failures_skip = states_seen_pages(window.seen.values()), 0
                return self._close(memory, cycle, window)
            memory.failures_skip = next_window_skip(memory.failures_skip)
            memory.skip = memory.failures_skip
        else:
            memory.skip -= 1
        await self._state_lists(compartment_id, cycle, memory)
        if cycle.unanswered():
            window = window or WindowRead(floor=None)
            window.floor = window_floor(run.time_created for run in cycle.uncovered(window).values())
            await self._window(compartment_id, window, cycle, page_cap=None)
        return self._close(memory, cycle, window)

    @staticmethod
    def _close(memory: CompartmentMemory, cycle: CycleReads, window: WindowRead | None) -> Reading:
        memory.credit.close(cycle.budget)
        return Reading(cycle.seen, window, cycle.budget.pages)

    async def _window(
        self, compartment_id: str, window: WindowRead, cycle: CycleReads, page_cap: int | None
    ) -> None:
        """Page newest-first until no followed run can be on a later page, or paging stops paying.

        page_cap: at most this many pages in this phase (what the state lists would cost).
        """
        cycle.budget.new_phase()
        read = 0
        while True:
            wanted = len(cycle.uncovered(window))
            allowed = 1 if page_cap is None else page_cap - read
            if not (window.wants_page(wanted, allowed) and cycle.budget.may_page(wanted)):
                return
            views, next_page = await self._gateway.list_job_runs_page(
                compartment_id, page=window.next_page, **NEWEST_FIRST
            )
            window.take(views, next_page)
            cycle.take(views)
            read += 1

    async def _state_lists(self, compartment_id: str, cycle: CycleReads, memory: CompartmentMemory) -> None:
        """The active states' lists, each page while it pays; skipped when they cost more than GETs."""
        rest = cycle.unanswered()
        if not rest or (memory.state_pages is not None and memory.state_pages >= len(rest)):
            return
        cycle.budget.new_phase()
        pages = 0
        for state in states_worth_listing(run.lifecycle_state for run in rest.values()):
            page: str | None = None
            while True:
                if not cycle.budget.may_page(len(cycle.unanswered())):
                    memory.state_pages = pages + 1  # at least: the lists were not read to their end
                    return
                views, page = await self._gateway.list_job_runs_page(
                    compartment_id, page=page, lifecycle_state=state
                )
                cycle.take(views)
                pages += 1
                if not page:
                    break
        memory.state_pages = pages

    async def _read_whole_lists(
        self, compartment_id: str, due: Mapping[str, TrackedRun], memory: CompartmentMemory
    ) -> Reading:
        seen: dict[str, RunView] = {}
        pages = 0
        for state in states_to_list(due.values()):
            views = await self._gateway.list_job_runs(compartment_id, lifecycle_state=state)
            pages += max(1, math.ceil(len(views) / PAGE_SIZE))
            seen.update((view.id, view) for view in views if view.id in due)
        memory.state_pages = pages
        return Reading(seen, pages=pages)
