"""Crash safety: the operator SIGKILLed at seeded random points while users create, edit and delete.

TrainingJobs and runs are created, edited in place (shape, OCPUs) and with new revisions (env,
code), and deleted (some with deletionPolicy Retain), while the operator is killed over and over:
after a random delay once it is up, or right after an OCI create (OCIDS_DEBUG_CRASH_AFTER) on some
starts. After the last kill it runs undisturbed, and then both sides must agree with the model:
no duplicate OCI job or run, nothing in OCI without its object unless Retain asked for it, every
object in its final phase, and no run started twice.

The seed is printed; OCIDS_CHAOS_SEED=N replays the same schedule.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from types import SimpleNamespace

import pytest
from chaos_figures import report, scale
from crash_checks import World, artifact_mismatches, irreversible, look, permanent_violations, problems
from crash_driver import Killer, apply_steps, crash_point
from crash_workload import JobModel, RunModel, Workload
from ocids_operator.core.model import TAG_NAME, TAG_REVISION, TAG_UID
from operator_harness import OperatorProcess, Scenario, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(scale(300, 2400))]
DEFAULT_SEED = 20261202
# Delay after the operator is up before the SIGKILL: long enough to be mid-reconcile, mid-create,
# mid-finalizer, short enough that most kills land while work is in flight.
MAX_KILL_DELAY = 3.0
CRASH_POINT_SHARE = 0.25
# On a start with a crash point, the create it waits for comes within this (else: a SIGKILL).
CRASH_POINT_GRACE = 3.0


def test_operator_killed_at_random_points_leaves_no_duplicate_or_orphan(
    world: Scenario, start_operator: Callable[..., OperatorProcess]
) -> None:
    seed = int(os.environ.get("OCIDS_CHAOS_SEED") or DEFAULT_SEED)
    print(f"\ncrash safety: seed={seed} (replay with OCIDS_CHAOS_SEED={seed})", flush=True)
    rng = random.Random(seed)
    model = Workload(
        rng,
        jobs_total=scale(4, 20),
        runs_total=scale(12, 100),
        edits_total=scale(6, 40),
        run_deletes_total=scale(2, 15),
        job_deletes_total=scale(1, 4),
    )
    kills_wanted = scale(8, 100)
    total_steps = model.jobs_total + model.runs_total + model.edits_total
    total_steps += model.run_deletes_total + model.job_deletes_total
    world.admin.reset_stats()
    started = time.monotonic()

    killer = Killer(start_operator(wait_ready=False))
    killer.op.kill()  # the loop below does every start
    while killer.sigkills < kills_wanted:
        left = kills_wanted - killer.sigkills
        # What is left of the workload, spread unevenly over the kills that are left (the last
        # takes all), so users keep acting until the end.
        remaining = total_steps - sum(model.counts.values())
        count = remaining if left == 1 else round(remaining / left * rng.uniform(0.3, 1.7))
        steps = model.next_steps(count)
        split = rng.randint(0, len(steps))
        apply_steps(world, model, steps[:split])  # while the operator is down
        point = crash_point(steps[split:]) if rng.random() < CRASH_POINT_SHARE else ""
        killer.start(point)
        apply_steps(world, model, steps[split:])
        killer.end_after(rng.uniform(0, MAX_KILL_DELAY) + (CRASH_POINT_GRACE if point else 0))
    assert model.done(), model.counts

    killer.start()
    restarted = time.monotonic()
    seen: dict[str, list[str]] = {}

    def settled() -> bool:
        now = look(world)
        seen["broken"], seen["problems"] = irreversible(model, now), problems(model, now)
        # A duplicate cannot heal: stop waiting at once and report it.
        return bool(seen["broken"]) or not seen["problems"]

    wait_for(
        settled,
        timeout=scale(180, 600),
        interval=1.0,
        message=lambda: "convergence after the last kill:\n" + "\n".join(seen.get("problems", [])),
    )
    convergence = time.monotonic() - restarted
    assert seen["broken"] == []
    now = look(world)
    assert permanent_violations(model, now) == []
    assert artifact_mismatches(model, world, now) == []

    calls = world.admin.stats()["operations"]
    report(
        "crash_safety",
        seed=seed,
        sigkills=killer.sigkills,
        crash_point_exits=killer.crash_point_exits,
        operator_starts=killer.op.starts,
        jobs=model.jobs_total,
        runs=model.runs_total,
        steps=dict(sorted(model.counts.items())),
        convergence_seconds=convergence,
        total_seconds=time.monotonic() - started,
        oci_calls=sum(op["total"] for op in calls.values()),
        create_job_calls=calls.get("create_job", {}).get("total", 0),
        create_job_run_calls=calls.get("create_job_run", {}).get("total", 0),
        oci_jobs_made=len(now.oci_jobs),
        oci_runs_made=len(now.oci_runs),
    )


def test_the_checks_catch_duplicates_orphans_and_runs_started_twice() -> None:
    """The end-state checks are not vacuous: each violation they exist for is reported."""
    model = Workload(random.Random(0), 0, 0, 0, 0, 0)
    model.runs["run-000"] = RunModel("run-000", "job-00", retain=False, seconds=1, exit_code=0)
    model.runs["run-001"] = RunModel("run-001", "job-00", retain=False, seconds=1, exit_code=0, deleted=True)
    model.runs["run-002"] = RunModel("run-002", "job-00", retain=True, seconds=1, exit_code=0, deleted=True)
    model.runs["run-003"] = RunModel("run-003", "job-01", retain=True, seconds=1, exit_code=0, deleted=True)
    model.jobs["job-00"] = JobModel("job-00", retain=False)
    model.jobs["job-01"] = JobModel("job-01", retain=False, deleted=True)

    def oci(
        kind: str, id_: str, uid: str, name: str, state: str, job: str = "j2", **tags: str
    ) -> SimpleNamespace:
        return SimpleNamespace(
            id=id_,
            job_id=job if kind == "run" else None,
            lifecycle_state=state,
            time_started="2026-01-01T00:00:00Z" if kind == "run" else None,
            freeform_tags={TAG_UID: uid, TAG_NAME: name, **tags},
        )

    live_run = {
        "metadata": {"name": "run-000", "uid": "u0"},
        "status": {"phase": "Succeeded", "jobRunId": "r1"},
    }
    now = World(
        jobs={},
        runs={"run-000": live_run},
        oci_jobs=[
            oci("job", "j1", "uj", "job-00", "DELETED", **{TAG_REVISION: "1"}),
            oci("job", "j2", "uj", "job-00", "ACTIVE", **{TAG_REVISION: "1"}),
            # Deleted with policy Delete, but kept: it holds a Retain run that is still there.
            oci("job", "j3", "uk", "job-01", "ACTIVE", **{TAG_REVISION: "1"}),
        ],
        oci_runs=[
            oci("run", "r1", "u0", "run-000", "SUCCEEDED"),
            oci("run", "r2", "u0", "run-000", "SUCCEEDED"),
            oci("run", "r3", "u1", "run-001", "IN_PROGRESS"),
            oci("run", "r4", "u2", "run-002", "DELETED"),
            oci("run", "r5", "u3", "run-003", "IN_PROGRESS", job="j3"),
        ],
    )
    found = "\n".join(problems(model, now) + permanent_violations(model, now))
    assert "2 OCI jobs for revision 1" in found
    assert "2 OCI runs for TrainingJobRun {'run-000'}" in found
    assert "OCI job j2 (job-00, ACTIVE) has no TrainingJob" in found
    assert "OCI run r3 (run-001, IN_PROGRESS) has no TrainingJobRun" in found
    assert "OCI run r2 (run-000, SUCCEEDED) has no TrainingJobRun" in found
    assert "run-002 has deletionPolicy Retain, yet its OCI run ['r4'] was deleted" in found
    assert "j3" not in found and "r5" not in found  # a job kept for a Retain run is no orphan
