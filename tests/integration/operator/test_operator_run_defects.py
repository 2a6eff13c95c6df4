"""TrainingJobRuns where OCI or Kubernetes moved under them: a crash then a rollover, a missing OCI job,
an object re-created under the same name. What the user sees in status, and how many runs OCI made."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import operator_scripts as scripts
import pytest
from operator_harness import RUNS, OperatorProcess, Scenario, condition, wait_for

pytestmark = pytest.mark.integration
CRASH_EXIT = 137
TERMINAL = {"Succeeded", "Failed", "Canceled", "Deleted"}


def runs_tagged(world: Scenario, uid: str) -> list[str]:
    """Every OCI run carrying this object's uid tag, deleted ones included."""
    ds = world.oci.ds
    runs = [*world.oci_runs(), *ds.list_job_runs(world.compartment_id, lifecycle_state="DELETED").data]
    return sorted({r.id for r in runs if (r.freeform_tags or {}).get("ocids.io/uid") == uid})


def tracked_runs(op: OperatorProcess) -> float:
    match = re.search(r"^ocids_tracked_runs (\S+)$", op.metrics_text(), re.MULTILINE)
    return float(match.group(1)) if match else -1.0


def test_a_run_created_before_a_crash_and_deleted_since_is_never_created_again(
    world: Scenario, start_operator: Callable[..., OperatorProcess]
) -> None:
    op = start_operator()
    world.apply(world.job("once", scripts.TRAIN, env={"EPOCHS": "1"}))
    world.wait_job_active("once")
    op.restart(env_overrides={"OCIDS_DEBUG_CRASH_AFTER": "create_job_run"})
    world.apply(world.run("once-1", "once"))
    assert op.wait_exit(timeout=60) == CRASH_EXIT, op.log_text()[-3000:]
    [first] = world.oci_runs()
    assert not (world.get_run("once-1") or {}).get("status", {}).get("jobRunId"), "status was not written"

    # While the operator is down the run finishes, and an edit's rollover retires the job with its runs.
    wait_for(
        lambda: world.oci.get_job_run(first.id).lifecycle_state == "SUCCEEDED", timeout=60, message="run done"
    )
    world.oci.ds.delete_job_run(first.id)
    world.apply(world.job("once", scripts.TRAIN, env={"EPOCHS": "2"}))
    op.start(env_overrides={"OCIDS_DEBUG_CRASH_AFTER": ""})

    run = world.wait_run("once-1", TERMINAL, timeout=90)
    assert run["status"]["phase"] != "Succeeded", "the run it reports must be the one that was deleted"
    world.wait_job_status("once", lambda s: s.get("revision") == 2 and s.get("phase") == "Active", "rev 2")
    assert runs_tagged(world, run["metadata"]["uid"]) == [first.id], "exactly one OCI run, ever"
    ready = condition(run, "Ready") or {}
    assert first.id in ready.get("message", "") or "not creating a second one" in ready.get("message", "")


def test_a_run_whose_oci_job_is_missing_waits_and_runs_once_the_job_is_back(
    world: Scenario, start_operator: Callable[..., OperatorProcess]
) -> None:
    # No resync for now: the TrainingJob must not heal before the run meets the missing job.
    op = start_operator(env={"OCIDS_RESYNC_INTERVAL_SECONDS": "600"})
    world.apply(world.job("phoenix", scripts.TRAIN, env={"EPOCHS": "1"}))
    old_job = world.wait_job_active("phoenix")["status"]["jobId"]
    world.oci.ds.delete_job(old_job, delete_related_job_runs=True)  # e.g. in the console
    wait_for(
        lambda: (job := world.oci.get_job(old_job)) is None or job.lifecycle_state == "DELETED",
        timeout=30,
        message="OCI job deleted",
    )
    world.apply(world.run("phoenix-1", "phoenix"))

    def answered() -> dict[str, Any] | None:
        run = world.get_run("phoenix-1") or {}
        reason = (condition(run, "Ready") or {}).get("reason")
        return run if reason == "OCIJobNotFound" or run.get("status", {}).get("phase") in TERMINAL else None

    run = wait_for(answered, timeout=60, message="the run meets the missing OCI job")
    assert run["status"]["phase"] == "Pending", run["status"]
    assert old_job in (condition(run, "Ready") or {})["message"]
    world.wait_event("phoenix-1", "OCIJobNotFound")

    op.restart(env_overrides={"OCIDS_RESYNC_INTERVAL_SECONDS": "3"})  # the drift check re-creates the job
    run = world.wait_run("phoenix-1", "Succeeded", timeout=120)
    new_job = (world.get_job("phoenix") or {})["status"]["jobId"]
    assert run["status"]["jobId"] == new_job != old_job
    assert runs_tagged(world, run["metadata"]["uid"]) == [run["status"]["jobRunId"]]


def test_a_run_re_created_under_the_same_name_gets_none_of_the_old_runs_status(e2e: Scenario) -> None:
    op = e2e.operator
    assert op is not None
    e2e.apply(e2e.job("shared", scripts.GATED))
    e2e.wait_job_active("shared")
    release = e2e.release_file("old")
    e2e.apply(e2e.run("same-name", "shared", env={"MARKER": "old", "RELEASE_FILE": str(release)}))
    old_run_id = e2e.wait_run("same-name", "InProgress")["status"]["jobRunId"]

    # OCI stops answering for the run for a while: the finalizer cannot cancel it, the poller cannot
    # read it. Meanwhile the user removes the finalizer by hand and re-creates the object under the
    # same name, for a TrainingJob that does not exist yet.
    e2e.admin.set_faults(
        {
            "errors": [
                {"operation": op_name, "status": 503, "rate": 1.0}
                for op_name in ("get_job_run", "cancel_job_run")
            ]
        }
    )
    e2e.kube.delete(RUNS, "same-name", e2e.namespace, wait=False)
    e2e.kube.patch(RUNS, "same-name", e2e.namespace, {"metadata": {"finalizers": None}})
    wait_for(lambda: e2e.get_run("same-name") is None, timeout=30, message="old object gone")
    e2e.apply(e2e.run("same-name", "later"))
    new_uid = e2e.wait_run("same-name", "Pending")["metadata"]["uid"]

    release.touch()  # the old OCI run ends; once OCI answers again the poller reads it
    wait_for(
        lambda: {r.id: r.lifecycle_state for r in e2e.oci_runs()}.get(old_run_id) == "SUCCEEDED",
        timeout=60,
        message="old OCI run finished",
    )
    e2e.admin.clear_faults()
    wait_for(lambda: tracked_runs(op) == 0, timeout=90, message="the poller let go of the old run")
    new = e2e.get_run("same-name") or {}
    assert new["metadata"]["uid"] == new_uid
    assert new["status"]["phase"] == "Pending" and "jobRunId" not in new["status"], new["status"]

    e2e.apply(e2e.job("later", scripts.TRAIN, env={"EPOCHS": "1"}))
    done = e2e.wait_run("same-name", "Succeeded", timeout=120)
    assert done["status"]["jobRunId"] not in (None, old_run_id)
    assert runs_tagged(e2e, new_uid) == [done["status"]["jobRunId"]]


def test_a_run_whose_reads_iam_denies_is_not_reported_deleted(e2e: Scenario) -> None:
    """OCI answers 404 NotAuthorizedOrNotFound to a GetJobRun an IAM policy denies: not "gone"."""
    e2e.apply(e2e.job("guarded", scripts.GATED))
    e2e.wait_job_active("guarded")
    release = e2e.release_file("guarded-1")
    e2e.apply(e2e.run("guarded-1", "guarded", env={"MARKER": "g", "RELEASE_FILE": str(release)}))
    run_id = e2e.wait_run("guarded-1", "InProgress")["status"]["jobRunId"]
    e2e.admin.deny("get_job_run", resource_ids=[run_id])
    release.touch()  # it finishes, leaves the in-progress list, and its one GET is denied
    run = e2e.wait_run("guarded-1", {"Succeeded", "Deleted"}, timeout=90)
    assert run["status"]["phase"] == "Succeeded", run["status"]
    e2e.admin.clear_faults()


@pytest.mark.parametrize("stuck", ["canceling", "needs-attention"])
def test_deleting_a_run_oci_will_not_stop_lets_the_object_go_after_the_bound_and_says_so(
    world: Scenario, start_operator: Callable[..., OperatorProcess], stuck: str
) -> None:
    start_operator(env={"OCIDS_RUN_CANCEL_TIMEOUT_SECONDS": "6"})
    world.apply(world.job("stuck", scripts.GATED))
    world.wait_job_active("stuck")
    release = world.release_file("stuck-1")
    world.apply(world.run("stuck-1", "stuck", env={"RELEASE_FILE": str(release)}))
    run_id = world.wait_run("stuck-1", "InProgress")["status"]["jobRunId"]
    if stuck == "canceling":
        world.admin.hold_canceling(run_id)
    else:
        world.admin.needs_attention(run_id)
        world.wait_run("stuck-1", "NeedsAttention")
    try:
        # Deletion must neither hang for good nor drop the run silently.
        world.kube.delete(RUNS, "stuck-1", world.namespace, timeout=90)
        event = world.wait_event("stuck-1", "RunLeftInOCI")
        assert run_id in event["message"] and "OCIDS_RUN_CANCEL_TIMEOUT_SECONDS" in event["message"]
        assert event["type"] == "Warning"
        left = world.oci.get_job_run(run_id)
        assert left.lifecycle_state in ("CANCELING", "NEEDS_ATTENTION"), left.lifecycle_state
    finally:
        world.admin.release_canceling()
        world.admin.clear_needs_attention()
        release.touch()


def test_a_run_whose_deletion_iam_denies_is_not_taken_for_gone(
    world: Scenario, start_operator: Callable[..., OperatorProcess]
) -> None:
    start_operator(env={"OCIDS_RETRY_MAX_SECONDS": "5"})
    world.apply(world.job("keep", "print('done')\n"))
    world.wait_job_active("keep")
    world.apply(world.run("keep-1", "keep"))
    run_id = world.wait_run("keep-1", "Succeeded")["status"]["jobRunId"]
    # What OCI answers once a policy no longer lets the operator delete runs: the same 404 as "gone".
    world.admin.deny("delete_job_run", resource_ids=[run_id], count=None)

    world.kube.delete(RUNS, "keep-1", world.namespace, wait=False)
    assert "NotAuthorizedOrNotFound" in world.wait_event("keep-1", "DeletionBlocked", timeout=60)["message"]
    assert world.get_run("keep-1") is not None, "the finalizer holds while OCI refuses"

    world.admin.clear_faults()
    wait_for(lambda: world.get_run("keep-1") is None, timeout=90, message="deleted once allowed")
    assert world.oci.get_job_run(run_id) is None or world.oci.get_job_run(run_id).lifecycle_state == "DELETED"
