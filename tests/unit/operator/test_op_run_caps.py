"""Caps on active runs (core/run_caps.py): the queue order, the figures a held run shows, the
operator-wide count that a namespace's own cap weighs, and the wake-up that starts the next run
(workflows/run_wakeup.py)."""

from __future__ import annotations

import asyncio
import types
from typing import Any

import pytest
from ocids_operator.api import TrainingJobRunSpec, TrainingJobSpec
from ocids_operator.core.admission import HoldReason
from ocids_operator.core.run_caps import (
    cap_hold,
    job_maximum_runtime_problem,
    namespace_cap,
    queue_heads,
    run_maximum_runtime_problem,
    tallied_hold,
)
from ocids_operator.workflows import run_caps
from ocids_operator.workflows.run_ledger import RunLedger
from ocids_operator.workflows.run_wakeup import RunWaker

CAPPED = HoldReason.ACTIVE_RUN_LIMIT.value


def run(
    name: str, at: int, *, ns: str = "team-a", state: str = "new", reason: str | None = None
) -> dict[str, Any]:
    """A ledger entry: `state` new (not looked at / held), active (created in OCI) or done."""
    status: dict[str, Any] = {}
    if state == "active":
        status = {"phase": "InProgress", "jobRunId": f"ocid-{name}", "createAttemptedAt": "t"}
    elif state == "done":
        status = {"phase": "Succeeded", "jobRunId": f"ocid-{name}", "createAttemptedAt": "t"}
    elif reason is not None:
        status = {"phase": "Pending", "conditions": [{"type": "Ready", "reason": reason}]}
    return {
        "metadata": {
            "name": name,
            "namespace": ns,
            "uid": f"uid-{ns}-{name}",
            "creationTimestamp": f"2026-12-07T10:00:{at:02d}Z",
        },
        "spec": {"jobRef": {"name": "train"}},
        "status": status,
    }


def test_a_run_starts_while_active_plus_ahead_stays_under_the_namespace_cap() -> None:
    entries = [run("a", 1, state="active"), run("b", 2, reason=CAPPED), run("c", 3)]
    assert cap_hold(run("b", 2), entries, None, {"team-a": 2}) is None  # 1 active, none ahead
    assert cap_hold(run("c", 3), entries, None, {"team-a": 2}) is not None  # 1 active + b ahead
    assert cap_hold(run("c", 3), entries, None, {"team-a": 3}) is None


QUEUE = [("first", 1), ("second", 2), ("third", 3)]


def _queue(*active: str) -> list[dict[str, Any]]:
    entries = [run(name, 0, state="active") for name in active] + [run("old", 0, state="done")]
    entries += [run("first", 1, reason=CAPPED), run("second", 2, reason=CAPPED)]
    return [*entries, run("third", 3)]  # not looked at yet: it keeps its place all the same


@pytest.mark.parametrize(
    ("name", "at", "ahead"),
    [("first", 1, "no run"), ("second", 2, "1 run"), ("third", 3, "2 runs")],
)
def test_runs_over_a_namespace_cap_wait_in_the_order_they_were_made(name: str, at: int, ahead: str) -> None:
    hold = cap_hold(run(name, at), _queue("x", "y"), None, {"team-a": 2})
    assert hold is not None and hold.reason is HoldReason.ACTIVE_RUN_LIMIT
    assert hold.message == (
        f"2 of 2 active runs in namespace team-a (ocids.io/max-active-runs); {ahead} ahead of this one"
    )


def test_when_a_place_frees_only_the_oldest_waiting_run_may_start() -> None:
    entries = _queue("x")  # y ended
    allowed = [name for name, at in QUEUE if cap_hold(run(name, at), entries, None, {"team-a": 2}) is None]
    assert allowed == ["first"]


def test_runs_held_for_other_reasons_take_no_place_in_the_queue() -> None:
    entries = [
        run("budget", 1, reason=HoldReason.BUDGET_EXCEEDED.value),
        run("kueue", 2, reason=HoldReason.WAITING_FOR_QUOTA.value),
        run("job-not-ready", 3, reason="WaitingForJob"),
    ]
    assert cap_hold(run("late", 9), entries, None, {"team-a": 1}) is None


def test_the_operator_wide_cap_counts_every_namespace() -> None:
    entries = [run("a", 1, ns="team-a", state="active"), run("b", 2, ns="team-b", state="active")]
    hold = cap_hold(run("c", 3, ns="team-c"), entries, 2, {})
    assert hold is not None
    assert (
        hold.message == "2 of 2 active runs operator-wide (OCIDS_MAX_ACTIVE_RUNS); no run ahead of this one"
    )
    assert cap_hold(run("c", 3, ns="team-c"), entries, 3, {}) is None


def test_a_namespace_queue_behind_its_own_cap_does_not_block_the_others_operator_wide() -> None:
    # team-a: 1 active under its cap of 1, and 5 older runs waiting behind it; the operator cap is 3.
    entries = [run("a0", 0, ns="team-a", state="active")]
    entries += [run(f"a{i}", i, ns="team-a", reason=CAPPED) for i in range(1, 6)]
    late = run("b", 30, ns="team-b")
    assert cap_hold(late, entries, 3, {"team-a": 1}) is None
    # Without team-a's cap its five would start first: b waits behind them.
    hold = cap_hold(late, entries, 3, {})
    assert hold is not None and "5 runs ahead of this one" in hold.message


def test_the_first_held_run_of_each_namespace_is_what_a_freed_place_may_start() -> None:
    entries = [
        run("a2", 2, ns="team-a", reason=CAPPED),
        run("a1", 1, ns="team-a", reason=CAPPED),
        run("b5", 5, ns="team-b", reason=CAPPED),
        run("b9", 9, ns="team-b", reason=HoldReason.BUDGET_EXCEEDED.value),
        run("a0", 0, ns="team-a", state="active"),
    ]
    assert [entry["metadata"]["name"] for entry in queue_heads(entries)] == ["a1", "b5"]


@pytest.mark.parametrize(
    ("value", "cap", "problem"),
    [
        (None, None, False),
        ("3", 3, False),
        (" 0 ", 0, False),
        ("-1", None, True),
        ("two", None, True),
        ("", None, True),
    ],
)
def test_the_namespace_annotation(value: str | None, cap: int | None, problem: bool) -> None:
    annotations = {} if value is None else {"ocids.io/max-active-runs": value}
    found = namespace_cap("team-a", annotations)
    assert found.cap == cap
    assert (found.problem is not None) is problem
    if problem:
        assert "ocids.io/max-active-runs" in str(found.problem) and "team-a" in str(found.problem)


def _job(**extra: Any) -> TrainingJobSpec:
    spec = {
        "compartmentId": "ocid1.compartment.oc1..aaaa",
        "projectId": "ocid1.datascienceproject.oc1.iad.aaaa",
        "artifact": {"inline": {"fileName": "train.py", "content": "print(1)"}},
        "infrastructure": {"shape": "VM.Standard2.1"},
        **extra,
    }
    return TrainingJobSpec.model_validate(spec)


def test_the_required_maximum_runtime_names_the_field() -> None:
    run_spec = TrainingJobRunSpec.model_validate({"jobRef": {"name": "train"}})
    problem = job_maximum_runtime_problem(_job())
    assert problem is not None and "spec.maximumRuntimeInMinutes is required" in problem
    assert job_maximum_runtime_problem(_job(maximumRuntimeInMinutes=30)) is None
    problem = run_maximum_runtime_problem(run_spec, _job(), "train")
    assert (
        problem is not None and "spec.maximumRuntimeInMinutes" in problem and "TrainingJob train" in problem
    )
    assert run_maximum_runtime_problem(run_spec, _job(maximumRuntimeInMinutes=30), "train") is None
    own = TrainingJobRunSpec.model_validate({"jobRef": {"name": "train"}, "maximumRuntimeInMinutes": 5})
    assert run_maximum_runtime_problem(own, _job(), "train") is None


class _Namespaces:
    def __init__(self, annotations: dict[str, dict[str, str]]) -> None:
        self._annotations = annotations

    async def annotations(self, namespace: str) -> dict[str, str]:
        return dict(self._annotations.get(namespace, {}))


def _rt(
    entries: list[dict[str, Any]], operator_cap: int | None, annotations: dict[str, dict[str, str]]
) -> Any:
    ledger = RunLedger()
    index: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        index.setdefault(entry["metadata"]["namespace"], []).append(entry)
    ledger.attach(index)
    settings = types.SimpleNamespace(max_active_runs=operator_cap, require_maximum_runtime=False)
    return types.SimpleNamespace(ledger=ledger, settings=settings, namespaces=_Namespaces(annotations))


def test_when_a_run_ends_the_first_held_run_is_woken_at_once() -> None:
    capped = {"team-a": {"ocids.io/max-active-runs": "1"}}
    entries = [run("a0", 0, state="active"), run("a1", 1, reason=CAPPED), run("a2", 2, reason=CAPPED)]
    woken: list[str] = []

    async def wake(namespace: str, name: str, uid: str) -> None:
        woken.append(name)

    async def scenario() -> None:
        rt = _rt(entries, None, capped)
        waker = RunWaker()
        waker.connect(wake, [run_caps.startable])
        # The watch's first events (handlers/run_wakeup.py observes each): nothing freed, no recheck.
        assert [rt.ledger.observe(entry) for entry in entries] == [False, False, False]
        for _ in range(5):  # a burst of events: one recheck
            waker.poke(rt)
        await waker.settle()
        assert woken == []  # a0 still runs: nothing may start
        assert not rt.ledger.observe(entries[1])  # a held run's own write again: frees nothing
        entries[0]["status"]["phase"] = "Succeeded"  # a0 ends: its event frees a place
        assert rt.ledger.observe(entries[0])
        waker.poke(rt)
        await waker.settle()
        assert woken == ["a1"]  # the oldest, and only it

    asyncio.run(scenario())


def test_the_caps_counts_are_rebuilt_only_when_a_runs_place_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    from ocids_operator.workflows import run_ledger

    built: list[int] = []
    real = run_ledger.Tally
    monkeypatch.setattr(run_ledger, "Tally", lambda entries: built.append(1) or real(entries))
    entries = [run("a0", 0, state="active"), run("a1", 1, reason=CAPPED)]
    rt = _rt(entries, None, {"team-a": {"ocids.io/max-active-runs": "1"}})
    for entry in entries:
        rt.ledger.observe(entry)
    for _ in range(100):  # a poll's worth of cap checks: counted once
        assert tallied_hold(entries[1], rt.ledger.tally(), None, {"team-a": 1}) is not None
    assert built == [1]
    entries[1]["status"]["message"] = "written again"  # a held run's own write: its place is the same
    assert not rt.ledger.observe(entries[1])
    rt.ledger.tally()
    assert built == [1]
    entries[0]["status"]["phase"] = "Succeeded"
    assert rt.ledger.observe(entries[0])  # a run ended: counted again, and a place is free
    assert tallied_hold(entries[1], rt.ledger.tally(), None, {"team-a": 1}) is None
    assert built == [1, 1]


def test_the_wake_up_asks_nothing_when_no_run_is_held() -> None:
    class Unread:
        async def annotations(self, namespace: str) -> dict[str, str]:
            raise AssertionError("no namespace is read when nothing is held")

    rt = _rt([run(f"r{i}", i % 60, state="active" if i % 2 else "done") for i in range(200)], 10, {})
    rt.namespaces = Unread()
    assert asyncio.run(run_caps.startable(rt)) == []


def _maximum_runtime_rt() -> Any:
    rt = _rt([], None, {})
    rt.settings.require_maximum_runtime = True
    return rt


def test_a_run_of_an_empty_job_with_no_maximum_runtime_is_refused_for_good() -> None:
    from ocids_operator.core.admission import Refuse

    empty = _job(jobType="EMPTY", artifact=None, container={"image": "iad.ocir.io/ns/x:1"})
    run_spec = TrainingJobRunSpec.model_validate({"jobRef": {"name": "train"}})
    job = {"metadata": {"name": "train"}}
    answer = asyncio.run(run_caps.check(_maximum_runtime_rt(), run("r", 1), run_spec, empty, job))
    assert isinstance(answer, Refuse) and answer.reason is HoldReason.MAXIMUM_RUNTIME_REQUIRED
    assert "create a new TrainingJobRun that sets spec.maximumRuntimeInMinutes" in answer.message
    # Fixed on the TrainingJob: stalled, looked at again, and the message names the job only.
    from ocids_operator.core.errors import ReconcileError

    with pytest.raises(ReconcileError) as raised:
        asyncio.run(run_caps.check(_maximum_runtime_rt(), run("r", 1), run_spec, _job(), job))
    assert "set spec.maximumRuntimeInMinutes on TrainingJob train;" in str(raised.value)
    assert "on this run" not in str(raised.value)


def test_a_bad_annotation_is_warned_about_on_a_run_even_after_a_look_with_no_run() -> None:
    posted: list[tuple[str, str]] = []

    class Kube:
        async def post_event(self, involved: Any, type_: str, reason: str, message: str) -> None:
            posted.append((type_, reason))

    rt = _rt([], None, {"team-z": {"ocids.io/max-active-runs": "many"}})
    rt.kube = Kube()
    asyncio.run(run_caps.namespace_cap(rt, "team-z"))  # the wake-up's look: no run to post it on
    asyncio.run(run_caps.namespace_cap(rt, "team-z", warn_on=run("r", 1, ns="team-z")))
    asyncio.run(run_caps.namespace_cap(rt, "team-z", warn_on=run("r", 1, ns="team-z")))
    assert posted == [("Warning", "InvalidAnnotation")]
