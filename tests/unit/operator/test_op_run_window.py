"""What a newest-first read of a compartment proves, and how far it may page (core/run_window.py)."""

from __future__ import annotations

from fake_run_listing import created_at
from ocids_operator.core.run_plan import RunView
from ocids_operator.core.run_window import (
    MAX_CREDIT,
    MAX_WINDOW_SKIP,
    PROBE_EVERY,
    CycleBudget,
    ListCredit,
    WindowRead,
    next_window_skip,
    states_seen_pages,
    states_worth_listing,
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


def test_a_page_is_read_only_while_the_pages_answered_as_many_runs_as_they_cost_less_the_allowance() -> None:
    cycle = CycleBudget(allowance=2)
    assert cycle.may_page(could_answer=5)
    cycle.took(answered=0)
    assert cycle.may_page(could_answer=5)
    cycle.took(answered=0)
    assert not cycle.may_page(could_answer=5)  # 2 pages answered nothing: the allowance is spent
    cycle.new_phase()
    cycle.took(answered=40)
    assert cycle.may_page(could_answer=5)  # paid for, many times over


def test_a_page_for_one_run_can_only_tie_with_its_get_and_dry_pages_stop_at_the_runs_left() -> None:
    assert not CycleBudget(allowance=2).may_page(could_answer=1)
    cycle = CycleBudget(allowance=0, pages=1, answered=100)
    assert cycle.may_page(could_answer=3)
    cycle.took(answered=0)
    assert cycle.may_page(could_answer=3)
    cycle.took(answered=0)
    assert not cycle.may_page(could_answer=3)  # a third dry page: the 3 GETs are no dearer


def test_savings_are_banked_up_to_a_cap_and_spent_pages_come_back_only_as_a_rare_probe() -> None:
    credit, old = ListCredit(), [created_at(0)]
    assert credit.allowance(old) == MAX_CREDIT  # what a first cycle may risk
    credit.close(CycleBudget(allowance=2, pages=2, answered=0))
    assert credit.balance == 0
    allowances = [credit.allowance(old) for _ in range(2 * PROBE_EVERY)]
    assert allowances == ([0] * (PROBE_EVERY - 1) + [1]) * 2
    credit.close(CycleBudget(allowance=1, pages=1, answered=0))  # a dry probe is never banked
    assert credit.balance == 0
    credit.close(CycleBudget(allowance=1, pages=1, answered=100))
    assert credit.balance == MAX_CREDIT and credit.idle == 0


def test_runs_created_since_the_last_cycle_get_a_probe_page_at_once() -> None:
    """A sweep submitted where lists had stopped paying: the newest runs fill the first page."""
    credit = ListCredit(balance=0)
    assert credit.allowance([created_at(0), None]) == 0
    assert credit.allowance([created_at(0)]) == 0
    assert credit.allowance([created_at(0), created_at(50)]) == 1
    assert credit.allowance([created_at(0), created_at(50)]) == 0


def test_only_the_states_the_runs_may_be_in_now_are_listed_the_fullest_first() -> None:
    assert states_worth_listing(["IN_PROGRESS", "IN_PROGRESS"]) == ("IN_PROGRESS",)
    assert states_worth_listing(["ACCEPTED"]) == ("ACCEPTED", "IN_PROGRESS")
    assert states_worth_listing(["ACCEPTED", "IN_PROGRESS"]) == ("IN_PROGRESS", "ACCEPTED")
    assert states_worth_listing(["CANCELING", "CANCELING", "IN_PROGRESS"]) == ("CANCELING", "IN_PROGRESS")
