"""OCI Events under chaos: events are only hints, polling is the safety net.

Four cases, each against a real emulator routing its job-run events through an Events rule to a
stream the operator reads (events_workload.py), with the emulator's delivery faults:
- events lost: polling (the slow fallback) still finds every end, and the operator counts each end
  no event announced in ocids_events_missed_ends_total;
- events duplicated and out of order: no run's status ever goes backwards (a watch sees every
  status the API server held), and a duplicate costs no second read;
- forged events on the HTTPS Notifications endpoint: with the right credentials they cost at most one
  read each and write nothing; with wrong ones they are refused (401). The same forgeries put on the
  stream itself (by whoever may push to it) fare the same;
- the stream unavailable (GetMessages 503): the operator falls back to fast polling within a fast
  interval (gauge and ConfigMap say Failing; a run ending meanwhile reaches status within about a
  fast poll), and polls slowly again once reads succeed (Healthy).

`make test` runs each with a few runs and seconds; `make chaos` (OCIDS_CHAOS=full) with 100 runs and a
one-minute outage. Each prints its figures as a `CHAOS events-...` line (chaos_figures.report).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from chaos_figures import FULL, report, scale
from events_workload import (
    END_TYPES,
    TERMINAL,
    StatusWatch,
    StreamForger,
    all_runs_terminal,
    apply_runs,
    by_operation,
    create_plumbing,
    envelope,
    events_config_map,
    events_env,
    events_state,
    lag_figures,
    metric,
    received,
    request_counts,
    serving_files,
    start_jobs,
    status_lags,
    stream_envelopes,
)
from ocids_controlplane.ports import free_ports
from ocids_operator.workflows.events import BACKOFF_CAP_SECONDS
from operator_harness import RUNS, OperatorProcess, Scenario, wait_for

pytestmark = pytest.mark.integration

SEED = 19
READS = ("get_job_run", "list_job_runs")  # what a confirming read or a poll cycle costs in OCI calls
# A run's end reaches status this long after the poll that can see it: the cycle's own work and a
# loaded CI machine (2 CPUs shared by parallel tests).
SLACK_S = 3.0

Start = Callable[..., OperatorProcess]


def _wait_healthy(op: OperatorProcess, timeout: float = 45) -> None:
    wait_for(
        lambda: events_state(op) == "Healthy",
        timeout=timeout,
        message=lambda: f"events Healthy ({events_state(op)})",
    )


def _phases(scenario: Scenario) -> dict[str, str | None]:
    return {
        o["metadata"]["name"]: (o.get("status") or {}).get("phase")
        for o in scenario.kube.list_objects(RUNS, scenario.namespace)
    }


def _lifecycle(obj: dict[str, Any]) -> dict[str, Any]:
    """What an event could move: phase, times, exit, conditions."""
    status = obj.get("status") or {}
    keys = ("phase", "jobRunId", "timeStarted", "timeFinished", "exitCode", "lifecycleDetails", "conditions")
    return {key: status.get(key) for key in keys}


def _run_id(scenario: Scenario, name: str) -> str:
    return str(((scenario.get_run(name) or {}).get("status") or {}).get("jobRunId"))


# 1. Events lost ---------------------------------------------------------------------------------------
LOST_RUNS, LOST_JOBS = scale((8, 2), (100, 5))
LOST_DURATIONS = scale("2..6:0", "5..40:0")
LOSS_RATE = 0.5
FALLBACK_S = scale(5.0, 30.0)
SILENCE_S = scale(4.0, 15.0)


def test_lost_end_events_are_found_by_the_slow_fallback_poll_and_counted_missed(
    world: Scenario, emulator: Any, start_operator: Start
) -> None:
    plumbing = create_plumbing(emulator)
    op = start_operator(
        env=events_env(
            plumbing,
            emulator,
            world.namespace,
            events_poll_interval_seconds=FALLBACK_S,
            events_silence_seconds=SILENCE_S,
        )
    )
    _wait_healthy(op)
    jobs = start_jobs(world, LOST_JOBS)
    # Only the ends are lost: the create events still flow, so the events stay Healthy and polling
    # stays at the slow fallback. What finds a lost end is that fallback, not a fast poll.
    world.admin.set_faults({"eventDelivery": {"lossRate": LOSS_RATE, "eventTypes": END_TYPES}, "seed": SEED})
    world.admin.set_simulated(LOST_DURATIONS)
    missed_before = metric(op, "ocids_events_missed_ends_total")
    states: set[str | None] = set()

    def missed() -> int:
        return int(metric(op, "ocids_events_missed_ends_total") - missed_before)

    def ended(count: int) -> Callable[[], bool]:
        def check() -> bool:
            states.add(events_state(op))
            return all_runs_terminal(world.kube, world.namespace, count)

        return check

    with StatusWatch(world.kube, world.namespace) as watch:
        start = time.monotonic()
        names = apply_runs(world, jobs, (f"run-{i}" for i in range(LOST_RUNS)))
        wait_for(
            ended(len(names)),
            timeout=scale(90.0, 240.0),
            interval=0.5,
            message=lambda: f"every run ended: {_phases(world)}",
        )
        converged_s = time.monotonic() - start
        run_ids = {name: _run_id(world, name) for name in names}
        announced = {
            e["data"]["resourceId"] for e in stream_envelopes(plumbing) if e.get("eventType") in END_TYPES
        }
        lost = {name for name, run_id in run_ids.items() if run_id not in announced}
        # Counted once no event came within OCIDS_EVENTS_SILENCE_SECONDS of polling finding the end.
        wait_for(
            lambda: missed() >= len(lost),
            timeout=SILENCE_S + FALLBACK_S + 15,
            message=lambda: f"{len(lost)} missed ends counted ({missed()})",
        )
        counted = missed()

        # Above, a lost end is often found by the read confirming another run's end (one list shows
        # both). A run whose end is lost when nothing else happens has only the slow poll to find it.
        world.admin.set_faults({"eventDelivery": {"lossRate": 1.0, "eventTypes": END_TYPES}, "seed": SEED})
        world.admin.set_simulated("1:0")
        (lone,) = apply_runs(world, jobs, ["lone"])
        wait_for(
            ended(len(names) + 1),
            timeout=FALLBACK_S + 30,
            interval=0.5,
            message=lambda: f"the lone run ended: {_phases(world)}",
        )
        wait_for(
            lambda: missed() >= counted + 1,
            timeout=SILENCE_S + 15,
            message=lambda: f"the lone run's end counted missed ({missed()} > {counted})",
        )
        lags = status_lags(watch, world)
        phases = _phases(world)

    lost_lags = [lag for name, lag in lags.items() if name in lost]
    announced_lags = [lag for name, lag in lags.items() if name not in lost and name != lone]
    report(
        "events-lost",
        runs=len(names),
        loss_rate=LOSS_RATE,
        seed=SEED,
        ends_lost=len(lost),
        missed_ends_counted=counted,
        fallback_poll_s=FALLBACK_S,
        converged_s=converged_s,
        lag_announced=lag_figures(announced_lags),
        lag_lost=lag_figures(lost_lags),
        lag_lone_lost_s=lags.get(lone),
        events_states_seen=sorted(str(s) for s in states),
        events_received=received(op),
        confirm_reads=int(metric(op, "ocids_events_confirm_reads_total")),
        oci_calls=by_operation(world.admin),
    )
    assert all(phase == "Succeeded" for phase in phases.values()), phases
    assert 0 < len(lost) < len(names), f"the seed must lose some ends and not all: lost {len(lost)}"
    assert counted == len(lost), f"missed ends counted {counted}, ends no event announced {len(lost)}"
    assert missed() == counted + 1, (missed(), counted)
    assert len(lags) == len(names) + 1, (sorted({*names, lone} - set(lags)), watch.stderr())
    # Lost ends wait for the slow fallback at most; announced ones come well before it.
    assert max(lost_lags) <= FALLBACK_S + SLACK_S, lag_figures(lost_lags)
    assert lags[lone] <= FALLBACK_S + SLACK_S, lags[lone]
    assert lag_figures(announced_lags)["p50_s"] < FALLBACK_S / 2, lag_figures(announced_lags)
    assert states <= {"Healthy"}, f"events left Healthy: {states}"


# 2. Events duplicated and out of order ----------------------------------------------------------------
DUP_RUNS, DUP_JOBS = scale((8, 2), (100, 5))
DUP_DURATIONS = scale("1..5:0", "5..40:0")
DUPLICATE_RATE = 0.5
REORDER_S = scale(3.0, 10.0)


KEEPER = "keeper"


def runs_terminal(world: Scenario, names: list[str]) -> bool:
    phases = {
        o["metadata"]["name"]: (o.get("status") or {}).get("phase")
        for o in world.kube.list_objects(RUNS, world.namespace)
    }
    return all(phases.get(name) in TERMINAL for name in names)


def test_duplicated_and_reordered_events_never_move_a_status_back_nor_cost_a_second_read(
    world: Scenario, emulator: Any, start_operator: Start
) -> None:
    plumbing = create_plumbing(emulator)
    op = start_operator(
        env=events_env(
            plumbing,
            emulator,
            world.namespace,
            events_poll_interval_seconds=scale(20.0, 60.0),
            events_silence_seconds=REORDER_S + 20,
        )
    )
    _wait_healthy(op)
    jobs = start_jobs(world, DUP_JOBS)
    world.admin.set_faults(
        {"eventDelivery": {"duplicateRate": DUPLICATE_RATE, "reorderWindowSeconds": REORDER_S}, "seed": SEED}
    )
    world.admin.set_simulated(DUP_DURATIONS)
    before = received(op)
    reads_before = metric(op, "ocids_events_confirm_reads_total")
    world.admin.reset_stats()
    # The operator reads the stream only while it follows a run: a long run (its own simulated length)
    # keeps it reading until the stragglers the reorder window holds back have arrived.
    world.apply(world.run(KEEPER, jobs[0], env={"OCIDS_EMULATOR_SIMULATE": "600:0"}))
    with StatusWatch(world.kube, world.namespace) as watch:
        names = apply_runs(world, jobs, (f"run-{i}" for i in range(DUP_RUNS)))
        wait_for(
            lambda: runs_terminal(world, names),
            timeout=scale(90.0, 240.0),
            interval=1.0,
            message=lambda: f"every run ended: {_phases(world)}",
        )
        ended_at = time.monotonic()
        # Copies held back by the reorder window still arrive after the last end: the operator must
        # have taken every message the stream holds (the watch keeps looking meanwhile).
        wait_for(
            lambda: (
                time.monotonic() - ended_at > REORDER_S + 1
                and sum(received(op).values()) - sum(before.values()) >= len(stream_envelopes(plumbing))
            ),
            timeout=REORDER_S + 30,
            interval=1.0,
            message="the operator took every message in the stream",
        )
        envelopes = stream_envelopes(plumbing)
        phases = watch.phases()
        regressions = watch.regressions()
        lags = status_lags(watch, world)

    after = received(op)
    outcomes = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    unique_ids = {e["eventID"] for e in envelopes}
    end_events = [e for e in envelopes if e.get("eventType") in END_TYPES]
    unique_ends = {e["eventID"] for e in end_events}
    confirm_reads = int(metric(op, "ocids_events_confirm_reads_total") - reads_before)
    report(
        "events-duplicated-reordered",
        runs=len(names),
        duplicate_rate=DUPLICATE_RATE,
        reorder_window_s=REORDER_S,
        seed=SEED,
        messages=len(envelopes),
        duplicates_in_stream=len(envelopes) - len(unique_ids),
        end_messages=len(end_events),
        unique_ends=len(unique_ends),
        outcomes=outcomes,
        confirm_reads=confirm_reads,
        status_regressions=len(regressions),
        lag=lag_figures(lags.values()),
        oci_calls=by_operation(world.admin),
    )
    assert not regressions, regressions[:20]
    assert all(seq[-1] in TERMINAL for name, seq in phases.items() if name != KEEPER), phases
    assert len(envelopes) > len(unique_ids), "the seed must duplicate some events"
    assert outcomes.get("Duplicate", 0) == len(envelopes) - len(unique_ids), outcomes
    # One read at most per distinct end: the duplicates (and the reordered stragglers) cost none.
    assert outcomes.get("Hint", 0) <= len(unique_ends), (outcomes, len(unique_ends))
    assert confirm_reads <= outcomes.get("Hint", 0), (confirm_reads, outcomes)


# 3. Forged events, on the HTTPS endpoint and on the stream ----------------------------------------------
FOLLOWED, FORGED_PER_RUN, ENDED = scale((3, 3, 2), (20, 5, 10))
UNKNOWN = scale(4, 50)
TOPIC = "ocid1.onstopic.oc1..eventschaos"


# The stream channel is the same intake as the HTTPS one (and test_operator_events_stream.py forges on
# the stream already): it runs at full scale only, under `make chaos`.
CHANNELS = ["notifications", "stream"] if FULL else ["notifications"]


@pytest.mark.parametrize("channel", CHANNELS)
def test_forged_events_cost_at_most_one_read_each_and_write_nothing(
    world: Scenario, emulator: Any, start_operator: Start, tmp_path: Path, channel: str
) -> None:
    """`notifications`: a forger who knows the Basic credentials posts to the HTTPS endpoint (and
    one who does not is refused); `stream`: one allowed to put messages on the stream (stream-push)."""
    plumbing = create_plumbing(emulator)
    serving_env: dict[str, str] = {}
    if channel == "notifications":
        pytest.importorskip(
            "ocids_operator.adapters.notifications_server", reason="no Notifications endpoint yet"
        )
        (port,) = free_ports(1)
        endpoint, serving_env = serving_files(
            tmp_path / "notifications", port=port, user="ons", password="s3cret-chaos", topic_id=TOPIC
        )
        forge: Callable[[dict[str, Any]], int] = endpoint.post
    else:
        forge = StreamForger(plumbing).put
    op = start_operator(
        env={
            **events_env(
                plumbing,
                emulator,
                world.namespace,
                # Healthy and nothing ACCEPTED: no poll falls in the forging window, every read is a hint's.
                events_poll_interval_seconds=600.0,
                events_silence_seconds=600.0,
            ),
            **serving_env,
        }
    )
    _wait_healthy(op)
    jobs = start_jobs(world, 1)
    compartment = world.compartment_id

    # Runs that ended, whose real end envelopes a forger replays.
    world.admin.set_simulated("0.5:0")
    ended = apply_runs(world, jobs, (f"ended-{i}" for i in range(ENDED)))
    for name in ended:
        world.wait_run(name, TERMINAL, timeout=60)
    # Followed runs that will not end while the test forges their end.
    world.admin.set_simulated("3600:0")
    followed = apply_runs(world, jobs, (f"followed-{i}" for i in range(FOLLOWED)))
    for name in followed:
        world.wait_run(name, "InProgress", timeout=60)
    ended_ids = {_run_id(world, n) for n in ended}
    replays = [
        e
        for e in stream_envelopes(plumbing)
        if e.get("eventType") in END_TYPES and e["data"]["resourceId"] in ended_ids
    ]
    followed_ids = {n: _run_id(world, n) for n in followed}
    wait_for(lambda: events_state(op) == "Healthy", timeout=30, message="events Healthy")
    before_objects = {o["metadata"]["name"]: o for o in world.kube.list_objects(RUNS, world.namespace)}
    outcomes_before = received(op)
    confirm_before = metric(op, "ocids_events_confirm_reads_total")

    with StatusWatch(world.kube, world.namespace) as watch:
        world.admin.reset_stats()
        sample = envelope(END_TYPES[0], followed_ids[followed[0]], compartment)
        refused = (
            [
                endpoint.post(sample, password="wrong"),
                endpoint.post(sample, user="", password=""),
                endpoint.post(sample, user="someone", password=endpoint.password),
                endpoint.post(sample, topic_id="ocid1.onstopic.oc1..notours"),  # right credentials
            ]
            if channel == "notifications"
            else []
        )
        forged = [
            envelope(kind, run_id, compartment)
            for run_id in followed_ids.values()
            for kind in (END_TYPES * FORGED_PER_RUN)[:FORGED_PER_RUN]
        ]
        foreign = [
            envelope(END_TYPES[0], run_id, "ocid1.compartment.oc1..elsewhere")
            for run_id in followed_ids.values()
        ]
        unknown = [
            envelope(END_TYPES[1], f"ocid1.datasciencejobrun.oc1.iad.forged{i}", compartment)
            for i in range(UNKNOWN)
        ]
        renamed = [{**e, "eventID": f"{e['eventID']}-again"} for e in replays]  # a replay with a fresh id
        posted = forged + forged[:1] + foreign + unknown + replays + renamed
        accepted = [forge(doc) for doc in posted]
        taken = len(posted)
        wait_for(
            lambda: sum(received(op).values()) - sum(outcomes_before.values()) >= taken,
            timeout=30,
            message="the operator took every forged notification",
        )
        # A fixed window for the hints' reads (collected ~0.2 s, then read) to happen, if any did.
        time.sleep(2.0)
        reads = request_counts(world.admin, *READS)
        oci_calls = by_operation(world.admin)
        after_objects = {o["metadata"]["name"]: o for o in world.kube.list_objects(RUNS, world.namespace)}
        sightings = watch.by_run()

    outcomes_after = received(op)
    outcomes = {k: outcomes_after.get(k, 0) - outcomes_before.get(k, 0) for k in outcomes_after}
    confirm_reads = int(metric(op, "ocids_events_confirm_reads_total") - confirm_before)
    # What an end event could change. An ended run's bookkeeping (its cost, once the Usage API has
    # it) may still land meanwhile: that is not the events' doing, so it is reported, not failed.
    rewritten = {
        name: (_lifecycle(before_objects[name]), _lifecycle(obj))
        for name, obj in after_objects.items()
        if _lifecycle(obj) != _lifecycle(before_objects[name])
    }
    touched = sorted(
        name
        for name, obj in after_objects.items()
        if obj["metadata"]["resourceVersion"] != before_objects[name]["metadata"]["resourceVersion"]
    )
    report(
        f"events-forged-{channel}",
        followed_runs=FOLLOWED,
        forged_ends=len(forged),
        duplicates=1,
        foreign_compartment=len(foreign),
        unknown_runs=len(unknown),
        replayed=len(replays),
        replayed_fresh_id=len(renamed),
        refused=refused,
        outcomes=outcomes,
        confirm_reads=confirm_reads,
        oci_reads=reads,
        oci_calls=oci_calls,
        runs_rewritten=len(rewritten),
        runs_touched=touched,
    )
    assert refused == ([401, 401, 401, 403] if channel == "notifications" else []), refused
    if channel == "notifications":
        assert endpoint.password not in op.log_text(), "the Basic password is in the operator's log"
    assert all(200 <= code < 300 for code in accepted), accepted
    assert len(replays) >= ENDED, "every ended run's end event is in the stream"
    # Only the forged ends of followed runs may ask for a read; each at most one.
    assert outcomes.get("Hint", 0) == len(forged), outcomes
    assert outcomes.get("Duplicate", 0) >= 1 and outcomes.get("Mismatch", 0) == len(foreign), outcomes
    assert confirm_reads <= len(forged), (confirm_reads, len(forged))
    assert reads <= len(forged), (reads, oci_calls)
    # Nothing was written: no run's lifecycle moved, and the followed ones were not touched at all.
    assert not rewritten, rewritten
    assert not set(touched) & set(followed), touched
    assert not [n for n in followed if any(s.phase in TERMINAL for s in sightings.get(n, []))]
    assert all(after_objects[n]["status"]["phase"] == "InProgress" for n in followed)


# 4. The stream unavailable -------------------------------------------------------------------------------
OUTAGE_S = scale(8.0, 60.0)
OUTAGE_FAST_POLL_S = 2.0
OUTAGE_FALLBACK_S = scale(30.0, 120.0)
AFTER_WINDOW_S = scale(6.0, 30.0)
LONG_RUNS = scale(2, 10)


def test_a_stream_outage_falls_back_to_fast_polling_at_once_and_slows_down_after(
    world: Scenario, emulator: Any, start_operator: Start
) -> None:
    plumbing = create_plumbing(emulator)
    op = start_operator(
        env=events_env(
            plumbing,
            emulator,
            world.namespace,
            poll_interval_seconds=OUTAGE_FAST_POLL_S,
            events_poll_interval_seconds=OUTAGE_FALLBACK_S,
            events_silence_seconds=OUTAGE_S + 60,
        )
    )
    _wait_healthy(op)
    assert events_config_map(world.kube, world.namespace).get("state") == "Healthy"
    jobs = start_jobs(world, 1)
    # Runs that outlast the outage: only the events' state decides how often their compartment is read.
    world.admin.set_simulated(f"{OUTAGE_S + AFTER_WINDOW_S + 120:g}:0")
    long_runs = apply_runs(world, jobs, (f"long-{i}" for i in range(LONG_RUNS)))
    for name in long_runs:
        world.wait_run(name, "InProgress", timeout=60)
    _wait_healthy(op, timeout=30)

    with StatusWatch(world.kube, world.namespace) as watch:
        world.admin.set_faults({"errors": [{"operation": "get_messages", "status": 503, "rate": 1.0}]})
        fault_at = time.monotonic()
        world.admin.reset_stats()
        # A run that ends in the middle of the outage: only polling can bring its end.
        world.admin.set_simulated(f"{OUTAGE_S / 2:g}:0")
        (short,) = apply_runs(world, jobs, ["ends-in-outage"])
        wait_for(lambda: events_state(op) == "Failing", timeout=30, interval=0.1, message="events Failing")
        fallback_s = time.monotonic() - fault_at
        config_map = wait_for(
            lambda: (cm := events_config_map(world.kube, world.namespace)).get("state") == "Failing" and cm,
            timeout=10,
            message="ConfigMap says Failing",
        )
        world.wait_run(short, TERMINAL, timeout=OUTAGE_S + 30)
        wait_for(lambda: time.monotonic() - fault_at >= OUTAGE_S, timeout=OUTAGE_S + 5, interval=0.2)
        outage_reads = request_counts(world.admin, *READS)
        outage_s = time.monotonic() - fault_at
        stream_errors = request_counts(world.admin, "get_messages")
        world.admin.clear_faults()
        cleared_at = time.monotonic()
        wait_for(
            lambda: events_state(op) == "Healthy", timeout=30, interval=0.1, message="events Healthy again"
        )
        healthy_at = time.monotonic()
        recovery_s = healthy_at - cleared_at
        wait_for(
            lambda: events_config_map(world.kube, world.namespace).get("state") == "Healthy",
            timeout=10,
            message="ConfigMap says Healthy",
        )
        lags = status_lags(watch, world)

    # Back to Healthy: a compartment slows down after its next cycle (due within a fast interval of
    # the last), then reads only at the fallback.
    wait_for(lambda: time.monotonic() - healthy_at >= OUTAGE_FAST_POLL_S + 1, timeout=10, interval=0.2)
    after_start, after_t0 = request_counts(world.admin, *READS), time.monotonic()
    time.sleep(AFTER_WINDOW_S)  # a fixed observation window: the figure is what is read during it
    after_reads = request_counts(world.admin, *READS) - after_start
    after_s = time.monotonic() - after_t0
    report(
        "events-stream-outage",
        outage_s=outage_s,
        fast_poll_s=OUTAGE_FAST_POLL_S,
        fallback_poll_s=OUTAGE_FALLBACK_S,
        to_failing_s=fallback_s,
        config_map_state=config_map.get("state"),
        config_map_reason=config_map.get("reason"),
        reads_during_outage=outage_reads,
        reads_per_s_during_outage=outage_reads / outage_s,
        get_messages_during_outage=stream_errors,
        outage_end_lag_s=lags.get(short),
        to_healthy_s=recovery_s,
        reads_after=after_reads,
        reads_per_s_after=after_reads / after_s,
        oci_calls=by_operation(world.admin),
    )
    # Fast within one fast interval: Failing at the first failed read (about a read interval).
    assert fallback_s <= OUTAGE_FAST_POLL_S + 1.0, fallback_s
    assert config_map.get("state") == "Failing" and config_map.get("reason"), config_map
    # The run that ended meanwhile reached its status within about one fast poll.
    assert lags.get(short) is not None and lags[short] <= OUTAGE_FAST_POLL_S + SLACK_S, lags
    # Polled at the fast interval during the outage (at least half its cycles seen)...
    assert outage_reads >= outage_s / OUTAGE_FAST_POLL_S / 2, outage_reads
    # ...and slowly afterwards: at most one read in the window, where fast polling would make many.
    # Healthy at the first read that succeeds: the failing stream is retried with a capped backoff.
    assert recovery_s <= BACKOFF_CAP_SECONDS + SLACK_S, recovery_s
    assert after_reads <= 1 + AFTER_WINDOW_S // OUTAGE_FALLBACK_S, after_reads
    assert all(phase == "InProgress" for name, phase in _phases(world).items() if name in long_runs)
