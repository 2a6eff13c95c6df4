"""TrainingJob defects of issue 8, as a user sees them: kubectl against a real API server, the
operator as a process, OCI as the emulator."""

from __future__ import annotations

import json
from typing import Any

import pytest
from operator_harness import JOBS, Scenario, wait_for

pytestmark = pytest.mark.integration

KIB = 1024


def get_job_calls(world: Scenario) -> int:
    return int(world.admin.stats()["operations"].get("get_job", {}).get("total", 0))


def big_script(size: int, marker: str) -> str:
    """A runnable script of `size` characters: plain comment lines, then one print."""
    tail = f"print({marker!r})\n"
    line = "# " + "padding " * 9 + "\n"
    body = line * ((size - len(tail)) // len(line))
    return body + "#" * (size - len(tail) - len(body) - 1) + "\n" + tail


def test_a_200_kib_inline_script_applied_with_kubectl_works_and_deletes(e2e: Scenario) -> None:
    script = big_script(200 * KIB, "big script v1")
    e2e.apply(e2e.job("big", script))  # kubectl apply: a second copy in last-applied-configuration
    job = e2e.wait_job_active("big")
    assert job["status"]["artifact"]["sizeBytes"] == len(script.encode())
    first_job_id = job["status"]["jobId"]
    annotations = job["metadata"].get("annotations") or {}
    assert sum(len(key) + len(value) for key, value in annotations.items()) < 256 * KIB

    # An edit of the script is still seen (kopf compares a digest of it): a new revision.
    e2e.apply(e2e.job("big", big_script(200 * KIB, "big script v2")))
    edited = e2e.wait_job_status(
        "big",
        lambda s: s.get("revision") == 2 and s.get("phase") == "Active",
        "revision 2 Active",
        timeout=120,
    )
    assert edited["status"]["jobId"] != first_job_id

    e2e.kube.delete(JOBS, "big", e2e.namespace, timeout=90)
    assert e2e.get_job("big") is None
    wait_for(
        lambda: all(
            j.lifecycle_state in ("DELETED", "DELETING")
            for j in e2e.oci_jobs()
            if j.id in (first_job_id, edited["status"]["jobId"])
        ),
        timeout=60,
        message="both OCI jobs deleted",
    )


def test_an_inline_script_over_the_limit_is_refused_naming_the_field(world: Scenario) -> None:
    manifest = world.job("huge", big_script(300 * KIB, "too big"))
    proc = world.kube.kubectl("create", "-f", "-", input=json.dumps(manifest), check=False)
    assert proc.returncode != 0
    assert "spec.artifact.inline.content" in proc.stderr, proc.stderr
    assert world.get_job("huge") is None


def test_deletion_denied_by_oci_keeps_the_finalizer_says_why_and_finishes_once_allowed(
    world: Scenario, start_operator: Any
) -> None:
    world.operator = start_operator(env={"OCIDS_RETRY_MAX_SECONDS": "5"})
    world.apply(world.job("denied", "print('hi')\n"))
    job_id = world.wait_job_active("denied")["status"]["jobId"]
    # What OCI answers when a policy no longer lets the operator delete jobs.
    world.admin.deny("delete_job", resource_ids=[job_id], count=None)

    world.kube.delete(JOBS, "denied", world.namespace, wait=False)
    blocked = world.wait_job_status(
        "denied",
        lambda s: any(
            c.get("reason") == "DeletionBlocked" and c["status"] == "True" for c in s.get("conditions") or []
        ),
        "deletion blocked in status",
    )
    assert "NotAuthorizedOrNotFound" in blocked["status"]["message"]
    assert "ocids.io/finalizer" in blocked["metadata"]["finalizers"]
    assert "NotAuthorizedOrNotFound" in world.wait_event("denied", "DeletionBlocked")["message"]
    # Retried, and still there: the OCI job is not orphaned by a finalizer given up.
    wait_for(
        lambda: int(world.admin.stats()["operations"].get("delete_job", {}).get("total", 0)) >= 2,
        timeout=60,
        message="delete_job retried",
    )
    assert world.get_job("denied") is not None

    world.admin.clear_faults()
    wait_for(lambda: world.get_job("denied") is None, timeout=90, message="TrainingJob deleted once allowed")
    oci_job = world.oci.get_job(job_id)
    assert oci_job is None or oci_job.lifecycle_state in ("DELETED", "DELETING")


def test_a_rejected_edit_keeps_new_runs_off_the_old_job(e2e: Scenario) -> None:
    e2e.apply(e2e.job("edit", "print('v1')\n"))
    old_job_id = e2e.wait_job_active("edit")["status"]["jobId"]
    e2e.admin.deny("create_job", count=None)  # the new revision's CreateJob is refused
    e2e.apply(e2e.job("edit", "print('v1')\n", args=["--epochs", "2"]))
    e2e.wait_job_status(
        "edit",
        lambda s: (
            any(c["type"] == "Stalled" and c["status"] == "True" for c in s.get("conditions") or [])
            and s.get("observedGeneration") == 2
        ),
        "the edit stalled",
    )

    e2e.apply(e2e.run("edit-1", "edit"))
    assert "edit" in e2e.wait_event("edit-1", "TrainingJobNotReady")["message"]
    assert e2e.get_run("edit-1")["status"]["phase"] == "Pending"  # type: ignore[index]
    assert e2e.oci_runs(old_job_id) == []

    e2e.admin.clear_faults()
    e2e.apply(e2e.job("edit", "print('v1')\n", args=["--epochs", "3"]))  # the user fixes the spec
    # The refused CreateJob is retried by itself too (NotAuthorized is re-checked): that retry may
    # still make a job of generation 2 just before generation 3 is seen. Runs go to the job of the
    # current generation, so that is the one to wait for, whatever its revision number.
    generation = e2e.get_job("edit")["metadata"]["generation"]  # type: ignore[index]
    new_job_id = e2e.wait_job_status(
        "edit",
        lambda s: (
            s.get("phase") == "Active"
            and s.get("observedGeneration") == generation
            and any(
                c["type"] == "Ready" and c["status"] == "True" and c.get("observedGeneration") == generation
                for c in s.get("conditions") or []
            )
        ),
        "the fixed generation Active",
    )["status"]["jobId"]
    assert new_job_id != old_job_id
    run = e2e.wait_run("edit-1", {"Accepted", "InProgress", "Succeeded"})
    assert run["status"]["jobId"] == new_job_id
    assert e2e.oci_runs(old_job_id) == []


def test_retiring_an_old_revision_keeps_its_run_history(e2e: Scenario) -> None:
    e2e.apply(e2e.job("hist", "print('v1')\n"))
    old_job_id = e2e.wait_job_active("hist")["status"]["jobId"]
    e2e.apply(e2e.run("hist-1", "hist"))
    run_id = e2e.wait_run("hist-1", "Succeeded")["status"]["jobRunId"]

    e2e.apply(e2e.job("hist", "print('v2')\n"))
    edited = e2e.wait_job_status(
        "hist", lambda s: s.get("revision") == 2 and s.get("phase") == "Active", "revision 2 Active"
    )
    # Resyncs come and go (each one reads the job): the old job and its finished run stay.
    reads = get_job_calls(e2e)
    wait_for(lambda: get_job_calls(e2e) >= reads + 2, timeout=30, message="two more resyncs")
    edited = e2e.get_job("hist")  # type: ignore[assignment]
    assert old_job_id in edited["status"]["retiredJobIds"]
    oci_run = e2e.oci.get_job_run(run_id)
    assert oci_run is not None and oci_run.lifecycle_state == "SUCCEEDED"
    oci_job = e2e.oci.get_job(old_job_id)
    assert oci_job is not None and oci_job.lifecycle_state == "ACTIVE"


def test_a_job_deletion_that_fails_in_oci_is_retried_before_the_object_goes(e2e: Scenario) -> None:
    e2e.apply(e2e.job("flaky", "print('hi')\n"))
    job_id = e2e.wait_job_active("flaky")["status"]["jobId"]
    e2e.admin.fail_job_deletes(job_id, count=1)  # 202, then the work request FAILS

    e2e.kube.delete(JOBS, "flaky", e2e.namespace, timeout=90)
    assert e2e.get_job("flaky") is None
    oci_job = e2e.oci.get_job(job_id)
    assert oci_job is None or oci_job.lifecycle_state in ("DELETED", "DELETING"), oci_job


def test_a_job_not_yet_readable_after_create_is_not_created_twice(e2e: Scenario) -> None:
    e2e.admin.not_found_after_create(seconds=4.0)
    e2e.apply(e2e.job("late", "print('hi')\n"))
    job = e2e.wait_job_active("late")
    assert job["status"]["revision"] == 1
    mine = [
        j for j in e2e.oci_jobs() if (j.freeform_tags or {}).get("ocids.io/uid") == job["metadata"]["uid"]
    ]
    assert [j.id for j in mine] == [job["status"]["jobId"]]
