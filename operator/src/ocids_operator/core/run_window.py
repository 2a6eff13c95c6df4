"""Newest-first reads of a compartment's runs: how far to page, and what the pages read prove. Pure.

ListJobRuns sorted by timeCreated, newest first, shows every run created after a moment in the
first pages, whatever its state. Read down to the creation time of the oldest run being followed,
it answers for all of them at once, finished ones included: no GET per run to learn an end.
How far such a read may go is capped, so it never costs more than what it replaces.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
from collections.abc import Iterable, Mapping, Sequence

from .phases import ALWAYS_LISTED_RUN_STATES, LISTED_WHEN_SEEN_RUN_STATES
from .run_plan import RunView

PAGE_SIZE = 100
# After a window read that ran out of pages, the next few cycles use the state lists; the wait
# doubles with each failure so a compartment where windows never fit wastes little on trying.
MAX_WINDOW_SKIP = 16


@dataclasses.dataclass
class WindowRead:
    """One newest-first read of a compartment, possibly resumed later in the same cycle."""

    # Read until a page reaches runs created before this; None: to the list's end.
    floor: datetime.datetime | None
    pages: int = 0
    next_page: str | None = None
    exhausted: bool = False  # the list's end was read
    oldest_seen: datetime.datetime | None = None
    seen: dict[str, RunView] = dataclasses.field(default_factory=dict)

    def take(self, views: Sequence[RunView], next_page: str | None) -> None:
        self.pages += 1
        for view in views:
            self.seen[view.id] = view
            created = view.time_accepted
            if created is not None and (self.oldest_seen is None or created < self.oldest_seen):
                self.oldest_seen = created
        self.next_page = next_page
        self.exhausted = not next_page

    @property
    def reached_floor(self) -> bool:
        if self.exhausted:
            return True
        return self.floor is not None and self.oldest_seen is not None and self.oldest_seen < self.floor

    def covers(self, created: datetime.datetime | None) -> bool:
        """Whether a run created at `created` would be in the pages read (so its absence means gone).

        Strictly newer than the oldest seen: runs created in the same instant may sort onto the
        next page.
        """
        if self.exhausted:
            return True
        return created is not None and self.oldest_seen is not None and created > self.oldest_seen

    def wants_page(self, still_missing: int, pages_allowed: int) -> bool:
        """Read one more page? Not once the floor is passed, nothing is missing, or the cap is hit."""
        return still_missing > 0 and not self.reached_floor and pages_allowed > 0


def window_floor(created: Iterable[datetime.datetime | None]) -> datetime.datetime | None:
    """The oldest known creation time (None when none is known: then only the list's end bounds it)."""
    known = [when for when in created if when is not None]
    return min(known) if known else None


def state_list_pages(states: Mapping[str, int], listed: Sequence[str]) -> int:
    """What the per-state lists cost, from how many runs each state holds (an empty list is a page)."""
    return sum(max(1, math.ceil(states.get(state, 0) / PAGE_SIZE)) for state in listed)


def window_budget(tracked: int, known_state_pages: int | None) -> int:
    """Pages a window read may take: no more than the state lists it replaces are expected to cost.

    Unknown cost (first cycle): the tracked runs alone fill that many pages, plus one per state
    that is always listed.
    """
    if known_state_pages is not None:
        return max(known_state_pages, len(ALWAYS_LISTED_RUN_STATES))
    return math.ceil(tracked / PAGE_SIZE) + len(ALWAYS_LISTED_RUN_STATES)


def state_counts(views: Iterable[RunView]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for view in views:
        counts[view.lifecycle_state] = counts.get(view.lifecycle_state, 0) + 1
    return counts


def states_seen_pages(views: Iterable[RunView]) -> int:
    """The per-state lists' cost for the runs a window showed (a lower bound: older runs are unseen)."""
    counts = state_counts(views)
    listed = ALWAYS_LISTED_RUN_STATES + tuple(s for s in LISTED_WHEN_SEEN_RUN_STATES if counts.get(s))
    return state_list_pages(counts, listed)


def next_window_skip(skip: int) -> int:
    return min(max(1, skip * 2), MAX_WINDOW_SKIP)
