"""Events as hints (workflows/event_intake.py -> RunPoller.confirm): what each event costs in OCI
reads and what it writes, with the real poller against the in-memory compartment."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest
from fake_run_listing import COMPARTMENT, FakeKube, FakeRunsOci, created_at
from ocids_operator import metrics
from ocids_operator.adapters.oci_identities import OPERATOR
from ocids_operator.core.events_health import EventsState
from ocids_operator.core.phases import RunState
from ocids_operator.settings import OperatorSettings
from ocids_operator.workflows.event_intake import EventIntake, EventSource, IntakeOutcome
from ocids_operator.workflows.run_poller import RunPoller, TrackedRun

END = "com.oraclecloud.datascience.succeededjobrun"
_ids = itertools.count()


def envelope(
    run_id: str, event_type: str = END, compartment: str = COMPARTMENT, **extra: Any
) -> dict[str, Any]:
    return {
        "eventType": event_type,
        "eventID": extra.get("event_id", f"e-{next(_ids)}"),
        "eventTime": "2026-12-08T01:02:03Z",
        "data": {"compartmentId": compartment, "resourceId": run_id},
    }


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def follow(
    poller: RunPoller, run_id: str, state: RunState = RunState.IN_PROGRESS, created: float = 0
) -> None:
    run = TrackedRun(
        run_id=run_id,
        compartment_id=COMPARTMENT,
        namespace="ml",
        name=run_id,
        uid=f"uid-{run_id}",
        generation=1,
        status={"phase": state.phase.value, "jobRunId": run_id},
        registered_at=0.0,
        lifecycle_state=state,
        logs_known=True,
        time_created=created_at(created),
    )
    poller.track(run)
    run.registered_at = 0.0


def setup(**settings: Any) -> tuple[FakeRunsOci, FakeKube, RunPoller, EventIntake, Clock]:
    oci, kube, clock = FakeRunsOci(), FakeKube(), Clock()
    config = OperatorSettings(events_confirm_batch_seconds=0.0, **settings)
    poller = RunPoller(config, oci, kube, clock=clock)  # type: ignore[arg-type]
    intake = EventIntake(config, poller, frozenset({EventSource.STREAM}), clock)
    intake.read_ok()
    return oci, kube, poller, intake, clock


async def first_cycle(poller: RunPoller) -> None:
    for _ in range(300):
        if poller.cycles:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("no first cycle")


async def confirmed(poller: RunPoller) -> None:
    while poller._hint_tasks:
        await asyncio.gather(*list(poller._hint_tasks.values()))


def test_an_end_event_is_confirmed_with_one_read_and_written() -> None:
    async def run() -> None:
        oci, kube, poller, intake, _ = setup()
        oci.add("r1", "SUCCEEDED", created=0)
        follow(poller, "r1")
        assert intake.offer(envelope("r1"), EventSource.STREAM) is IntakeOutcome.HINT
        await confirmed(poller)
        assert oci.reads == ["get"]
        assert kube.status["r1"]["phase"] == "Succeeded"
        assert "r1" not in poller.tracked()
        await poller.stop()

    asyncio.run(run())


def test_a_forged_end_costs_one_read_and_writes_nothing() -> None:
    async def run() -> None:
        oci, kube, poller, intake, _ = setup()
        oci.add("r1", "IN_PROGRESS", created=0)
        follow(poller, "r1")
        assert intake.offer(envelope("r1"), EventSource.STREAM) is IntakeOutcome.HINT
        await confirmed(poller)
        assert oci.reads == ["get"]
        assert "r1" not in kube.status
        assert "r1" in poller.tracked()
        await poller.stop()

    asyncio.run(run())


def test_outcomes_that_cost_no_read() -> None:
    async def run() -> None:
        oci, kube, poller, intake, _ = setup()
        oci.add("r1", "SUCCEEDED", created=0)
        follow(poller, "r1")
        first = envelope("r1", event_id="same")
        assert intake.offer(first, EventSource.STREAM) is IntakeOutcome.HINT
        await confirmed(poller)
        reads = list(oci.reads)
        cases = [
            (first, IntakeOutcome.DUPLICATE),  # a redelivery
            (envelope("r1"), IntakeOutcome.UNFOLLOWED),  # ended: not followed any more
            (envelope("ocid1.datasciencejobrun.oc1..other"), IntakeOutcome.UNFOLLOWED),
            (envelope("r2", "com.oraclecloud.datascience.createjobrun.end"), IntakeOutcome.NO_READ),
            (envelope("r2", "com.oraclecloud.objectstorage.createobject"), IntakeOutcome.NO_READ),
            ({"eventType": END}, IntakeOutcome.INVALID),
        ]
        for doc, outcome in cases:
            assert intake.offer(doc, EventSource.NOTIFICATIONS) is outcome, doc
        oci.add("r3", "SUCCEEDED", created=1)
        follow(poller, "r3")
        wrong = envelope("r3", compartment="ocid1.compartment.oc1..elsewhere")
        assert intake.offer(wrong, EventSource.STREAM) is IntakeOutcome.MISMATCH
        await confirmed(poller)
        assert oci.reads == reads  # none of these read anything
        assert kube.status.get("r3") is None
        await poller.stop()

    asyncio.run(run())


def test_hints_of_a_compartment_are_read_together_by_its_cycle_when_that_is_cheaper() -> None:
    async def run() -> None:
        oci, kube, poller, intake, _ = setup()
        for i in range(5):
            oci.add(f"r{i}", "IN_PROGRESS", created=i)
            follow(poller, f"r{i}", created=i)
        await poller.cycle(COMPARTMENT)  # one newest-first page answers all five
        assert oci.reads == ["window"]
        for i in range(3):
            oci.set(f"r{i}", "SUCCEEDED")
        for i in range(3):
            intake.offer(envelope(f"r{i}"), EventSource.STREAM)
        await confirmed(poller)  # 3 hints: the compartment's loop cycles now (one page), no GET
        for _ in range(200):
            await asyncio.sleep(0.01)
            if len(kube.status) == 3:
                break
        assert oci.reads == ["window", "window"]
        assert {kube.status[f"r{i}"]["phase"] for i in range(3)} == {"Succeeded"}
        await poller.stop()

    asyncio.run(run())


def test_a_lone_hint_is_a_get_even_where_windows_fit() -> None:
    async def run() -> None:
        oci, _, poller, intake, _ = setup()
        for i in range(5):
            oci.add(f"r{i}", "IN_PROGRESS", created=i)
            follow(poller, f"r{i}", created=i)
        await poller.cycle(COMPARTMENT)
        poller._cycle_cost[(poller.tracked()["r0"].identity, COMPARTMENT)] = 2  # say, 2 pages
        oci.set("r0", "FAILED")
        intake.offer(envelope("r0"), EventSource.STREAM)
        await confirmed(poller)
        assert oci.reads == ["window", "get"]
        await poller.stop()

    asyncio.run(run())


def test_an_older_answer_never_puts_status_back() -> None:
    async def run() -> None:
        oci, kube, poller, _, _ = setup()
        oci.add("r1", "ACCEPTED", created=0)  # a lagging answer: the run is known IN_PROGRESS
        follow(poller, "r1", RunState.IN_PROGRESS)
        await poller.cycle(COMPARTMENT)
        assert "r1" not in kube.status
        assert poller.tracked()["r1"].lifecycle_state == RunState.IN_PROGRESS
        await poller.stop()

    asyncio.run(run())


def _missed() -> float:
    return metrics.EVENTS_MISSED_ENDS._value.get()


def test_an_end_polling_found_counts_as_missed_unless_its_event_comes() -> None:
    async def run() -> None:
        oci, _, poller, intake, clock = setup()
        for run_id in ("a", "b"):
            oci.add(run_id, "SUCCEEDED", created=0)
            follow(poller, run_id)
        before = _missed()
        await poller.cycle(COMPARTMENT)  # polling finds both ends first
        clock.now += 5
        intake.offer(envelope("b"), EventSource.STREAM)  # b's event comes late: not missed
        poller.count_missed(clock.now)
        assert _missed() == before
        clock.now += 60
        poller.count_missed(clock.now)
        assert _missed() == before + 1  # a's never came
        await poller.stop()

    asyncio.run(run())


def test_leaving_healthy_wakes_a_loop_sleeping_the_fallback() -> None:
    async def run() -> None:
        oci, kube = FakeRunsOci(), FakeKube()
        config = OperatorSettings(
            poll_interval_seconds=0.05, poll_slow_interval_seconds=0.05, events_poll_interval_seconds=3600
        )
        poller = RunPoller(config, oci, kube)  # type: ignore[arg-type]
        intake = EventIntake(config, poller, frozenset({EventSource.STREAM}))
        intake.read_ok()
        oci.add("r1", "IN_PROGRESS", created=0)
        follow(poller, "r1")
        await first_cycle(poller)  # a run just followed is read once at the fast interval
        await asyncio.sleep(0.1)  # then the loop sleeps the hour-long fallback
        assert poller.cycles == 1
        oci.set("r1", "SUCCEEDED")
        intake.read_failed("GetMessages 503")
        assert intake.state() is EventsState.FAILING
        for _ in range(100):
            await asyncio.sleep(0.01)
            if "r1" in kube.status:
                break
        assert kube.status["r1"]["phase"] == "Succeeded"
        await poller.stop()

    asyncio.run(run())


@pytest.mark.parametrize("healthy", [True, False])
def test_a_new_run_wakes_a_loop_sleeping_long(healthy: bool) -> None:
    async def run() -> None:
        oci, kube = FakeRunsOci(), FakeKube()
        config = OperatorSettings(
            poll_interval_seconds=0.05,
            poll_slow_interval_seconds=3600,
            events_poll_interval_seconds=3600,
            poll_fast_window_seconds=0,
        )
        poller = RunPoller(config, oci, kube)  # type: ignore[arg-type]
        intake = EventIntake(config, poller, frozenset({EventSource.STREAM}))
        if healthy:
            intake.read_ok()
        oci.add("old", "IN_PROGRESS", created=0)
        follow(poller, "old")
        if healthy:  # a run just followed is read once fast, however healthy the events
            await first_cycle(poller)
        await asyncio.sleep(0.1)  # the loop sleeps an hour
        assert poller.cycles == (1 if healthy else 0)
        oci.add("new", "IN_PROGRESS", created=1)  # started already: only a poll tells
        follow(poller, "new", RunState.ACCEPTED, created=1)
        for _ in range(300):
            await asyncio.sleep(0.01)
            if "new" in kube.status:
                break
        assert kube.status["new"]["phase"] == "InProgress"
        await poller.stop()

    asyncio.run(run())


def _slow_writes_of(kube: FakeKube, phase: str | None = None, first: bool = False) -> list[str]:
    """Delays the chosen write (a phase's, or the first) as an API write queued behind others."""
    original, written = kube.patch_run_status, []

    async def slow(namespace: str, name: str, uid: str, status: dict[str, Any], **kw: Any) -> Any:
        written.append(status.get("phase"))
        if status.get("phase") == phase or (first and len(written) == 1):
            await asyncio.sleep(0.1)
        return await original(namespace, name, uid, status, **kw)

    kube.patch_run_status = slow  # type: ignore[method-assign]
    return written


def test_a_hint_read_racing_the_cycle_never_writes_status_backwards() -> None:
    async def run() -> None:
        oci, kube, poller, intake, _ = setup()
        written = _slow_writes_of(kube, phase="Canceling")
        oci.add("r1", "CANCELING", created=0)
        follow(poller, "r1")
        cycle = asyncio.ensure_future(poller.cycle(COMPARTMENT))  # lists CANCELING, writes it slowly
        await asyncio.sleep(0.02)
        oci.set("r1", "CANCELED")
        cancel_end = envelope("r1", "com.oraclecloud.datascience.canceljobrun.end")
        assert intake.offer(cancel_end, EventSource.STREAM) is IntakeOutcome.HINT
        await confirmed(poller)
        await cycle
        assert kube.status["r1"]["phase"] == "Canceled"
        assert written == ["Canceling", "Canceled"]
        assert [reason for _, _, reason in kube.events] == ["Canceling", "Canceled"]
        assert "r1" not in poller.tracked()
        await poller.stop()

    asyncio.run(run())


def test_a_hint_and_the_cycle_reading_the_same_end_write_it_once() -> None:
    async def run() -> None:
        oci, kube, poller, intake, _ = setup()
        written = _slow_writes_of(kube, first=True)
        oci.add("r1", "SUCCEEDED", created=0)
        follow(poller, "r1")
        cycle = asyncio.ensure_future(poller.cycle(COMPARTMENT))
        await asyncio.sleep(0.02)
        assert intake.offer(envelope("r1"), EventSource.STREAM) is IntakeOutcome.HINT
        await confirmed(poller)
        await cycle
        assert written == ["Succeeded"]
        assert kube.events == [("r1", "Normal", "Succeeded")]
        assert not poller._writers  # nothing kept per run once written
        await poller.stop()

    asyncio.run(run())


def test_a_hint_batch_stays_stoppable_until_its_writes_are_done() -> None:
    async def run() -> None:
        oci, kube, poller, intake, _ = setup()
        kube.write_seconds = 10.0  # a write that hangs
        oci.add("r1", "SUCCEEDED", created=0)
        follow(poller, "r1")
        intake.offer(envelope("r1"), EventSource.STREAM)
        for _ in range(100):
            await asyncio.sleep(0.01)
            if kube.in_flight:
                break
        assert kube.in_flight == 1 and poller._hint_tasks  # still registered while it writes
        await poller.stop()  # cancels it: no write after the clients close
        assert kube.in_flight == 0 and not poller._hint_tasks

    asyncio.run(run())


def test_hints_arriving_during_a_batch_read_are_confirmed_next() -> None:
    async def run() -> None:
        oci, kube, poller, intake, _ = setup()
        kube.write_seconds = 0.05
        for run_id in ("a", "b"):
            oci.add(run_id, "SUCCEEDED", created=0)
            follow(poller, run_id)
        intake.offer(envelope("a"), EventSource.STREAM)
        await asyncio.sleep(0.02)  # a's batch is writing
        intake.offer(envelope("b"), EventSource.STREAM)
        await confirmed(poller)
        assert kube.status["a"]["phase"] == kube.status["b"]["phase"] == "Succeeded"
        await poller.stop()

    asyncio.run(run())


def test_an_end_after_a_forged_announcement_is_still_counted_missed() -> None:
    async def run() -> None:
        oci, _, poller, intake, clock = setup()
        oci.add("r1", "IN_PROGRESS", created=0)
        follow(poller, "r1")
        intake.offer(envelope("r1"), EventSource.STREAM)  # forged: the read shows it running
        await confirmed(poller)
        before = _missed()
        oci.set("r1", "SUCCEEDED")  # its real end comes with no event
        await poller.cycle(COMPARTMENT)
        clock.now += 61
        poller.count_missed(clock.now)
        assert _missed() == before + 1
        await poller.stop()

    asyncio.run(run())


def test_pages_of_a_confirming_cycle_are_counted_when_a_cycle_was_already_running() -> None:
    async def run() -> None:
        oci, kube, poller, _, _ = setup()
        for run_id in ("a", "b"):
            oci.add(run_id, "IN_PROGRESS", created=0)
            follow(poller, run_id)
        await poller.cycle(COMPARTMENT)  # the compartment's cost is known: one page
        kube.write_seconds = 0.1
        oci.set("a", "SUCCEEDED")
        cycle = asyncio.ensure_future(poller.cycle(COMPARTMENT))  # running when the hint comes
        await asyncio.sleep(0.02)
        before = metrics.EVENTS_CONFIRM_READS._value.get()
        poller._confirm_cycles[(OPERATOR, COMPARTMENT)] = {"a"}  # a hint the next cycle answers
        await cycle
        assert metrics.EVENTS_CONFIRM_READS._value.get() == before  # not the one already running
        await poller.cycle(COMPARTMENT)
        assert metrics.EVENTS_CONFIRM_READS._value.get() > before
        await poller.stop()

    asyncio.run(run())


def test_until_following_returns_once_a_run_is_followed() -> None:
    async def run() -> None:
        _, _, poller, intake, _ = setup()
        assert not intake.following()
        waiting = asyncio.ensure_future(intake.until_following())
        await asyncio.sleep(0.02)
        assert not waiting.done()
        follow(poller, "r1")
        await asyncio.wait_for(waiting, 1)
        assert intake.following()
        await poller.stop()

    asyncio.run(run())


def test_a_forged_notification_does_not_prove_events_flow() -> None:
    """Anyone holding the Notifications credentials can post an event: only one naming a followed run
    in its own compartment counts as proof that events flow (which would slow polling down)."""
    oci, kube, clock = FakeRunsOci(), FakeKube(), Clock()
    config = OperatorSettings(events_confirm_batch_seconds=0.0, events_silence_seconds=60)
    poller = RunPoller(config, oci, kube, clock=clock)  # type: ignore[arg-type]
    intake = EventIntake(config, poller, frozenset({EventSource.NOTIFICATIONS}), clock)
    follow(poller, "r1")
    intake.expect("r-new")
    clock.now += 61
    assert intake.state() is EventsState.STARTING
    start = "com.oraclecloud.datascience.createjobrun.begin"
    for forged in (envelope("unknown", start), envelope("r1", start, compartment="ocid1.compartment.x")):
        intake.offer(forged, EventSource.NOTIFICATIONS)
        assert intake.state() is EventsState.STARTING, forged
    intake.offer(envelope("r1", start), EventSource.NOTIFICATIONS)
    assert intake.state() is EventsState.HEALTHY
    # The create event of a run the operator just created proves it too (it is not followed yet).
    intake.expect("r-2")
    clock.now += 61
    assert intake.state() is EventsState.SILENT
    intake.offer(envelope("r-3", start), EventSource.NOTIFICATIONS)
    assert intake.state() is EventsState.SILENT
    intake.expect("r-4")
    intake.offer(envelope("r-4", start), EventSource.NOTIFICATIONS)
    assert intake.state() is EventsState.HEALTHY
    # ... even when it comes before the create call returns (the run is expected after its event).
    intake.expect("r-6")
    clock.now += 61
    assert intake.state() is EventsState.SILENT
    intake.offer(envelope("r-7", start), EventSource.NOTIFICATIONS)
    assert intake.state() is EventsState.SILENT
    intake.expect("r-7")
    assert intake.state() is EventsState.HEALTHY


def test_a_metrics_write_waits_for_the_runs_writer_and_is_dropped_once_the_run_is_let_go() -> None:
    # A retry's write empties status.metrics for the next attempt and lets the run go: the failed
    # attempt's metrics, computed by a cycle at the same moment, must not land after it.
    async def run() -> None:
        _, kube, poller, _, _ = setup()
        follow(poller, "r1")
        poller.metrics.changed = lambda tracked: [{"name": "loss", "value": 0.5}]  # type: ignore[method-assign]
        writes: list[Any] = []
        original = kube.patch_run_status

        async def record(namespace: str, name: str, uid: str, status: dict[str, Any], **kw: Any) -> Any:
            writes.append(status)
            return await original(namespace, name, uid, status, **kw)

        kube.patch_run_status = record  # type: ignore[method-assign]
        release = asyncio.Event()

        async def retry_write() -> None:
            async with poller._writer("r1"):
                await release.wait()
                poller.untrack("r1")  # what the retry's write does once written

        holder = asyncio.ensure_future(retry_write())
        await asyncio.sleep(0)
        metrics_write = asyncio.ensure_future(poller._write_metrics("r1"))
        await asyncio.sleep(0.05)
        assert writes == []  # waiting for the run's writer
        release.set()
        await asyncio.gather(holder, metrics_write)
        assert writes == []  # the run was let go meanwhile: nothing written for the failed attempt
        await poller.stop()

    asyncio.run(run())
