"""An adopted job's history is not ours to end (issue 14, tenancy: "The runs an adopted job already
had are never canceled or deleted by this operator").

Someone made a job in the OCI console, tagged it `ocids.io/adoptable-by: <namespace>` and ran it
twice: one run finished, one is still training. A TrainingJob adopts the job with deletionPolicy
Delete and runs it once more. Deleting that TrainingJob deletes only the run it made: the console's
runs are neither canceled nor deleted, the job that holds them stays, and a Warning names them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import oci
import operator_scripts as scripts
import pytest
from operator_harness import GC_TIMEOUT, JOBS, Scenario, wait_for

pytestmark = pytest.mark.integration
M = oci.data_science.models
ADOPTABLE_BY = "ocids.io/adoptable-by"
# The job's own settings, as its console owner set them; the TrainingJob states the same.
JOB_ENV = {"GATE_TIMEOUT": "300"}


def calls(world: Scenario, operation: str) -> int:
    return int(world.admin.stats()["operations"].get(operation, {}).get("total", 0))


def run_state(world: Scenario, run_id: str) -> str | None:
    run = world.oci.get_job_run(run_id)
    return None if run is None else str(run.lifecycle_state)


def console_job(world: Scenario) -> str:
    """A GATED job someone made in the OCI console (here: with the SDK) and let this namespace adopt."""
    details = M.CreateJobDetails(
        project_id=world.ids["PROJECT_ID"],
        compartment_id=world.compartment_id,
        display_name="made-by-hand",
        freeform_tags={ADOPTABLE_BY: world.namespace},
        job_configuration_details=M.DefaultJobConfigurationDetails(environment_variables=JOB_ENV),
        job_infrastructure_configuration_details=M.ManagedEgressStandaloneJobInfrastructureConfigurationDetails(
            shape_name="VM.Standard.E4.Flex",
            block_storage_size_in_gbs=50,
            job_shape_config_details=M.JobShapeConfigDetails(ocpus=1, memory_in_gbs=16),
        ),
    )
    job_id = str(world.oci.ds.create_job(details).data.id)
    world.oci.ds.create_job_artifact(
        job_id, scripts.GATED.encode(), content_disposition="attachment; filename=train.py"
    )
    wait_for(
        lambda: world.oci.get_job(job_id).lifecycle_state == "ACTIVE",
        timeout=30,
        message="console job ACTIVE",
    )
    return job_id


def console_run(world: Scenario, job_id: str, name: str, release: Path) -> str:
    """A run started in the console: it trains until `release` exists."""
    env = {"RELEASE_FILE": str(release), "MARKER": name}
    details = M.CreateJobRunDetails(
        project_id=world.ids["PROJECT_ID"],
        compartment_id=world.compartment_id,
        job_id=job_id,
        display_name=name,
        job_configuration_override_details=M.DefaultJobConfigurationDetails(environment_variables=env),
    )
    return str(world.oci.ds.create_job_run(details).data.id)


def wait_run_state(world: Scenario, run_id: str, state: str) -> None:
    wait_for(
        lambda: run_state(world, run_id) == state,
        timeout=60,
        message=lambda: f"OCI run {run_id} {state}; it is {run_state(world, run_id)}",
    )


def test_deleting_a_training_job_leaves_its_adopted_jobs_console_runs_and_the_job(e2e: Scenario) -> None:
    released = e2e.release_file("released")
    released.touch()
    held = e2e.release_file("held")
    job_id = console_job(e2e)
    finished_id = console_run(e2e, job_id, "console-finished", released)
    training_id = console_run(e2e, job_id, "console-training", held)
    try:
        wait_run_state(e2e, finished_id, "SUCCEEDED")
        wait_run_state(e2e, training_id, "IN_PROGRESS")

        e2e.apply(
            e2e.job(
                "adopter",
                scripts.GATED,
                env=JOB_ENV,
                logging={"enabled": False},
                deletion_policy="Delete",
                adopt_job_id=job_id,
            ),
            e2e.run("ours", "adopter", env={"RELEASE_FILE": str(released), "MARKER": "ours"}),
        )
        assert e2e.wait_job_active("adopter")["status"]["jobId"] == job_id
        our_id = e2e.wait_run("ours", "Succeeded")["status"]["jobRunId"]
        e2e.admin.reset_stats()

        e2e.kube.delete(JOBS, "adopter", e2e.namespace, wait=False)
        # The finalizer lets go: it does not wait for a run it will never stop.
        wait_for(lambda: e2e.get_job("adopter") is None, timeout=30, message="the TrainingJob let go")
        assert run_state(e2e, training_id) == "IN_PROGRESS", "the console's training run was not canceled"
        assert run_state(e2e, finished_id) == "SUCCEEDED", "the console's finished run was not deleted"
        job: Any = e2e.oci.get_job(job_id)
        assert job is not None and job.lifecycle_state == "ACTIVE", "the adopted job is kept"
        assert calls(e2e, "cancel_job_run") == 0 and calls(e2e, "delete_job") == 0, e2e.admin.stats()
        kept = e2e.wait_event("adopter", "JobKept")
        assert kept["type"] == "Warning", kept
        message = kept["message"]
        assert job_id in message and finished_id in message and training_id in message, message
        assert our_id not in message, message

        # Our own run goes as its deletionPolicy (Delete) says, once garbage collection takes its object.
        wait_for(
            lambda: e2e.get_run("ours") is None, timeout=GC_TIMEOUT, message="our TrainingJobRun collected"
        )
        assert run_state(e2e, our_id) in (None, "DELETED")
        assert calls(e2e, "delete_job_run") == 1, ("ours only", e2e.admin.stats())
        assert run_state(e2e, training_id) == "IN_PROGRESS" and run_state(e2e, finished_id) == "SUCCEEDED"

        held.touch()
        wait_run_state(e2e, training_id, "SUCCEEDED")  # it was left to finish on its own
    finally:
        held.touch()
