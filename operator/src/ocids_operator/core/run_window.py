"""Newest-first reads of a compartment's runs: how far to page, and what the pages read prove. Pure.

ListJobRuns sorted by timeCreated, newest first, shows every run created after a moment in the
first pages, whatever its state. Read down to the creation time of the oldest run being followed,
it answers for all of them at once, finished ones included: no GET per run to learn an end.
A page costs one call, as a GET does, so every list page a cycle reads is weighed against the
GETs it saves (`CycleBudget`, `ListCredit`): lists never cost more than a GET per run, except by
what earlier cycles saved.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import math
from collections.abc import Iterable, Mapping, Sequence

from .phases import ALWAYS_LISTED_RUN_STATES, LISTED_WHEN_SEEN_RUN_STATES, RunState
from .run_plan import RunView

PAGE_SIZE = 100
# After a window read that ran out of pages, the next few cycles use the state lists; the wait
# doubles with each failure so a compartment where windows never fit wastes little on trying.
MAX_WINDOW_SKIP = 16
# Pages that earlier cycles saved and a later one may risk (what the first cycle may risk, too):
# the two state lists always read before windows existed.
MAX_CREDIT = len(ALWAYS_LISTED_RUN_STATES)
# Where lists have stopped paying, one page is risked again after this many cycles.
PROBE_EVERY = MAX_WINDOW_SKIP


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


def states_worth_listing(last_states: Iterable[str]) -> tuple[str, ...]:
    """The active states the runs last seen in `last_states` may be in now, the fullest first.

    A run never returns to ACCEPTED once it left it: without a run last seen there, that list
    could answer for none of them.
    """
    counts = collections.Counter(str(state) for state in last_states)
    could_hold = {
        RunState.ACCEPTED: counts[RunState.ACCEPTED],
        RunState.IN_PROGRESS: counts[RunState.ACCEPTED] + counts[RunState.IN_PROGRESS],
        **{state: counts[state] for state in LISTED_WHEN_SEEN_RUN_STATES},
    }
    return tuple(
        sorted(
            (state for state, held in could_hold.items() if held),
            key=lambda state: -could_hold[state],
        )
    )


@dataclasses.dataclass
class ListCredit:
    """What a compartment's list pages saved against a GET per followed run, over its cycles."""

    balance: int = MAX_CREDIT  # pages saved, at most MAX_CREDIT, that a cycle may risk
    idle: int = 0  # cycles since lists last paid (balance 0)
    # The newest creation among the runs followed last cycle: runs created after it are new.
    newest: datetime.datetime | None = None

    def allowance(self, created: Iterable[datetime.datetime | None]) -> int:
        """Pages this cycle may read beyond the runs they answer (`created`: the due runs').

        The balance. At 0 (lists stopped paying: foreign runs crowding them), one page when a run
        created since the last cycle is due (the newest runs fill the first page: a sweep just
        submitted is listed again at once), else one every PROBE_EVERY cycles.
        """
        known = [when for when in created if when is not None]
        fresh = self.newest is not None and any(when > self.newest for when in known)
        self.newest = max(known + ([self.newest] if self.newest else []), default=None)
        if self.balance:
            return self.balance
        if fresh:
            return 1
        self.idle += 1
        if self.idle < PROBE_EVERY:
            return 0
        self.idle = 0
        return 1

    def close(self, cycle: CycleBudget) -> None:
        """Bank what the cycle saved (a probe's page is lent, never banked)."""
        self.balance = max(0, min(MAX_CREDIT, self.balance + cycle.answered - cycle.pages))
        if self.balance:
            self.idle = 0


@dataclasses.dataclass
class CycleBudget:
    """One cycle's list pages against the GETs they replace.

    A page is read only while the pages read so far, this one included, answered (showed) at
    least as many followed runs as they cost, less `allowance`; the cycle then costs at most a
    GET per run plus the allowance. And only while a phase's pages in a row that answered no run
    stay below the runs still to answer less one: past that, their GETs are cheaper.
    """

    allowance: int
    pages: int = 0
    answered: int = 0
    dry: int = 0  # this phase's pages in a row that answered no run

    def may_page(self, could_answer: int) -> bool:
        return self.dry + 1 < could_answer and self.pages + 1 <= self.answered + self.allowance

    def took(self, answered: int) -> None:
        self.pages += 1
        self.answered += answered
        self.dry = 0 if answered else self.dry + 1

    def new_phase(self) -> None:
        self.dry = 0
