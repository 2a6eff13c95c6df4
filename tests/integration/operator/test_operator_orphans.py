"""The orphan report as a user runs it: `python -m ocids_operator orphans` as a process, with the
operator's own environment, against the real API server, the emulator and a running operator.

OCI resources this cluster tagged whose owner is gone are made by hand in the emulator (as a
finalizer removed by hand, or an operator uninstalled mid-deletion, leaves them): a job with an
active run, and a finished run in a live TrainingJob's job. The report lists them with their cost
so far (the price table, by hand), and the operator's gauges count them; resources kept on purpose
(a run tagged Retain, the jobs of a TrainingJob deleted with deletionPolicy Retain, its
retired revision's too) are reported as
retained; the live TrainingJob's own run is not reported. Nothing is deleted until `--delete`,
which cancels the active orphan run, deletes the orphans, and leaves everything else.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from typing import Any

import oci
import operator_scripts as scripts
import pytest
from operator_harness import JOBS, Scenario, wait_for

pytestmark = pytest.mark.integration
M = oci.data_science.models
CLUSTER = "e2e"  # OCIDS_CLUSTER_NAME of the harness's operator
PRICES = """\
currency: USD
shapes:
  - match: VM.Standard.E4.Flex
    ocpuHour: 0.025
    memoryGBHour: 0.0015
    source: https://www.oracle.com/cloud/price-list/
    date: "2026-12-01"
blockStorage:
  gbMonth: 0.0255
  source: https://www.oracle.com/cloud/price-list/
  date: "2026-12-01"
"""
# 1 OCPU, 16 GB, 50 GB of block storage, by hand from the table above.
PRICE_PER_HOUR = 1 * 0.025 + 16 * 0.0015 + 50 * 0.0255 / 730


def orphans(e2e: Scenario, *args: str) -> subprocess.CompletedProcess[str]:
    assert e2e.operator is not None
    return subprocess.run(
        [sys.executable, "-m", "ocids_operator", "orphans", *args],
        env=e2e.operator.env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def tags(e2e: Scenario, name: str, **extra: str) -> dict[str, str]:
    """What the operator tags its resources with, for an object that no longer exists."""
    return {
        "ocids.io/uid": str(uuid.uuid4()),
        "ocids.io/namespace": e2e.namespace,
        "ocids.io/name": name,
        "ocids.io/cluster": CLUSTER,
        **extra,
    }


def hand_made_job(e2e: Scenario, name: str) -> str:
    details = M.CreateJobDetails(
        project_id=e2e.ids["PROJECT_ID"],
        compartment_id=e2e.compartment_id,
        display_name=name,
        freeform_tags=tags(e2e, name),
        job_configuration_details=M.DefaultJobConfigurationDetails(),
        job_infrastructure_configuration_details=M.ManagedEgressStandaloneJobInfrastructureConfigurationDetails(
            shape_name="VM.Standard.E4.Flex",
            block_storage_size_in_gbs=50,
            job_shape_config_details=M.JobShapeConfigDetails(ocpus=1, memory_in_gbs=16),
        ),
    )
    job_id = str(e2e.oci.ds.create_job(details).data.id)
    e2e.oci.ds.create_job_artifact(
        job_id, scripts.GATED.encode(), content_disposition="attachment; filename=train.py"
    )
    wait_for(lambda: e2e.oci.get_job(job_id).lifecycle_state == "ACTIVE", timeout=30, message="job ACTIVE")
    return job_id


def hand_made_run(e2e: Scenario, job_id: str, name: str, env: dict[str, str], **extra: str) -> str:
    details = M.CreateJobRunDetails(
        project_id=e2e.ids["PROJECT_ID"],
        compartment_id=e2e.compartment_id,
        job_id=job_id,
        display_name=name,
        freeform_tags=tags(e2e, name, **extra),
        job_configuration_override_details=M.DefaultJobConfigurationDetails(environment_variables=env),
    )
    return str(e2e.oci.ds.create_job_run(details).data.id)


def run_state(e2e: Scenario, run_id: str) -> str | None:
    run = e2e.oci.get_job_run(run_id)
    return None if run is None else str(run.lifecycle_state)


def job_state(e2e: Scenario, job_id: str) -> str | None:
    job = e2e.oci.get_job(job_id)
    return None if job is None else str(job.lifecycle_state)


def wait_state(e2e: Scenario, run_id: str, state: str) -> None:
    wait_for(
        lambda: run_state(e2e, run_id) == state,
        timeout=60,
        message=lambda: f"run {run_id} {state}; it is {run_state(e2e, run_id)}",
    )


def gauge(e2e: Scenario, name: str) -> float | None:
    assert e2e.operator is not None
    found = re.search(rf"^{name} ([0-9.e+-]+)$", e2e.operator.metrics_text(), re.MULTILINE)
    return None if found is None else float(found.group(1))


def orphan_metrics(e2e: Scenario) -> list[str]:
    assert e2e.operator is not None
    return [line for line in e2e.operator.metrics_text().splitlines() if line.startswith("ocids_orphan")]


def line_of(output: str, ocid: str) -> str:
    lines = [line for line in output.splitlines() if ocid in line and not line.startswith(" ")]
    assert len(lines) == 1, f"one table line for {ocid} in:\n{output}"
    return lines[0]


def test_orphans_are_reported_with_their_cost_and_deleted_only_with_delete(
    world: Scenario, start_operator: Any
) -> None:
    world.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "prices", "namespace": world.namespace},
            "data": {"prices.yaml": PRICES},
        }
    )
    e2e = world
    e2e.operator = start_operator(
        env={"OCIDS_PRICE_TABLE": f"{world.namespace}/prices", "OCIDS_ORPHAN_CHECK_INTERVAL_SECONDS": "3"}
    )
    released = e2e.release_file("released")
    released.touch()
    held = e2e.release_file("held")

    # Owned: a TrainingJob and its run. Kept on purpose: a TrainingJob deleted with Retain.
    e2e.apply(
        e2e.job("kept", scripts.GATED, logging={"enabled": False}),
        e2e.run("kept-1", "kept", env={"RELEASE_FILE": str(released)}),
        e2e.job("let-go", scripts.GATED, logging={"enabled": False}, deletion_policy="Retain"),
    )
    kept_job = e2e.wait_job_active("kept")["status"]["jobId"]
    kept_run = e2e.wait_run("kept-1", "Succeeded")["status"]["jobRunId"]
    retired_job = e2e.wait_job_active("let-go")["status"]["jobId"]
    # A new artifact is a new revision: the old job is retired, and (no runs) let go at once.
    e2e.apply(
        e2e.job("let-go", scripts.GATED + "# v2\n", logging={"enabled": False}, deletion_policy="Retain")
    )
    e2e.wait_event("let-go", "RetiredJobRetained", timeout=60)
    let_go_job = e2e.wait_job_active("let-go")["status"]["jobId"]
    assert let_go_job != retired_job
    e2e.kube.delete(JOBS, "let-go", e2e.namespace)

    # Orphans made by hand: a job whose TrainingJob is gone, with a run still training, and a
    # finished run in the live TrainingJob's job whose TrainingJobRun is gone. Retained: a run tagged
    # as a Retain TrainingJobRun's finalizer tags it.
    orphan_job = hand_made_job(e2e, "gone")
    training = hand_made_run(e2e, orphan_job, "gone-1", {"RELEASE_FILE": str(held)})
    finished = hand_made_run(e2e, kept_job, "gone-2", {"RELEASE_FILE": str(released)})
    retained = hand_made_run(
        e2e,
        kept_job,
        "kept-on-purpose",
        {"RELEASE_FILE": str(released)},
        **{"ocids.io/deletion-policy": "Retain"},
    )
    wait_state(e2e, training, "IN_PROGRESS")
    wait_state(e2e, finished, "SUCCEEDED")
    wait_state(e2e, retained, "SUCCEEDED")

    # The operator's periodic check counts them (read-only), and prices them: the run still
    # training has cost something by now.
    wait_for(
        lambda: (
            gauge(e2e, "ocids_orphan_runs") == 2
            and gauge(e2e, "ocids_orphan_jobs") == 1
            and (gauge(e2e, 'ocids_orphan_cost{currency="USD"}') or 0) > 0
        ),
        timeout=60,
        message=lambda: f"orphan gauges 2 runs, 1 job, a cost; metrics: {orphan_metrics(e2e)}",
    )

    listed = orphans(e2e)
    assert listed.returncode == 0, listed.stderr
    out = listed.stdout
    assert "Orphan" in line_of(out, orphan_job) and f"{e2e.namespace}/gone" in line_of(out, orphan_job)
    assert "Orphan" in line_of(out, training) and "IN_PROGRESS" in line_of(out, training)
    assert "Orphan" in line_of(out, finished)
    assert "Retained" in line_of(out, retained)
    assert "Retained" in line_of(out, let_go_job)
    assert "Retained" in line_of(out, retired_job)
    assert kept_run not in out and kept_job not in out, out  # owned: not reported
    assert "1 orphan job(s), 2 orphan run(s); cost so far" in out
    assert "nothing deleted: run again with --delete" in out
    # Only --delete deletes: everything is still there.
    assert run_state(e2e, training) == "IN_PROGRESS"
    assert job_state(e2e, orphan_job) == "ACTIVE"
    assert run_state(e2e, finished) == "SUCCEEDED"

    # The cost of the finished one is its price per hour, by hand, for the time it ran.
    report = json.loads(orphans(e2e, "--output", "json").stdout)
    items = {item["id"]: item for item in report["items"]}
    assert report["orphanRuns"] == 2 and report["orphanJobs"] == 1 and report["currency"] == "USD"
    assert items[finished]["pricePerHour"] == pytest.approx(PRICE_PER_HOUR)
    ran = e2e.oci.get_job_run(finished)
    hours = (ran.time_finished - ran.time_started).total_seconds() / 3600
    assert items[finished]["cost"] == pytest.approx(PRICE_PER_HOUR * hours)
    assert items[training]["cost"] > 0  # still running: so far

    deleted = orphans(e2e, "--delete")
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    out = deleted.stdout
    assert f"canceled run {training}" in out
    assert f"deleted run {finished}" in out
    assert f"deleted job {orphan_job} ({e2e.namespace}/gone) and its run(s) {training}" in out
    assert job_state(e2e, orphan_job) in (None, "DELETED", "DELETING")
    assert run_state(e2e, finished) in (None, "DELETED")
    # Never touched: the retained run, the Retain TrainingJob's job, the owned job and run.
    assert run_state(e2e, retained) == "SUCCEEDED"
    assert job_state(e2e, let_go_job) == "ACTIVE" and job_state(e2e, retired_job) == "ACTIVE"
    assert job_state(e2e, kept_job) == "ACTIVE" and run_state(e2e, kept_run) == "SUCCEEDED"

    wait_for(
        lambda: gauge(e2e, "ocids_orphan_runs") == 0 and gauge(e2e, "ocids_orphan_jobs") == 0,
        timeout=60,
        message="orphan gauges back to 0",
    )
