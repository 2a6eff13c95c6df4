"""The pollers at scale, on a simulated clock: OCI calls per run over a whole life, status lag, and
the naive per-run baseline, for 1000 runs of 3 minutes at the default 10 s poll interval.

The compartment is the in-memory one of fake_run_listing.py; the pollers are the real ones.
`pytest -s` prints the figures.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import time

import pytest
from fake_run_listing import COMPARTMENT, FakeKube, FakeRunsOci, created_at
from ocids_operator.core.phases import RunState
from ocids_operator.settings import OperatorSettings
from ocids_operator.workflows.per_run_poller import PerRunPoller
from ocids_operator.workflows.pollers import make_poller
from ocids_operator.workflows.run_poller import APPLY_CONCURRENCY, RunPoller, TrackedRun, next_delay

INTERVAL = 10.0
ACCEPTED_SECONDS = 5.0


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class NoWindowOci(FakeRunsOci):
    """OCI as the poller read it before windows: state lists and GETs only."""

    list_job_runs_page = None  # type: ignore[assignment]


@dataclasses.dataclass
class Figures:
    calls_per_run: dict[str, float]
    p95_lag_s: float
    max_lag_s: float


def follow(run_id: str, created: float) -> TrackedRun:
    run = TrackedRun(
        run_id=run_id,
        compartment_id=COMPARTMENT,
        namespace="ml",
        name=run_id,
        uid=f"uid-{run_id}",
        generation=1,
        status={"phase": "Accepted", "jobRunId": run_id},
        registered_at=0.0,
        expects_logs=False,
    )
    run.time_created = created_at(created)
    return run


def simulate(
    poller_class: type[RunPoller], oci: FakeRunsOci, runs: int, run_seconds: float, submit_seconds: float
) -> Figures:
    """`runs` created evenly over `submit_seconds`, each ACCEPTED 5 s then IN_PROGRESS until it ends.

    The compartment is polled as the operator's loop does, every INTERVAL (a cycle takes no time
    here); lag is from a run's end to the cycle that wrote its terminal phase.
    """

    async def scenario() -> Figures:
        clock, kube = Clock(), FakeKube()
        settings = OperatorSettings(poll_interval_seconds=INTERVAL)
        poller = poller_class(settings, oci, kube, clock=clock)  # type: ignore[arg-type]
        events = []
        for i in range(runs):
            at = i * submit_seconds / runs
            events += [
                (at, 0, f"r{i:04d}"),
                (at + ACCEPTED_SECONDS, 1, f"r{i:04d}"),
                (at + run_seconds, 2, f"r{i:04d}"),
            ]
        events.sort()
        ended: dict[str, float] = {}
        lags: list[float] = []
        reported: set[str] = set()
        cycle_at = INTERVAL
        while events or poller.tracked():
            while events and events[0][0] <= cycle_at:
                clock.now, kind, run_id = events.pop(0)
                if kind == 0:
                    oci.add(run_id, "ACCEPTED", clock.now)
                    poller.track(follow(run_id, clock.now))
                elif kind == 1:
                    oci.set(run_id, "IN_PROGRESS")
                else:
                    oci.set(run_id, "SUCCEEDED", "exit code 0")
                    ended[run_id] = clock.now
            clock.now = cycle_at
            await poller.cycle(COMPARTMENT)
            now_done = {r for r in ended if kube.status.get(r, {}).get("phase") == "Succeeded"} - reported
            lags += [cycle_at - ended[r] for r in now_done]
            reported |= now_done
            cycle_at += INTERVAL
            assert cycle_at < submit_seconds + run_seconds + 20 * INTERVAL, "runs never reached Succeeded"
        await poller.stop()
        assert len(lags) == runs and all(s.get("phase") == "Succeeded" for s in kube.status.values())
        lags.sort()
        return Figures(
            {op: count / runs for op, count in sorted(oci.calls.items())},
            lags[math.ceil(0.95 * len(lags)) - 1],
            lags[-1],
        )

    return asyncio.run(scenario())


def test_a_thousand_three_minute_runs_cost_under_one_read_each_and_the_naive_baseline_ten_times_more() -> (
    None
):
    """Issue 10: with the create, at most 2 OCI calls per run over its life; the baseline >= 10x."""
    listing = simulate(RunPoller, FakeRunsOci(), 1000, 180, 30)
    before = simulate(RunPoller, NoWindowOci(), 1000, 180, 30)
    naive = simulate(PerRunPoller, FakeRunsOci(), 1000, 180, 30)
    reads = {
        name: sum(f.calls_per_run.values())
        for name, f in (("window", listing), ("before", before), ("naive", naive))
    }
    print(f"\nreads per run (plus 1 create): {reads}")
    for name, figures in (("window", listing), ("before", before), ("naive", naive)):
        print(f"  {name}: {figures}")
    assert listing.calls_per_run.get("get_job_run", 0) == 0  # every end learned from a list
    assert 1 + reads["window"] <= 2
    assert (1 + reads["naive"]) >= 10 * (1 + reads["window"])
    assert listing.p95_lag_s <= 1.5 * INTERVAL


@pytest.mark.parametrize("runs", [10, 200])
def test_runs_ending_long_after_others_are_still_learned_without_a_get_each(runs: int) -> None:
    """Submitted over a long time (the window spans finished runs too): never worse than before."""
    listing = simulate(RunPoller, FakeRunsOci(), runs, 60, 600)
    before = simulate(RunPoller, NoWindowOci(), runs, 60, 600)
    assert sum(listing.calls_per_run.values()) <= sum(before.calls_per_run.values())
    assert listing.calls_per_run.get("get_job_run", 0) <= 0.05


def test_a_thousand_runs_ending_in_one_cycle_are_written_a_bounded_number_at_a_time() -> None:
    async def scenario() -> tuple[FakeKube, float]:
        oci, kube = FakeRunsOci(), FakeKube(write_seconds=0.005)
        poller = RunPoller(OperatorSettings(), oci, kube, clock=lambda: 1000.0)  # type: ignore[arg-type]
        for i in range(1000):
            oci.add(f"r{i}", "SUCCEEDED", i)
            run = follow(f"r{i}", i)
            run.lifecycle_state = RunState.IN_PROGRESS
            poller.track(run)
            run.registered_at = 0.0
        began = time.monotonic()
        await poller.cycle(COMPARTMENT)
        took = time.monotonic() - began
        assert not poller.tracked() and len(kube.status) == 1000
        await poller.stop()
        return kube, took

    kube, took = asyncio.run(scenario())
    assert kube.max_in_flight == APPLY_CONCURRENCY
    # One after another, 1000 writes of 5 ms would take 5 s.
    assert took < 2.5


def test_the_next_cycle_is_counted_from_the_last_ones_start() -> None:
    assert next_delay(10, 0, since_last_start=3) == 7  # a 3 s cycle: the next one 7 s after it ends
    assert next_delay(10, 0, since_last_start=12) == 0  # a cycle longer than the interval: at once
    assert next_delay(10, 2, since_last_start=1) == 39  # backed off after two failed cycles
    assert next_delay(300, 4, since_last_start=0) == 600  # capped


def test_poll_mode_per_run_swaps_in_the_naive_baseline() -> None:
    kube = FakeKube()
    assert type(make_poller(OperatorSettings(), FakeRunsOci(), kube)) is RunPoller  # type: ignore[arg-type]
    naive = make_poller(OperatorSettings(poll_mode="per_run"), FakeRunsOci(), kube)  # type: ignore[arg-type]
    assert isinstance(naive, PerRunPoller)


def test_the_naive_baseline_reads_each_run_once_per_interval_and_writes_only_changes() -> None:
    async def scenario() -> tuple[FakeRunsOci, FakeKube]:
        clock, oci, kube = Clock(), FakeRunsOci(), FakeKube()
        poller = PerRunPoller(OperatorSettings(), oci, kube, clock=clock)  # type: ignore[arg-type]
        for i in range(5):
            oci.add(f"r{i}", "IN_PROGRESS", i)
            poller.track(follow(f"r{i}", i))
        clock.now += 5
        await poller.cycle(COMPARTMENT)
        writes = dict(kube.status)
        await poller.cycle(COMPARTMENT)  # nothing changed: nothing written
        assert kube.status == writes
        oci.set("r0", "SUCCEEDED", "exit code 0")
        await poller.cycle(COMPARTMENT)
        assert kube.status["r0"]["phase"] == "Succeeded" and "r0" not in poller.tracked()
        await poller.stop()
        return oci, kube

    oci, _ = asyncio.run(scenario())
    assert oci.calls == {"get_job_run": 15}
