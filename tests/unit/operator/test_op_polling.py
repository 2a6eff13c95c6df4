"""The run poller: a few shared lists per compartment, fanned out to many runs.

Driven with an in-memory OCI (fake_run_listing.py: the gateway's read calls, pages counted) and
a recording Kubernetes client; the poller code under test is the real one.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fake_run_listing import COMPARTMENT, FakeKube, FakeRunsOci
from ocids_operator.core.run_plan import RunView
from ocids_operator.settings import OperatorSettings
from ocids_operator.workflows.run_poller import (
    MAX_RUN_FAILURES,
    RunPoller,
    TrackedRun,
    next_interval,
    plan_tick,
    states_to_list,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def tracked(run_id: str, state: str = "ACCEPTED", registered_at: float = 0.0) -> TrackedRun:
    return TrackedRun(
        run_id=run_id,
        compartment_id=COMPARTMENT,
        namespace="ml",
        name=run_id,
        uid=f"uid-{run_id}",
        generation=1,
        status={"phase": "Accepted", "jobRunId": run_id},
        registered_at=registered_at,
        lifecycle_state=state,
    )


def make_poller() -> tuple[RunPoller, FakeRunsOci, FakeKube, Clock]:
    oci, kube, clock = FakeRunsOci(), FakeKube(), Clock()
    poller = RunPoller(OperatorSettings(), oci, kube, clock=clock)  # type: ignore[arg-type]
    return poller, oci, kube, clock


def view(run_id: str, state: str, details: str | None = None) -> RunView:
    return RunView(run_id, "j", COMPARTMENT, state, details)


# Pure decisions ---------------------------------------------------------------------------------
def test_listed_states_grow_only_with_what_tracked_runs_were_seen_in() -> None:
    assert states_to_list([tracked("a"), tracked("b", "IN_PROGRESS")]) == ("ACCEPTED", "IN_PROGRESS")
    assert states_to_list([tracked("a", "CANCELING")]) == ("ACCEPTED", "IN_PROGRESS", "CANCELING")


def test_plan_tick_updates_changed_runs_and_fetches_runs_that_left_the_lists() -> None:
    runs = {
        "same": tracked("same"),
        "moved": tracked("moved"),
        "gone": tracked("gone"),
        "new": tracked("new", registered_at=5000.0),
    }
    for run in runs.values():
        run.logs_known = True
    listed = {"same": view("same", "ACCEPTED"), "moved": view("moved", "IN_PROGRESS")}
    plan = plan_tick(runs, listed, cutoff=2000.0)
    assert [run_id for run_id, _ in plan.updates] == ["moved"]
    assert plan.fetch == ("gone",)  # "new" registered after listing began: not judged yet


def test_state_change_before_logs_are_known_reads_the_run_once() -> None:
    plan = plan_tick({"r": tracked("r")}, {"r": view("r", "IN_PROGRESS")}, cutoff=2000.0)
    assert plan.fetch == ("r",) and plan.updates == ()


def test_interval_is_fast_while_runs_start_and_slow_for_long_runs() -> None:
    settings = OperatorSettings(
        poll_interval_seconds=2, poll_slow_interval_seconds=30, poll_fast_window_seconds=60
    )
    assert next_interval([tracked("a", "ACCEPTED", 0)], settings, now=1000) == 2
    assert next_interval([tracked("a", "IN_PROGRESS", 990)], settings, now=1000) == 2
    assert next_interval([tracked("a", "IN_PROGRESS", 0)], settings, now=1000) == 30


# Cycles against the fake OCI ----------------------------------------------------------------------
def test_a_run_is_followed_to_the_end_with_events_on_each_phase_change() -> None:
    async def scenario() -> None:
        poller, oci, kube, clock = make_poller()
        oci.add("r1")
        poller.track(tracked("r1"))
        clock.now += 5
        oci.set("r1", "IN_PROGRESS", "Job run artifact execution in progress.", log_id="ocid1.log.oc1..l")
        await poller.cycle(COMPARTMENT)
        assert kube.status["r1"]["phase"] == "InProgress"
        assert kube.status["r1"]["logs"]["logId"] == "ocid1.log.oc1..l"
        oci.set("r1", "FAILED", "Job run artifact execution failed with exit code 3.")
        await poller.cycle(COMPARTMENT)
        assert kube.status["r1"]["phase"] == "Failed" and kube.status["r1"]["exitCode"] == 3
        assert kube.status["r1"]["logs"]["logId"] == "ocid1.log.oc1..l"  # kept
        assert [reason for _, _, reason in kube.events] == ["InProgress", "Failed"]
        assert poller.tracked() == {}  # terminal: never polled again
        await poller.stop()

    asyncio.run(scenario())


def test_a_deleted_resource_is_dropped_and_a_run_deleted_in_oci_is_reported() -> None:
    async def scenario() -> None:
        poller, oci, kube, clock = make_poller()
        oci.add("kept")
        oci.add("cr-gone")
        poller.track(tracked("kept"))
        poller.track(tracked("cr-gone"))
        clock.now += 5
        del oci.runs["kept"]
        oci.set("cr-gone", "IN_PROGRESS")
        kube.gone.add("cr-gone")
        await poller.cycle(COMPARTMENT)
        assert kube.status["kept"]["phase"] == "Deleted"
        assert poller.tracked() == {}
        await poller.stop()

    asyncio.run(scenario())


@pytest.mark.parametrize("runs", [10, 1000])
def test_oci_calls_per_run_stay_small_and_constant_as_runs_grow(runs: int) -> None:
    """A run's whole life (accepted, started, finished) costs the same few calls at 10 or 1000 runs."""

    async def scenario() -> dict[str, float]:
        poller, oci, kube, clock = make_poller()
        ids = [f"r{i}" for i in range(runs)]
        for run_id in ids:
            oci.add(run_id)
            poller.track(tracked(run_id))
        clock.now += 5
        for step in ("IN_PROGRESS", "IN_PROGRESS", "SUCCEEDED"):
            for run_id in ids:
                oci.set(run_id, step, "exit code 0" if step == "SUCCEEDED" else None)
            await poller.cycle(COMPARTMENT)
        assert all(kube.status[run_id]["phase"] == "Succeeded" for run_id in ids)
        await poller.stop()
        return {name: count / runs for name, count in oci.calls.items()}

    per_run = asyncio.run(scenario())
    # One GET when the run starts (its log details) and one when it ends; lists are shared.
    assert per_run["get_job_run"] == 2
    assert per_run["list_job_runs"] <= 1.0 if runs == 10 else per_run["list_job_runs"] < 0.1


def test_a_failed_status_write_is_retried_next_cycle_without_stopping_other_runs() -> None:
    async def scenario() -> None:
        poller, oci, kube, clock = make_poller()
        for run_id in ("flaky", "fine"):
            oci.add(run_id)
            poller.track(tracked(run_id))
            poller.tracked()[run_id].logs_known = True
        clock.now += 5
        oci.set("flaky", "IN_PROGRESS")
        oci.set("fine", "IN_PROGRESS")
        original = kube.patch_run_status
        calls = {"n": 0}

        async def flaky_patch(
            namespace: str, name: str, uid: str, status: dict[str, Any]
        ) -> dict[str, Any] | None:
            if name == "flaky" and calls["n"] == 0:
                calls["n"] += 1
                raise ConnectionResetError("API server went away")
            return await original(namespace, name, uid, status)

        kube.patch_run_status = flaky_patch  # type: ignore[method-assign]
        await poller.cycle(COMPARTMENT)
        assert kube.status["fine"]["phase"] == "InProgress" and "flaky" not in kube.status
        clock.now += 600  # past its own backoff
        await poller.cycle(COMPARTMENT)
        assert kube.status["flaky"]["phase"] == "InProgress"
        await poller.stop()

    asyncio.run(scenario())


def test_a_run_oci_fails_to_return_does_not_hold_back_the_others() -> None:
    async def scenario() -> None:
        poller, oci, kube, clock = make_poller()
        for run_id in ("unlucky", "fine"):
            oci.add(run_id, "IN_PROGRESS")
            poller.track(tracked(run_id, "IN_PROGRESS"))
        clock.now += 5
        # Both finished, so both left the lists and each needs one GET.
        oci.set("unlucky", "SUCCEEDED", "exit code 0")
        oci.set("fine", "SUCCEEDED", "exit code 0")
        original = oci.get_job_run

        async def failing_get(run_id: str) -> RunView | None:
            if run_id == "unlucky":
                raise ConnectionError("OCI timed out")
            return await original(run_id)

        oci.get_job_run = failing_get  # type: ignore[method-assign]
        await poller.cycle(COMPARTMENT)
        assert kube.status["fine"]["phase"] == "Succeeded" and "unlucky" not in kube.status
        oci.get_job_run = original  # type: ignore[method-assign]
        clock.now += 600  # past its own backoff
        await poller.cycle(COMPARTMENT)
        assert kube.status["unlucky"]["phase"] == "Succeeded"
        await poller.stop()

    asyncio.run(scenario())


def test_runs_without_logging_cost_no_get_their_end_comes_from_the_list() -> None:
    async def scenario() -> float:
        poller, oci, kube, clock = make_poller()
        for i in range(50):
            oci.add(f"r{i}")
            run = tracked(f"r{i}")
            run.expects_logs = False
            poller.track(run)
        clock.now += 5
        for step in ("IN_PROGRESS", "SUCCEEDED"):
            for i in range(50):
                oci.set(f"r{i}", step)
            await poller.cycle(COMPARTMENT)
        assert all(kube.status[f"r{i}"]["phase"] == "Succeeded" for i in range(50))
        await poller.stop()
        return oci.calls["get_job_run"] / 50

    assert asyncio.run(scenario()) == 0


def test_a_run_whose_status_write_keeps_failing_never_slows_the_others_and_is_let_go() -> None:
    """Issue 15: one bad run used to make every cycle fail, backing off the whole compartment."""

    async def scenario() -> None:
        poller, oci, kube, clock = make_poller()
        for run_id in ("bad", "good"):
            oci.add(run_id)
            poller.track(tracked(run_id))
            poller.tracked()[run_id].logs_known = True
        original = kube.patch_run_status

        async def rejecting(
            namespace: str, name: str, uid: str, status: dict[str, Any]
        ) -> dict[str, Any] | None:
            if name == "bad":
                raise RuntimeError("admission webhook denied the request")
            return await original(namespace, name, uid, status)

        kube.patch_run_status = rejecting  # type: ignore[method-assign]
        # A failing cycle is what backs off the compartment's loop: none may fail because of "bad".
        cycles, steps = poller.cycles, 0
        while "bad" in poller.tracked():
            clock.now += 60
            steps += 1
            details = f"step {steps}"
            oci.set("bad", "IN_PROGRESS", details)
            oci.set("good", "IN_PROGRESS", details)
            await poller.cycle(COMPARTMENT)
            assert kube.status["good"]["lifecycleDetails"] == details  # followed every cycle
            assert steps < 100, "the failing run is never let go"
        assert poller.cycles == cycles + steps
        assert list(poller.tracked()) == ["good"]
        # Its own backoff: far fewer attempts than cycles before it was let go.
        assert steps > MAX_RUN_FAILURES
        await poller.stop()

    asyncio.run(scenario())


def test_a_run_get_denies_is_not_taken_for_deleted_while_its_list_shows_it() -> None:
    """OCI answers 404 NotAuthorizedOrNotFound to a GetJobRun an IAM policy denies."""

    async def scenario() -> None:
        poller, oci, kube, clock = make_poller()
        oci.add("denied", "IN_PROGRESS")
        oci.add("gone", "IN_PROGRESS")
        for run_id in ("denied", "gone"):
            poller.track(tracked(run_id, "IN_PROGRESS"))
        clock.now += 5
        oci.denied.add("denied")
        oci.set("denied", "SUCCEEDED", "exit code 0")  # left the lists: needs its one GET
        del oci.runs["gone"]
        await poller.cycle(COMPARTMENT)
        assert kube.status["denied"]["phase"] == "Succeeded"
        assert kube.status["gone"]["phase"] == "Deleted"
        await poller.stop()

    asyncio.run(scenario())
