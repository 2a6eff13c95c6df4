"""The budget gate and its side of the wake-up, on the run ledger and the budgets' indexes as kopf
fills them (plain dicts here), with the price table's answer given: a reservation counts its worst
case before the index shows the run created (two runs looked at together never both take the last
of a budget), and a held run is woken once a raised limit lets it fit. What a budget counts beyond
the table: another namespace's look leaves this one's reservations alone, a deleted run's cost
stays counted, a retried run's earlier attempts count while it waits, amounts in another currency
are left out and named, and a run whose worst case alone is above the limit is told it can never
fit."""

from __future__ import annotations

import asyncio
import datetime
import types
from typing import Any

import pytest
from ocids_operator.api.cost import CostEstimate
from ocids_operator.core.admission import Hold, HoldReason, Refuse
from ocids_operator.core.budget_plan import Budget, budget_status, usage, window_of
from ocids_operator.workflows import budget as workflow
from ocids_operator.workflows import budget_gate, run_pricing
from ocids_operator.workflows.budget_book import BudgetBook
from ocids_operator.workflows.run_ledger import RunLedger


def _run(
    name: str, *, active: bool = False, worst: float | None = None, held: str | None = None
) -> dict[str, Any]:
    status: dict[str, Any] = {}
    if active:
        status = {
            "phase": "InProgress",
            "jobRunId": f"ocid1.datasciencejobrun.oc1..{name}",
            "createAttemptedAt": "t",
        }
        if worst is not None:
            status["cost"] = {"estimate": {"worstCase": worst}}
    elif held:
        status = {"phase": "Pending", "conditions": [{"type": "Ready", "reason": held}]}
    return {
        "metadata": {
            "name": name,
            "namespace": "ns",
            "uid": f"uid-{name}",
            "creationTimestamp": f"2026-12-01T00:00:0{len(name)}Z",
        },
        "spec": {"jobRef": {"name": "train"}},
        "status": status,
    }


class World:
    def __init__(
        self, runs: list[dict[str, Any]], limit: float, labels: dict[str, str] | None = None
    ) -> None:
        self.runs = {"ns": runs}
        self.budget = {
            "name": "team",
            "uid": "b",
            "deleting": False,
            "spec": {
                "limit": {"amount": limit, "currency": "USD"},
                "selector": {"matchLabels": {"team": "gpu"}},
            },
        }
        book = BudgetBook()
        book.attach_from(
            {
                "budgets_by_namespace": {"ns": [self.budget]},
                "job_labels_by_namespace": {"ns": [{"name": "train", "labels": {"team": "gpu"}}]},
            }
        )
        ledger = RunLedger()
        ledger.attach(self.runs)
        self.rt: Any = types.SimpleNamespace(budgets=book, ledger=ledger)
        self.job = {
            "metadata": {"name": "train", "labels": labels if labels is not None else {"team": "gpu"}},
            "spec": {},
        }

    async def check(self, entry: dict[str, Any]) -> Any:
        return await budget_gate.check(
            self.rt, entry, types.SimpleNamespace(job_ref=types.SimpleNamespace(name="train")), None, self.job
        )  # type: ignore[arg-type]


@pytest.fixture
def priced(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every covered run costs a worst case of 10.00 USD; counts the pricings."""
    calls: list[int] = []

    async def table(rt: Any) -> Any:
        return types.SimpleNamespace(currency="USD")

    async def price(rt: Any, spec: Any, job_spec: Any, job: Any = None) -> tuple[CostEstimate, None]:
        calls.append(1)
        return CostEstimate(currency="USD", worst_case=10.0), None

    monkeypatch.setattr(run_pricing, "load_price_table", table)
    monkeypatch.setattr(run_pricing, "run_price", price)
    return calls


def test_a_reserved_run_counts_before_the_index_shows_it_created(priced: list[int]) -> None:
    world = World([_run("a", active=True, worst=35.0)], limit=50)
    first, second = _run("first"), _run("second")
    assert asyncio.run(world.check(first)) is None  # 35 + 10 fits 50
    world.rt.ledger.reserve(first)  # what run_gates.admit does next, under the same lock
    answer = asyncio.run(world.check(second))  # 35 + 10 (reserved, no worstCase in the index yet) + 10
    assert isinstance(answer, Hold) and answer.reason is HoldReason.BUDGET_EXCEEDED
    assert (
        "spent 0.00 + committed 45.00 + this run's worst case 10.00 would cross the limit 50.00 USD"
        in answer.message
    )
    assert world.rt.budgets.held_by == {"uid-second": "team"}


def test_a_run_the_selector_does_not_cover_is_not_priced(priced: list[int]) -> None:
    world = World([_run("a", active=True, worst=50.0)], limit=50, labels={"team": "cpu"})
    assert asyncio.run(world.check(_run("free"))) is None
    assert priced == []


def test_a_held_run_is_woken_once_a_raised_limit_lets_it_fit_and_not_before(priced: list[int]) -> None:
    held = _run("held", held="BudgetExceeded")
    world = World([_run("a", active=True, worst=45.0), held], limit=50)
    assert isinstance(asyncio.run(world.check(held)), Hold)
    assert asyncio.run(budget_gate.startable(world.rt)) == []
    world.budget["spec"]["limit"]["amount"] = 55  # the index shows the edit
    assert [e["metadata"]["name"] for e in asyncio.run(budget_gate.startable(world.rt))] == ["held"]


def test_the_status_step_lists_held_runs_writes_once_and_pokes_the_wake_up_on_a_raise(
    priced: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:

    monkeypatch.setattr(workflow, "load_price_table", run_pricing.load_price_table)
    held = _run("held", held="BudgetExceeded")
    world = World([_run("a", active=True, worst=45.0), held], limit=50)
    pokes: list[int] = []
    world.rt.waker = types.SimpleNamespace(poke=lambda rt: pokes.append(1))
    world.rt.settings = types.SimpleNamespace(price_table="ops/prices")
    body: dict[str, Any] = {
        "metadata": {"name": "team", "namespace": "ns", "uid": "b", "generation": 1},
        "spec": world.budget["spec"],
    }
    first = asyncio.run(workflow.reconcile(world.rt, body))
    status = dict(first.status)
    assert (status["phase"], status["committed"], status["remaining"], status["heldRuns"]) == (
        "Active",
        45.0,
        5.0,
        ["held"],
    )
    assert first.events == [("Normal", "WithinLimit", status["message"])]
    again = asyncio.run(workflow.reconcile(world.rt, {**body, "status": status}))
    assert len(again.status) == 0 and again.events == []  # nothing changed: no write, no Event
    pokes.clear()
    world.budget["spec"]["limit"]["amount"] = 60
    raised = asyncio.run(
        workflow.reconcile(
            world.rt, {**body, "metadata": {**body["metadata"], "generation": 2}, "status": status}
        )
    )
    assert dict(raised.status)["remaining"] == 15.0 and pokes == [1]


NOW = datetime.datetime.now(datetime.UTC)


def _stamp(hours_ago: float) -> str:
    return (NOW - datetime.timedelta(hours=hours_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _finished(name: str, amount: float, currency: str = "USD") -> dict[str, Any]:
    run = _run(name)
    run["status"] = {
        "phase": "Succeeded",
        "timeStarted": _stamp(0.02),
        "timeFinished": _stamp(0.01),
        "cost": {"estimate": {"amount": amount, "currency": currency, "basis": {"pricePerHour": 1.0}}},
    }
    return run


def _reconcile(world: World, namespace: str, monkeypatch: pytest.MonkeyPatch, status: Any = None) -> Any:
    monkeypatch.setattr(workflow, "load_price_table", run_pricing.load_price_table)
    world.rt.waker = types.SimpleNamespace(poke=lambda rt: None)
    world.rt.settings = types.SimpleNamespace(price_table="ops/prices")
    body = {
        "metadata": {"name": "team", "namespace": namespace, "uid": "b", "generation": 1},
        "spec": world.budget["spec"],
        "status": status or {},
    }
    return asyncio.run(workflow.reconcile(world.rt, body))


def test_another_namespaces_budget_look_keeps_this_namespaces_reservation(
    priced: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    world = World([_run("a", active=True, worst=35.0)], limit=50)
    first, second = _run("first"), _run("second")
    assert asyncio.run(world.check(first)) is None
    world.rt.ledger.reserve(first)
    _reconcile(world, "elsewhere", monkeypatch)  # a budget of another namespace looks: no run of its own
    assert world.rt.budgets.reserved == {"uid-first": 10.0}
    assert isinstance(asyncio.run(world.check(second)), Hold)  # 35 + 10 reserved + 10 > 50


def test_a_deleted_runs_cost_stays_counted_in_the_period(
    priced: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    done = _finished("done", 45.0)
    world = World([done], limit=50)
    world.runs["ns"].remove(done)  # deleted (by hand, history limits or TTL): the index drops it
    budget_gate.run_deleted(world.rt, done)
    assert isinstance(asyncio.run(world.check(_run("next"))), Hold)  # 45 + 10 > 50, as before the deletion
    first = dict(_reconcile(world, "ns", monkeypatch).status)
    assert (first["spent"], first["carried"]) == (45.0, 45.0)
    # Restarted: nothing in memory, the budget's status (as its index shows it) keeps the figure.
    world2 = World([], limit=50)
    world2.budget.update(carried=first["carried"], periodStart=first["periodStart"])
    assert isinstance(asyncio.run(world2.check(_run("next"))), Hold)
    assert dict(_reconcile(world2, "ns", monkeypatch, status=first).status) == {}  # spent still 45: no write


def test_a_retried_run_waiting_for_its_next_attempt_counts_its_earlier_attempts() -> None:
    waiting = _run("retried")
    waiting["status"] = {
        "phase": "Pending",
        "nextAttemptAt": _stamp(-0.1),
        "attempts": [{"jobRunId": "ocid1.x", "timeStarted": _stamp(2.01), "timeFinished": _stamp(0.01)}],
        "cost": {"estimate": {"currency": "USD", "worstCase": 30.0, "basis": {"pricePerHour": 10.0}}},
    }
    budget = Budget.of("team", {"limit": {"amount": 50, "currency": "USD"}})
    used = usage([waiting], lambda e: True, window_of("Monthly", NOW), {}, "USD")
    assert used.spent == pytest.approx(20.0) and used.committed == 0.0
    status = dict(
        budget_status(
            budget=budget,
            window=window_of("Monthly", NOW),
            used=used,
            held=[],
            problem=None,
            previous=None,
            generation=1,
            now="2026-12-15T10:00:00Z",
        )
    )
    assert status["spent"] == 20.0


def test_amounts_in_another_currency_are_left_out_and_named() -> None:
    runs = [_finished("dollars", 10.0), _finished("euros", 99.0, currency="EUR")]
    budget = Budget.of("team", {"limit": {"amount": 50, "currency": "USD"}})
    window = window_of("Monthly", NOW)
    used = usage(runs, lambda e: True, window, {}, "USD")
    assert used.spent == 10.0 and used.other_currency == ("euros",)
    status = dict(
        budget_status(
            budget=budget,
            window=window,
            used=used,
            held=[],
            problem=None,
            previous=None,
            generation=1,
            now="2026-12-15T10:00:00Z",
        )
    )
    assert "priced in another currency than USD (not counted): euros" in status["message"]


@pytest.mark.parametrize(("action", "kind"), [("Hold", Hold), ("Refuse", Refuse)])
def test_a_run_whose_worst_case_alone_is_above_the_limit_is_told_it_can_never_fit(
    priced: list[int], action: str, kind: type
) -> None:
    world = World([], limit=5)  # every run's worst case is 10
    world.budget["spec"]["action"] = action
    answer = asyncio.run(world.check(_run("big")))
    assert isinstance(answer, kind)
    assert "worst case 10.00 alone is above the limit 5.00 USD (Monthly): it can never fit" in answer.message
    assert "rolls over" not in answer.message


def test_deleting_a_budget_wakes_the_runs_it_held_at_once() -> None:
    import kopf
    from ocids_operator.handlers import budget as handlers
    from ocids_operator.runtime import Runtime

    registry = kopf.OperatorRegistry()
    handlers.register(registry, types.SimpleNamespace(poll_interval_seconds=10.0))  # type: ignore[arg-type]
    forget = next(h.fn for h in registry._changing.get_all_handlers() if h.id == "forget")
    pokes: list[int] = []
    rt = object.__new__(Runtime)  # only what the handler touches
    rt.budgets = BudgetBook()  # type: ignore[misc]
    rt.budgets.gone[("ns", "team")] = {}
    rt.waker = types.SimpleNamespace(poke=lambda rt_: pokes.append(1))  # type: ignore[misc]
    body = {"metadata": {"namespace": "ns", "name": "team"}}
    asyncio.run(forget(body=body, memo=types.SimpleNamespace(runtime=rt)))  # type: ignore[call-arg]
    assert pokes == [1] and rt.budgets.gone == {}
