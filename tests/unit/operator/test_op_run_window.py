"""What a newest-first read of a compartment proves, and how far it may page (core/run_window.py)."""

from __future__ import annotations

from fake_run_listing import created_at
from ocids_operator.core.run_plan import RunView
from ocids_operator.core.run_window import (
    MAX_WINDOW_SKIP,
    WindowRead,
    next_window_skip,
    states_seen_pages,
    window_budget,
    window_floor,
)


def run(run_id: str, created: float, state: str = "IN_PROGRESS") -> RunView:
    return RunView(run_id, "j", "c", state, time_accepted=created_at(created))


def test_a_page_covers_runs_created_after_its_oldest_not_those_created_in_the_same_instant() -> None:
    read = WindowRead(floor=created_at(0))
    read.take([run("c", 30), run("b", 20)], next_page="more")
    assert read.covers(created_at(25)) and not read.covers(created_at(20)) and not read.covers(None)
    assert not read.reached_floor and read.wants_page(still_missing=1, pages_allowed=1)
    read.take([run("a", -5)], next_page="more")
    assert read.reached_floor and not read.wants_page(still_missing=1, pages_allowed=9)


def test_the_lists_end_covers_everything_even_runs_of_unknown_creation() -> None:
    read = WindowRead(floor=None)
    read.take([run("a", 1)], next_page=None)
    assert read.exhausted and read.covers(None) and read.covers(created_at(-100))


def test_paging_stops_when_nothing_is_missing_or_no_page_is_left_in_the_budget() -> None:
    read = WindowRead(floor=created_at(0))
    assert not read.wants_page(still_missing=0, pages_allowed=5)
    assert not read.wants_page(still_missing=3, pages_allowed=0)


def test_the_window_may_cost_what_the_state_lists_would() -> None:
    assert window_budget(tracked=1, known_state_pages=None) == 3  # a page of runs + 2 state lists
    assert window_budget(tracked=1000, known_state_pages=None) == 12
    assert window_budget(tracked=1000, known_state_pages=11) == 11
    assert window_budget(tracked=5, known_state_pages=1) == 2  # never below the 2 lists it replaces
    views = [run(f"a{i}", i, "ACCEPTED") for i in range(150)] + [
        run(f"s{i}", i, "SUCCEEDED") for i in range(900)
    ]
    assert states_seen_pages(views) == 2 + 1  # ACCEPTED x2 pages, IN_PROGRESS x1; finished runs cost nothing


def test_the_floor_is_the_oldest_known_creation() -> None:
    assert window_floor([created_at(5), None, created_at(2)]) == created_at(2)
    assert window_floor([None]) is None


def test_a_window_that_keeps_not_fitting_is_tried_ever_less_often() -> None:
    skips = [next_window_skip(0)]
    while skips[-1] < MAX_WINDOW_SKIP:
        skips.append(next_window_skip(skips[-1]))
    assert skips == [1, 2, 4, 8, 16] and next_window_skip(MAX_WINDOW_SKIP) == MAX_WINDOW_SKIP
