"""Kill points of the writes sweeps, schedules, retries and history make: the operator exits
(OCIDS_DEBUG_CRASH_AFTER) right after a sweep's trial, a schedule's run, a retry's OCI run or a
pruned run's archive record was written, before it recorded so anywhere. Restarted, it must find
what it made and finish: no second trial, scheduled run or retry, and the pruned run goes, its
record kept once.

Fast here (one crash per point); under `make chaos` (OCIDS_CHAOS=full) the operator is restarted
with the kill point again at every create of a larger batch (trials, retries, one scheduled minute
after another).
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from typing import Any

import pytest
from chaos_figures import FULL, report, scale
from crash_driver import CRASH_EXIT
from ocids_operator.core.model import TAG_UID
from operator_harness import OperatorProcess, Scenario, wait_for
from restart_helpers import one_oci_run_each
from test_operator_schedule import (
    FAST_TICKS,
    ONE_MINUTE,
    at,
    get_schedule,
    minute,
    schedule,
    schedule_runs,
    set_last_schedule_time,
    wait_schedules_crd,
)
from test_operator_sweep import FAST as FAST_SWEEPS
from test_operator_sweep import parameters, sweep, trials, wait_sweep

pytestmark = [pytest.mark.integration, pytest.mark.timeout(scale(300, 900))]
CRASH = "OCIDS_DEBUG_CRASH_AFTER"
TAG_ATTEMPT = "ocids.io/attempt"


def simulated_job(world: Scenario, name: str, **spec: Any) -> dict[str, Any]:
    """A TrainingJob whose runs the emulator ends after a second, exit code 0, with no process."""
    env = {"OCIDS_EMULATOR_SIMULATE": "1:0"}
    return world.job(name, "print('simulated')\n", env=env, logging={"enabled": False}, **spec)


def crashed(op: OperatorProcess, point: str) -> None:
    """The operator ended at its kill point (not some other exit)."""
    code = op.wait_exit(timeout=90)
    assert code == CRASH_EXIT, f"operator exited {code}, not at {point}:\n{op.log_text()[-4000:]}"
    assert f"{CRASH}={point}" in op.log_text(), op.log_text()[-4000:]


def oci_runs_of(world: Scenario, uid: str) -> list[Any]:
    runs = world.oci.job_runs(world.compartment_id, include_deleted=True)
    return [r for r in runs if (r.freeform_tags or {}).get(TAG_UID) == uid]


def test_a_trial_created_just_before_a_crash_is_found_not_made_twice(
    world: Scenario, start_operator: Callable[..., OperatorProcess]
) -> None:
    total = scale(3, 8)
    values = [f"v{i}" for i in range(total)]
    world.apply(simulated_job(world, "swept"))
    world.apply(
        sweep(
            "crashy",
            world.namespace,
            "swept",
            parameters=[{"name": "p", "env": "P", "values": values}],
            parallelism=total,
        )
    )
    env = {**FAST_SWEEPS, CRASH: "create_trial"}
    op = start_operator(env=env, wait_ready=False)
    crashed(op, "create_trial")
    # Right after the first create: one trial exists (the sweep may have reserved more indices).
    made = trials(world, "crashy")
    assert [t["metadata"]["name"] for t in made] == ["crashy-000"], made
    crashes = 1
    # Full: every later start crashes right after its first create too, one trial per life.
    while FULL and len(trials(world, "crashy")) < total:
        op.start()
        crashed(op, "create_trial")
        crashes += 1

    op.start(env_overrides={CRASH: ""})
    done = wait_sweep(
        world, "crashy", lambda s: s.get("phase") == "Succeeded", "sweep Succeeded", timeout=180
    )
    made = trials(world, "crashy")
    names = [t["metadata"]["name"] for t in made]
    assert names == [f"crashy-{i:03d}" for i in range(total)], (names, done["status"])
    assert sorted(parameters(t)["p"] for t in made) == sorted(values)
    assert done["status"]["trials"] == done["status"]["succeeded"] == total, done["status"]
    assert one_oci_run_each(world, names) == []
    report("crash_point_create_trial", crashes=crashes, trials=total, oci_runs=total)


def test_a_scheduled_run_created_just_before_a_crash_is_found_not_made_twice(
    world: Scenario, start_operator: Callable[..., OperatorProcess]
) -> None:
    wait_schedules_crd(world.kube)
    world.apply(simulated_job(world, "nightly"))
    world.apply(schedule("every-minute", world.namespace, "nightly", successfulRunsHistoryLimit=10))
    # As an operator stopped two minutes ago left it: the latest minute is due at once.
    set_last_schedule_time(
        world, "every-minute", minute(datetime.datetime.now(datetime.UTC)) - 2 * ONE_MINUTE
    )
    last_before = get_schedule(world, "every-minute")["status"]["lastScheduleTime"]
    op = start_operator(env={**FAST_TICKS, CRASH: "create_scheduled_run"}, wait_ready=False)
    crashed(op, "create_scheduled_run")
    runs = schedule_runs(world, "every-minute")
    assert len(runs) == 1, runs
    assert get_schedule(world, "every-minute")["status"]["lastScheduleTime"] == last_before  # not recorded
    crashes = 1
    # Full: each next minute's run is made and the operator dies again before recording it.
    while FULL and crashes < 3:
        op.start()
        crashed(op, "create_scheduled_run")
        crashes += 1

    op.start(env_overrides={CRASH: ""})
    made = schedule_runs(world, "every-minute")
    latest = max(int(r["metadata"]["labels"]["ocids.io/scheduled-time"]) for r in made)

    def recorded() -> dict[str, Any] | None:
        status = get_schedule(world, "every-minute").get("status") or {}
        when = status.get("lastScheduleTime")
        return status if when and at(when).timestamp() >= latest else None

    status = wait_for(recorded, timeout=60, message="the schedule records the run it made before the crash")
    # Only the minutes without a run are missed: a run whose status write the crash lost counts as made.
    start = at(last_before).timestamp()
    had_runs = {
        int(r["metadata"]["labels"]["ocids.io/scheduled-time"]) for r in schedule_runs(world, "every-minute")
    }
    without = [
        t
        for t in range(int(start) + 60, int(at(status["lastScheduleTime"]).timestamp()), 60)
        if t not in had_runs
    ]
    assert status.get("missedSchedules", 0) == len(without), (status, without)
    for run in schedule_runs(world, "every-minute"):
        world.wait_run(run["metadata"]["name"], "Succeeded", timeout=90)
    runs = schedule_runs(world, "every-minute")
    times = [r["metadata"]["labels"]["ocids.io/scheduled-time"] for r in runs]
    assert len(times) == len(set(times)), f"two runs for one scheduled time: {times}"
    assert {r["metadata"]["name"] for r in made} <= {r["metadata"]["name"] for r in runs}
    assert one_oci_run_each(world, [r["metadata"]["name"] for r in runs]) == []
    report("crash_point_create_scheduled_run", crashes=crashes, runs=len(runs))


def test_a_retry_created_just_before_a_crash_is_found_not_made_twice(
    world: Scenario, start_operator: Callable[..., OperatorProcess]
) -> None:
    retries = scale(1, 3)
    world.apply(simulated_job(world, "flaky"))
    policy = {
        "maxRetries": retries,
        "backoff": {"initialSeconds": 0, "maxSeconds": 0},
        "retryOn": {"exitCodes": [3]},
    }
    # Every attempt ends with exit code 3 after a second: retried until maxRetries.
    world.apply(world.run("flaky-1", "flaky", env={"OCIDS_EMULATOR_SIMULATE": "1:3"}, retryPolicy=policy))
    op = start_operator(env={CRASH: "create_retry_run"}, wait_ready=False)
    crashed(op, "create_retry_run")
    run = world.get_run("flaky-1") or {}
    uid = run["metadata"]["uid"]
    made = oci_runs_of(world, uid)
    assert sorted((r.freeform_tags or {}).get(TAG_ATTEMPT, "1") for r in made) == ["1", "2"], made
    # The second attempt's OCI run exists; the status has not recorded it.
    assert not run["status"].get("jobRunId"), run["status"]
    crashes = 1
    while FULL and len(oci_runs_of(world, uid)) < retries + 1:
        op.start()
        crashed(op, "create_retry_run")
        crashes += 1

    op.start(env_overrides={CRASH: ""})
    failed = world.wait_run("flaky-1", "Failed", timeout=120)
    status = failed["status"]
    made = oci_runs_of(world, uid)
    attempts = sorted(int((r.freeform_tags or {}).get(TAG_ATTEMPT, "1")) for r in made)
    assert attempts == list(range(1, retries + 2)), [(r.id, r.freeform_tags) for r in made]
    assert [a["attempt"] for a in status["attempts"]] == attempts, (
        status,
        [(r.id, r.freeform_tags, r.lifecycle_state) for r in made],
    )
    assert {a["jobRunId"] for a in status["attempts"]} == {r.id for r in made}, status["attempts"]
    assert [a["retried"] for a in status["attempts"]] == [True] * retries + [False], status["attempts"]
    assert status["attempt"] == retries + 1 and not status.get("nextAttemptAt"), status
    report("crash_point_create_retry_run", crashes=crashes, attempts=len(made))


def _archive(world: Scenario, job: str) -> dict[str, Any]:
    config_map = world.kube.get("configmap", f"{job}-runs-archive", world.namespace) or {}
    return {key: json.loads(value) for key, value in (config_map.get("data") or {}).items()}


def test_a_prune_interrupted_after_the_archive_record_completes_on_restart(
    world: Scenario, start_operator: Callable[..., OperatorProcess]
) -> None:
    """Both paths that prune: a history limit (older run beyond it) and ttlSecondsAfterFinished."""
    world.apply(simulated_job(world, "hist", successfulRunsHistoryLimit=1))
    op = start_operator(env={CRASH: "prune_run", "OCIDS_RESYNC_INTERVAL_SECONDS": "5"}, wait_ready=False)
    world.wait_job_active("hist")
    world.apply(world.run("old", "hist"))
    old = world.wait_run("old", "Succeeded", timeout=60)
    world.apply(world.run("new", "hist"))
    crashed(op, "prune_run")
    # Archived, not deleted yet: the record is there and so is the run.
    assert list(_archive(world, "hist")) == ["old.json"]
    assert world.get_run("old") is not None

    op.start(env_overrides={CRASH: ""})
    wait_for(
        lambda: world.get_run("old") is None, timeout=60, message="the older run pruned after the restart"
    )
    assert world.get_run("new") is not None
    records = _archive(world, "hist")
    assert list(records) == ["old.json"] and records["old.json"]["phase"] == "Succeeded", records
    wait_for(
        lambda: (
            (r := world.oci.get_job_run(old["status"]["jobRunId"])) is None or r.lifecycle_state == "DELETED"
        ),
        timeout=60,
        message="the pruned run's OCI run deleted (deletionPolicy Delete)",
    )
    archive = world.wait_job_status("hist", lambda s: (s.get("archive") or {}).get("count") == 1, "archive 1")
    assert archive["status"]["archive"]["configMap"] == "hist-runs-archive"

    # The TTL path (a TrainingJob without limits): archived, crash, then deleted on restart.
    op.stop()
    world.apply(simulated_job(world, "short"))
    world.apply(world.run("brief", "short", ttlSecondsAfterFinished=0))
    op.start(env_overrides={CRASH: "prune_run"})
    crashed(op, "prune_run")
    assert list(_archive(world, "short")) == ["brief.json"]
    op.start(env_overrides={CRASH: ""})
    wait_for(
        lambda: world.get_run("brief") is None,
        timeout=60,
        message="the expired run deleted after the restart",
    )
    assert list(_archive(world, "short")) == ["brief.json"]
    report("crash_point_prune_run", paths=2, archived=2)
