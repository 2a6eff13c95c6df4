"""The runner for event_scenarios/health.yaml (read it: it is the behaviour): the events' health as
steps in time, and the poll interval each state makes."""

from __future__ import annotations

import pathlib
from typing import Any

import pytest
import yaml
from ocids_operator.core.events_health import EventsHealth, EventsState
from ocids_operator.core.phases import RunState
from ocids_operator.settings import OperatorSettings
from ocids_operator.workflows.run_poller import TrackedRun, poll_interval

TABLE = yaml.safe_load((pathlib.Path(__file__).parent / "event_scenarios" / "health.yaml").read_text())


@pytest.mark.parametrize("scenario", TABLE["health"], ids=lambda s: s["name"])
def test_health(scenario: dict[str, Any]) -> None:
    health = EventsHealth(scenario.get("enabled", True), scenario.get("silence", 60.0), now=0.0)
    for step in scenario["steps"]:
        now = float(step["at"])
        partition = step.get("partition", "")
        if step.get("read_ok"):
            health.read_ok(now, partition)
        if "read_failed" in step:
            health.read_failed(now, step["read_failed"], partition)
        if step.get("message"):
            health.message(now)
        if "met" in step:
            health.met(step["met"])
        if "expect" in step:
            health.expect(step["expect"], now)
        health.change(now)
        assert health.state(now) == EventsState(step["state"]), step
        if "reason" in step:
            assert health.reason == step["reason"]


def test_change_is_told_once_with_when() -> None:
    health = EventsHealth(True, 60.0, now=0.0)
    health.read_ok(1.0)
    change = health.change(1.0)
    assert change is not None and (change.old, change.new) == (EventsState.STARTING, EventsState.HEALTHY)
    assert health.change(2.0) is None
    assert health.since == 1.0


def test_expectations_are_bounded() -> None:
    health = EventsHealth(True, 60.0)
    for i in range(100_010):
        health.expect(f"r{i}", 0.0)
    assert len(health._expected) == 100_000


@pytest.mark.parametrize("case", TABLE["intervals"], ids=lambda c: c["name"])
def test_interval(case: dict[str, Any]) -> None:
    now = 10_000.0
    runs = [
        TrackedRun(
            run_id=f"r{i}",
            compartment_id="c",
            namespace="ml",
            name=f"r{i}",
            uid=f"u{i}",
            generation=1,
            status={},
            registered_at=now - run["age"],
            lifecycle_state=RunState(run["state"]),
        )
        for i, run in enumerate(case["runs"])
    ]
    healthy = case["events"] == "Healthy"
    unread = case.get("unread", False)
    assert poll_interval(runs, OperatorSettings(), now, healthy, unread) == case["expect"]
