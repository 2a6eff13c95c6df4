"""workflows/run_gates.admit and Kueue: the Kueue gate is asked outside the ledger's locks (its API
calls used to hold the operator-wide lock), with the run reserved meanwhile and released when Kueue
holds it; a run another gate holds gives its admitted Workload's quota back."""

from __future__ import annotations

import asyncio
import types
from typing import Any

import pytest
from ocids_operator.core.admission import Hold, HoldReason
from ocids_operator.workflows import budget_gate, kueue_gate, run_caps, run_gates
from ocids_operator.workflows.run_ledger import RunLedger

BODY = {"metadata": {"name": "r1", "namespace": "ns", "uid": "uid-1", "labels": {}}, "spec": {}, "status": {}}


def _admit(rt: Any) -> Any:
    return asyncio.run(run_gates.admit(rt, BODY, None, None, {}))  # type: ignore[arg-type]


def _gates(monkeypatch: pytest.MonkeyPatch, cap: Any = None) -> Any:
    """The caps and budgets as stand-ins: `cap` is what the caps answer."""

    async def prepare(*_: Any) -> None:
        return None

    monkeypatch.setattr(run_caps, "prepare", prepare)
    monkeypatch.setattr(budget_gate, "prepare", prepare)
    monkeypatch.setattr(run_caps, "decide", lambda *_: cap)
    monkeypatch.setattr(budget_gate, "decide_run", lambda *_: None)
    # An operator-wide cap: the "" lock is taken too.
    return types.SimpleNamespace(ledger=RunLedger(), settings=types.SimpleNamespace(max_active_runs=5))


def test_kueue_is_asked_outside_the_ledger_locks_with_the_run_reserved(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rt = _gates(monkeypatch)
    ledger = rt.ledger
    seen: list[tuple[bool, bool, bool]] = []

    async def kueue(rt: Any, entry: Any, *_: Any) -> Any:
        reserved = any(e["metadata"]["uid"] == "uid-1" for e in ledger.entries("ns"))
        seen.append((ledger.lock("").locked(), ledger.lock("ns").locked(), reserved))
        return Hold(HoldReason.WAITING_FOR_QUOTA, "waiting")

    monkeypatch.setattr(kueue_gate, "check", kueue)
    answer = _admit(rt)
    assert isinstance(answer, Hold)
    assert seen == [(False, False, True)]
    assert ledger.entries("ns") == []  # held by Kueue: its reservation is released


def test_another_gates_hold_steps_the_kueue_workload_aside(monkeypatch: pytest.MonkeyPatch) -> None:
    rt = _gates(monkeypatch, Hold(HoldReason.ACTIVE_RUN_LIMIT, "3 of 3 active runs"))
    stepped: list[str] = []

    async def aside(rt: Any, entry: Any) -> None:
        stepped.append(entry["metadata"]["name"])

    async def kueue(*_: Any) -> Any:
        raise AssertionError("not asked: an earlier gate held the run")

    monkeypatch.setattr(kueue_gate, "step_aside", aside)
    monkeypatch.setattr(kueue_gate, "check", kueue)
    answer = _admit(rt)
    assert isinstance(answer, Hold) and answer.reason is HoldReason.ACTIVE_RUN_LIMIT
    assert stepped == ["r1"]
