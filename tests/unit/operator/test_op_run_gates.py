"""The gate step around a run's create (workflows/run_gates.py): the locks hold no I/O and the
operator-wide one is taken only when OCIDS_MAX_ACTIVE_RUNS is set; a held run's next look is the
in-process wake-up's, and a look that finds it held as before writes nothing; a held run's deletion
asks OCI nothing."""

from __future__ import annotations

import asyncio
import types
from typing import Any

import pytest
from ocids_operator.core.admission import Hold, HoldReason
from ocids_operator.workflows import budget_gate, kueue_gate, run_caps, run_gates, run_pricing
from ocids_operator.workflows import training_job_run as workflow
from ocids_operator.workflows.run_ledger import RunLedger
from ocids_operator.workflows.run_wakeup import RunWaker


def _body(name: str = "r") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}", "creationTimestamp": "t"},
        "spec": {"jobRef": {"name": "train"}},
        "status": {},
    }


def _rt(operator_cap: int | None) -> Any:
    ledger = RunLedger()
    ledger.attach({})
    settings = types.SimpleNamespace(
        max_active_runs=operator_cap,
        require_maximum_runtime=False,
        poll_interval_seconds=10.0,
        retry_max_seconds=300.0,
    )
    return types.SimpleNamespace(ledger=ledger, settings=settings, namespaces=None, waker=RunWaker())


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Kueue says go; records whether the namespace's ledger lock was held while a run was priced."""
    seen: list[bool] = []

    async def no_kueue(rt: Any, entry: Any, *args: Any) -> None:
        return None

    monkeypatch.setattr(kueue_gate, "check", no_kueue)
    return seen


def test_no_lock_is_held_while_a_run_is_priced_and_the_operator_wide_one_only_with_its_cap(
    reads: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = _rt(None)
    rt.budgets = types.SimpleNamespace(
        budgets=lambda ns: [{"name": "b", "spec": {"limit": {"amount": 100, "currency": "USD"}}}]
    )

    async def price_table(rt_: Any) -> Any:
        reads.append(rt.ledger.lock("ns").locked())
        return types.SimpleNamespace(currency="USD")

    async def price(rt_: Any, *args: Any) -> Any:
        return None, "no row"

    monkeypatch.setattr(run_pricing, "load_price_table", price_table)
    monkeypatch.setattr(run_pricing, "run_price", price)
    monkeypatch.setattr(budget_gate, "decide_run", lambda rt, entry, look: None)
    spec = types.SimpleNamespace(job_ref=types.SimpleNamespace(name="train"))
    job = {"metadata": {"name": "train"}}

    async def scenario() -> None:
        async with rt.ledger.lock(""):  # another run's operator-wide decision: no cap, no wait on it
            answer = await asyncio.wait_for(run_gates.admit(rt, _body(), spec, None, job), 2)  # type: ignore[arg-type]
        assert answer is None

    asyncio.run(scenario())
    assert reads == [False]


def test_a_held_run_is_looked_at_by_the_wake_up_and_kopf_only_slowly() -> None:
    woken: list[str] = []

    async def scenario() -> None:
        rt = _rt(None)

        async def wake(namespace: str, name: str, uid: str) -> None:
            woken.append(name)

        rt.waker.connect(wake, [run_caps.startable])
        answer = Hold(HoldReason.ACTIVE_RUN_LIMIT, "1 of 1 active runs")
        assert run_gates.look_again(rt, _body("held"), answer) == 300.0  # kopf's retry: a safety net
        assert rt.waker.is_held("uid-held")
        rt.waker.hold("ns", "held", "uid-held", 0.05)  # (the poll interval, shortened)
        for _ in range(100):
            if woken:
                break
            await asyncio.sleep(0.01)

    asyncio.run(scenario())
    assert woken == ["held"]


def test_a_look_that_finds_a_run_held_as_before_writes_nothing() -> None:
    answer = Hold(HoldReason.ACTIVE_RUN_LIMIT, "1 of 1 active runs in namespace ns; no run ahead of this one")
    first = workflow.gated_outcome(answer, {}, 1, 300.0)
    assert first.status and first.events  # held: written and told once
    status = dict(first.status)
    again = workflow.gated_outcome(answer, status, 1, 300.0)
    assert not again.status and again.events == []
    moved = Hold(answer.reason, "1 of 1 active runs in namespace ns; 1 run ahead of this one")
    assert workflow.gated_outcome(moved, status, 1, 300.0).status  # new figures: written


def test_deleting_a_run_a_gate_held_asks_oci_nothing() -> None:
    class Nothing:
        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"{name} called")

    rt: Any = types.SimpleNamespace(
        kube=Nothing(), oci=Nothing(), settings=types.SimpleNamespace(cluster_name="c")
    )
    held = {
        **_body(),
        "status": {"phase": "Pending", "conditions": [{"type": "Ready", "reason": "BudgetExceeded"}]},
    }
    assert asyncio.run(workflow._created_before_a_crash(rt, held)) is None
