"""TrainingJobSchedule (engine Operator) against the real API server and emulator: runs made on
schedule, Forbid holding a tick while a long run runs, history limits cleaning cluster and OCI, the
catch-up after downtime (one run, the rest missed), and deletion taking the schedule's runs along.

The 3-minute operator-down case is tests/integration/chaos/test_schedule_downtime.py (OCIDS_CHAOS=full);
the fast variant here starts the operator on a schedule whose status says it last ran 3 minutes ago.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

import operator_scripts as scripts
import pytest
from harness_kube import GROUP, RUNS, Kube, condition, status_summary, wait_for
from operator_harness import Scenario
from operator_manifests import API_VERSION, env_list

pytestmark = pytest.mark.integration

SCHEDULES = "trainingjobschedules"
# Ticks are looked at every 2 s (default 10 s), so a run follows its minute closely.
FAST_TICKS = {"OCIDS_SCHEDULE_INTERVAL_SECONDS": "2"}
MINUTE = 60
ONE_MINUTE = datetime.timedelta(minutes=1)
# A run is made (or skipped) for its own time, well before the next one: a loaded machine may be a
# few seconds late, so how precisely the tick waits for the time is a unit test
# (test_a_time_due_before_the_next_tick_is_waited_for_so_a_short_deadline_is_met), not this one.
ON_TIME = datetime.timedelta(seconds=30)


def schedule(name: str, namespace: str, job: str, cron: str = "* * * * *", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "TrainingJobSchedule",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"jobRef": {"name": job}, "schedule": cron, **spec},
    }


def wait_schedules_crd(kube: Kube) -> None:
    def established() -> bool:
        crd = json.loads(kube.kubectl("get", "crd", f"{SCHEDULES}.{GROUP}", "-o", "json").stdout)
        conditions = (crd.get("status") or {}).get("conditions") or []
        return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)

    wait_for(established, timeout=60, message="TrainingJobSchedule CRD Established")


def schedule_runs(world: Scenario, name: str) -> list[dict[str, Any]]:
    runs = world.kube.list_objects(RUNS, world.namespace)
    return sorted(
        (r for r in runs if (r["metadata"].get("labels") or {}).get("ocids.io/schedule") == name),
        key=lambda r: r["metadata"]["name"],
    )


def get_schedule(world: Scenario, name: str) -> dict[str, Any]:
    return world.kube.get(SCHEDULES, name, world.namespace) or {}


def minute(moment: datetime.datetime) -> datetime.datetime:
    return moment.replace(second=0, microsecond=0)


def at(value: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


def set_last_schedule_time(world: Scenario, name: str, moment: datetime.datetime) -> None:
    """The status an operator that made a run at `moment`, then stopped, leaves behind."""
    status = {"lastScheduleTime": moment.strftime("%Y-%m-%dT%H:%M:%SZ")}
    world.kube.kubectl(
        "patch", SCHEDULES, name, "-n", world.namespace, "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": status}),
    )  # fmt: skip


def events(world: Scenario, name: str, reason: str) -> list[dict[str, Any]]:
    return [e for e in world.kube.events(world.namespace, name) if e.get("reason") == reason]


def test_forbid_skips_the_tick_a_long_run_blocks_and_the_history_limit_cleans_cluster_and_oci(
    world: Scenario, start_operator: Any
) -> None:
    wait_schedules_crd(world.kube)
    release = world.release_file("nightly")
    world.apply(world.job("gated", scripts.GATED, env={"RELEASE_FILE": str(release), "GATE_TIMEOUT": "300"}))
    world.apply(
        schedule(
            "nightly",
            world.namespace,
            "gated",
            concurrencyPolicy="Forbid",
            successfulRunsHistoryLimit=1,
            runTemplate={"env": env_list({"MARKER": "scheduled"}), "metadata": {"labels": {"team": "ml"}}},
        )
    )

    # Its last run was a minute ago (so this minute's run is due at once: the test waits for one
    # minute boundary, not two).
    set_last_schedule_time(world, "nightly", minute(datetime.datetime.now(datetime.UTC)) - ONE_MINUTE)
    # The default look interval (10 s): a time due between two looks is waited for, not found late.
    world.operator = start_operator()

    # This minute makes one run, named after its minute, labelled, owned by the schedule.
    first = wait_for(lambda: schedule_runs(world, "nightly"), timeout=30, message="the first run")[0]
    labels = first["metadata"]["labels"]
    scheduled = datetime.datetime.fromtimestamp(int(labels["ocids.io/scheduled-time"]), datetime.UTC)
    assert first["metadata"]["name"] == f"nightly-{int(scheduled.timestamp()) // 60}"
    assert labels["team"] == "ml" and scheduled.second == 0
    owners = {ref["kind"]: ref for ref in first["metadata"]["ownerReferences"]}
    assert owners["TrainingJobSchedule"]["controller"] is False
    run = world.wait_run(first["metadata"]["name"], "InProgress", timeout=60)
    run_id = run["status"]["jobRunId"]
    status = wait_for(
        lambda: (s := get_schedule(world, "nightly").get("status") or {}).get("active") and s,
        timeout=20,
        message=lambda: f"status.active; {status_summary(get_schedule(world, 'nightly'))}",
    )
    assert status["active"] == [first["metadata"]["name"]] and status["activeCount"] == 1
    assert at(status["lastScheduleTime"]) == scheduled
    # (The next minute may have come meanwhile, on a slow machine: then it is already skipped.)
    assert at(status["nextScheduleTime"]) in (scheduled + ONE_MINUTE, scheduled + 2 * ONE_MINUTE), status

    # The next minute comes while that run still runs: skipped on time, told, nothing new in OCI.
    skipped = world.wait_event("nightly", "ScheduleSkipped", timeout=MINUTE + 20)
    assert first["metadata"]["name"] in skipped["message"] and "Forbid" in skipped["message"], skipped
    status = get_schedule(world, "nightly")["status"]
    assert status["skippedSchedules"] == 1, status
    assert at(status["lastSkippedTime"]) == scheduled + ONE_MINUTE
    assert at(skipped["firstTimestamp"]) - (scheduled + ONE_MINUTE) <= ON_TIME, skipped
    assert [r["metadata"]["name"] for r in schedule_runs(world, "nightly")] == [first["metadata"]["name"]]
    job_id = world.get_job("gated")["status"]["jobId"]  # type: ignore[index]
    assert [r.id for r in world.oci_runs(job_id)] == [run_id]

    # The run ends; the minute after makes the next run, which ends too. successfulRunsHistoryLimit 1
    # keeps the newest: the first is archived, then deleted here and in OCI.
    release.write_text("go")
    second_name = run_name_for(scheduled + 2 * ONE_MINUTE)
    second = world.wait_run(second_name, "Succeeded", timeout=MINUTE + 60)
    # Made for its own time, not a minute later.
    assert at(second["metadata"]["creationTimestamp"]) - (scheduled + 2 * ONE_MINUTE) <= ON_TIME, second
    wait_for(
        lambda: [r["metadata"]["name"] for r in schedule_runs(world, "nightly")] == [second_name],
        timeout=30,
        message="the older succeeded run pruned, the newest kept",
    )
    wait_for(
        lambda: (r := world.oci.get_job_run(run_id)) is None or r.lifecycle_state == "DELETED",
        timeout=60,
        message="its OCI run deleted",
    )
    kept = world.oci.get_job_run(second["status"]["jobRunId"])
    assert kept is not None and kept.lifecycle_state == "SUCCEEDED", kept
    # The pruned run's record stays in the TrainingJob's archive (`kubectl ocids runs --archived gated`).
    records = world.kube.get("configmaps", "gated-runs-archive", world.namespace) or {}
    assert f"{first['metadata']['name']}.json" in (records.get("data") or {}), records
    status = wait_for(
        lambda: (s := get_schedule(world, "nightly")["status"]).get("activeCount") == 0 and s,
        timeout=20,
        message="no active run",
    )
    assert status["active"] == [] and status["lastSuccessfulTime"], status


def run_name_for(moment: datetime.datetime, name: str = "nightly") -> str:
    return f"{name}-{int(moment.timestamp()) // 60}"


def test_back_after_three_minutes_down_one_catch_up_run_the_rest_missed_and_deletion_takes_the_runs(
    world: Scenario, start_operator: Any
) -> None:
    """The fast variant of the chaos case: the schedule's status says its last run was 3 minutes
    ago (as an operator stopped since then left it); the operator starts and catches up once."""
    wait_schedules_crd(world.kube)
    world.apply(world.job("quick", scripts.FAIL, env={"EXIT_CODE": "0"}))
    world.apply(schedule("hourly-ish", world.namespace, "quick", successfulRunsHistoryLimit=5))
    now = datetime.datetime.now(datetime.UTC)
    last = minute(now) - 3 * ONE_MINUTE
    set_last_schedule_time(world, "hourly-ish", last)
    # A schedule the API server refuses at admission: the message names the field.
    refused = world.kube.apply(schedule("bad", world.namespace, "quick", cron="every minute"), check=False)
    assert refused.returncode != 0 and "spec.schedule" in refused.stderr, refused.stderr
    world.apply(schedule("bad", world.namespace, "quick", cron="61 * * * *"))

    world.operator = start_operator(env=FAST_TICKS)
    runs = wait_for(lambda: schedule_runs(world, "hourly-ish"), timeout=30, message="the catch-up run")
    missed = world.wait_event("hourly-ish", "MissedSchedules")
    status = get_schedule(world, "hourly-ish")["status"]
    latest = at(status["lastScheduleTime"])
    # Exactly one run, for the latest minute (a minute may have turned meanwhile: then it is that one).
    assert len(runs) == 1 and latest >= minute(now), (runs, status)
    assert runs[0]["metadata"]["labels"]["ocids.io/scheduled-time"] == str(int(latest.timestamp()))
    count = status["missedSchedules"]
    assert count == round((latest - last).total_seconds() / 60) - 1 >= 2, status
    assert f"{count} runs missed between" in missed["message"] and "ran the latest" in missed["message"]
    assert missed["type"] == "Warning"
    run = world.wait_run(runs[0]["metadata"]["name"], "Succeeded", timeout=60)
    run_id = run["status"]["jobRunId"]

    # A bad line the pattern lets through is refused by the operator, naming the field.
    bad = wait_for(
        lambda: (s := get_schedule(world, "bad").get("status") or {}).get("phase") == "Failed" and s,
        timeout=30,
        message=lambda: f"bad schedule Failed; {status_summary(get_schedule(world, 'bad'))}",
    )
    stalled = condition({"status": bad}, "Stalled") or {}
    assert stalled.get("status") == "True" and "spec.schedule '61 * * * *'" in stalled.get("message", ""), bad

    # Deleting the schedule deletes its runs (the TrainingJob owns them too, so GC would not) and,
    # through each run's deletionPolicy (Delete), their OCI runs.
    world.kube.delete(SCHEDULES, "hourly-ish", world.namespace, timeout=60)
    assert schedule_runs(world, "hourly-ish") == []
    assert (r := world.oci.get_job_run(run_id)) is None or r.lifecycle_state == "DELETED"
    assert world.get_job("quick") is not None  # the TrainingJob stays


def test_an_edit_of_the_engine_is_refused(world: Scenario) -> None:
    wait_schedules_crd(world.kube)
    world.apply(schedule("fixed", world.namespace, "any"))
    changed = schedule("fixed", world.namespace, "any", engine="OCI")
    result = world.kube.apply(changed, check=False)
    assert result.returncode != 0 and "engine is immutable" in result.stderr, result.stderr
    # A run template cannot cancel the runs it makes: the field is not kept (kubectl warns).
    patched = world.kube.kubectl(
        "patch", SCHEDULES, "fixed", "-n", world.namespace, "--type=merge",
        "-p", json.dumps({"spec": {"runTemplate": {"cancel": True}}}),
    )  # fmt: skip
    assert 'unknown field "spec.runTemplate.cancel"' in patched.stderr, patched.stderr
    assert "cancel" not in (world.kube.get(SCHEDULES, "fixed", world.namespace) or {})["spec"]["runTemplate"]
    # The operator's labels are not the template's to set (a run would pass for a sweep's trial).
    spoofed = schedule(
        "spoof", world.namespace, "any", runTemplate={"metadata": {"labels": {"ocids.io/sweep": "lr"}}}
    )
    result = world.kube.apply(spoofed, check=False)
    assert result.returncode != 0 and "runTemplate.metadata.labels" in result.stderr, result.stderr
    # A deadline shorter than a run's ordinary start latency would miss runs: refused, naming it.
    result = world.kube.apply(
        schedule("hasty", world.namespace, "any", startingDeadlineSeconds=5), check=False
    )
    assert result.returncode != 0 and "startingDeadlineSeconds" in result.stderr, result.stderr
