"""The budget gate and its side of the wake-up, on the run ledger and the budgets' indexes as kopf
fills them (plain dicts here), with the price table's answer given: a reservation counts its worst
case before the index shows the run created (two runs looked at together never both take the last
of a budget), and a held run is woken once a raised limit lets it fit."""

from __future__ import annotations

import asyncio
import types
from typing import Any

import pytest
from ocids_operator.api.cost import CostEstimate
from ocids_operator.core.admission import Hold, HoldReason
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
    from ocids_operator.workflows import budget as workflow

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
