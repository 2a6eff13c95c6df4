"""Tenancy isolation against the real API server and the emulator: a namespace uses only the OCI
compartments its admins granted it (annotation ocids.io/allowed-compartments), and adopts only an
OCI job whose owner tagged it ocids.io/adoptable-by: <namespace>.

The emulator here holds a second compartment ("theirs") with its own project, log group and subnet;
the test's namespace is granted only the first one (the `namespace` fixture's annotation).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import oci
import operator_scripts as scripts
import pytest
from harness_kube import ALLOWED_COMPARTMENTS, JOBS, RUNS, status_summary
from operator_harness import OperatorProcess, Scenario, wait_for

pytestmark = pytest.mark.integration
M = oci.data_science.models
THEIRS = {
    "COMPARTMENT": "compartment",
    "PROJECT": "datascienceproject",
    "LOG_GROUP": "loggroup",
    "SUBNET": "subnet",
}


@pytest.fixture
def emulator(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """The usual emulator, with a second compartment and a project, log group and subnet in it."""
    from ocids_emulator.config import TENANCY_FILE, init_data_dir
    from ocids_emulator.core.ocids import new_ocid
    from ocids_emulator.testing import running_emulator

    data_dir = tmp_path / "emulator"
    ids = init_data_dir(data_dir)
    theirs = {
        key: new_ocid(kind, "" if kind == "compartment" else ids["REGION"]) for key, kind in THEIRS.items()
    }
    tenancy = json.loads((data_dir / TENANCY_FILE).read_text())
    tenancy["compartments"].append({"id": theirs["COMPARTMENT"], "name": "theirs"})
    where = {"compartmentId": theirs["COMPARTMENT"]}
    tenancy["projects"].append({"id": theirs["PROJECT"], "displayName": "theirs", **where})
    tenancy["logGroups"].append({"id": theirs["LOG_GROUP"], "displayName": "theirs", **where})
    tenancy.setdefault("subnets", []).append({"id": theirs["SUBNET"], "displayName": "theirs", **where})
    (data_dir / TENANCY_FILE).write_text(json.dumps(tenancy, indent=2) + "\n")
    with running_emulator(data_dir) as emu:
        emu.ids.update({f"THEIR_{key}_ID": value for key, value in theirs.items()})
        yield emu


def _stalled(obj: dict[str, Any] | None) -> dict[str, Any] | None:
    for condition in ((obj or {}).get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Stalled" and condition.get("status") == "True":
            return dict(condition)
    return None


def wait_refused(world: Scenario, kind: str, name: str, reason: str, timeout: float = 60) -> str:
    """The Stalled condition's message once the object is refused with `reason`."""
    seen: dict[str, Any] = {}

    def refused() -> str | None:
        seen["obj"] = world.kube.get(kind, name, world.namespace)
        condition = _stalled(seen["obj"])
        return str(condition["message"]) if condition and condition.get("reason") == reason else None

    message: str = wait_for(
        refused, timeout=timeout, message=lambda: f"{kind}/{name} {reason}; {status_summary(seen.get('obj'))}"
    )
    return message


def calls(world: Scenario, operation: str) -> int:
    return int(world.admin.stats()["operations"].get(operation, {}).get("total", 0))


def console_job(world: Scenario, *, tags: dict[str, str], compartment: str, project: str) -> str:
    """A job someone made in the OCI console (here: with the SDK), ACTIVE with an artifact."""
    details = M.CreateJobDetails(
        project_id=project,
        compartment_id=compartment,
        display_name="made-by-hand",
        freeform_tags=tags,
        job_configuration_details=M.DefaultJobConfigurationDetails(environment_variables={"EPOCHS": "2"}),
        job_infrastructure_configuration_details=M.ManagedEgressStandaloneJobInfrastructureConfigurationDetails(
            shape_name="VM.Standard.E4.Flex",
            block_storage_size_in_gbs=50,
            job_shape_config_details=M.JobShapeConfigDetails(ocpus=1, memory_in_gbs=16),
        ),
    )
    job_id = str(world.oci.ds.create_job(details).data.id)
    world.oci.ds.create_job_artifact(
        job_id, scripts.TRAIN.encode(), content_disposition="attachment; filename=train.py"
    )
    wait_for(
        lambda: world.oci.get_job(job_id).lifecycle_state == "ACTIVE",
        timeout=30,
        message="console job ACTIVE",
    )
    return job_id


def test_a_namespace_granted_nothing_is_refused_with_no_oci_call_until_an_admin_grants_it(
    world: Scenario, start_operator: Any
) -> None:
    world.kube.kubectl("annotate", "namespace", world.namespace, f"{ALLOWED_COMPARTMENTS}-")
    start_operator()
    world.admin.reset_stats()
    world.apply(world.job("train", scripts.TRAIN), world.run("train-1", "train"))

    message = wait_refused(world, JOBS, "train", "CompartmentNotAllowed")
    assert f"compartment {world.compartment_id} (compartmentId) is not allowed" in message, message
    assert ALLOWED_COMPARTMENTS in message and world.namespace in message, message
    event = world.wait_event("train", "CompartmentNotAllowed")
    assert event["type"] == "Warning", event
    # The run waits for its TrainingJob; neither the job nor the run reached OCI, not even a read.
    world.kube.wait_phase(RUNS, "train-1", world.namespace, "Pending")
    assert world.admin.stats()["total"] == 0, world.admin.stats()

    # An admin grants the compartment: the refusal is looked at again by itself (every
    # OCIDS_RETRY_MAX_SECONDS), with no edit of the TrainingJob.
    world.kube.grant_compartments(world.namespace, world.compartment_id)
    world.wait_job_active("train")
    world.wait_run("train-1", "Succeeded")


def test_a_project_log_group_or_subnet_in_a_compartment_not_granted_is_refused_naming_it(
    e2e: Scenario,
) -> None:
    ids = e2e.ids
    logs_theirs = {"enabled": True, "autoCreateLog": True, "logGroupId": ids["THEIR_LOG_GROUP_ID"]}
    theirs_subnet = {
        "shape": "VM.Standard.E4.Flex",
        "ocpus": 1,
        "memoryInGBs": 16,
        "subnetId": ids["THEIR_SUBNET_ID"],
    }
    e2e.admin.reset_stats()
    e2e.apply(
        e2e.job("their-compartment", scripts.TRAIN, compartmentId=ids["THEIR_COMPARTMENT_ID"]),
        e2e.job("their-project", scripts.TRAIN, projectId=ids["THEIR_PROJECT_ID"]),
        e2e.job("their-logs", scripts.TRAIN, logging=logs_theirs),
        e2e.job("their-subnet", scripts.TRAIN, infrastructure=theirs_subnet),
        e2e.job("ours", scripts.TRAIN),
    )
    theirs = ids["THEIR_COMPARTMENT_ID"]
    refused = {
        "their-compartment": f"compartment {theirs} (compartmentId) is not allowed",
        "their-project": f"projectId {ids['THEIR_PROJECT_ID']} is in compartment {theirs}",
        "their-logs": f"logging.logGroupId {ids['THEIR_LOG_GROUP_ID']} is in compartment {theirs}",
        "their-subnet": f"infrastructure.subnetId {ids['THEIR_SUBNET_ID']} is in compartment {theirs}",
    }
    for name, expected in refused.items():
        message = wait_refused(e2e, JOBS, name, "CompartmentNotAllowed")
        assert expected in message and ALLOWED_COMPARTMENTS in message, message
    job_id = e2e.wait_job_active("ours")["status"]["jobId"]

    # A run's own overrides are checked too: a log group or subnet of theirs creates no run.
    e2e.apply(
        e2e.run("run-their-subnet", "ours", infrastructure=theirs_subnet),
        e2e.run("run-their-logs", "ours", logging=logs_theirs),
        e2e.run("run-ours", "ours"),
    )
    message = wait_refused(e2e, RUNS, "run-their-subnet", "CompartmentNotAllowed")
    assert refused["their-subnet"] in message, message
    message = wait_refused(e2e, RUNS, "run-their-logs", "CompartmentNotAllowed")
    assert refused["their-logs"] in message, message
    e2e.wait_run("run-ours", "Succeeded")

    assert [job.id for job in e2e.oci_jobs()] == [job_id]
    assert e2e.oci.jobs(ids["THEIR_COMPARTMENT_ID"]) == []
    assert calls(e2e, "create_job") == 1 and calls(e2e, "create_job_run") == 1, e2e.admin.stats()
    assert calls(e2e, "update_job") == 0, e2e.admin.stats()
    # Each referenced resource's compartment is read once, however often it is checked.
    assert calls(e2e, "get_project") == 2 and calls(e2e, "get_subnet") == 1, e2e.admin.stats()
    assert calls(e2e, "get_log_group") <= 2, e2e.admin.stats()


def test_a_console_job_is_adopted_only_with_its_owners_consent(e2e: Scenario) -> None:
    ids = e2e.ids
    plain = console_job(e2e, tags={"team": "risk"}, compartment=e2e.compartment_id, project=ids["PROJECT_ID"])
    theirs = console_job(
        e2e,
        tags={"ocids.io/adoptable-by": e2e.namespace},
        compartment=ids["THEIR_COMPARTMENT_ID"],
        project=ids["THEIR_PROJECT_ID"],
    )
    consented = console_job(
        e2e,
        tags={"ocids.io/adoptable-by": e2e.namespace},
        compartment=e2e.compartment_id,
        project=ids["PROJECT_ID"],
    )
    e2e.admin.reset_stats()
    e2e.apply(
        e2e.job(
            "take-plain", scripts.TRAIN, env={"EPOCHS": "2"}, logging={"enabled": False}, adopt_job_id=plain
        ),
        e2e.job(
            "take-theirs", scripts.TRAIN, env={"EPOCHS": "2"}, logging={"enabled": False}, adopt_job_id=theirs
        ),
    )
    message = wait_refused(e2e, JOBS, "take-plain", "AdoptionNotAllowed")
    assert f"ocids.io/adoptable-by: {e2e.namespace}" in message and "it has no such tag" in message, message
    message = wait_refused(e2e, JOBS, "take-theirs", "AdoptionNotAllowed")
    assert f"is in compartment {ids['THEIR_COMPARTMENT_ID']}" in message, message
    assert calls(e2e, "update_job") == 0 and calls(e2e, "create_job") == 0, e2e.admin.stats()

    # Deleting the refused TrainingJobs leaves the console's jobs as they were.
    e2e.kube.delete(JOBS, "take-plain", e2e.namespace)
    e2e.kube.delete(JOBS, "take-theirs", e2e.namespace)
    for job_id in (plain, theirs):
        job = e2e.oci.get_job(job_id)
        assert job.lifecycle_state == "ACTIVE", job
        assert "ocids.io/uid" not in (job.freeform_tags or {}), job.freeform_tags
    assert calls(e2e, "delete_job") == 0, e2e.admin.stats()

    e2e.apply(
        e2e.job(
            "take-consented",
            scripts.TRAIN,
            env={"EPOCHS": "2"},
            logging={"enabled": False},
            adopt_job_id=consented,
        )
    )
    assert e2e.wait_job_active("take-consented")["status"]["jobId"] == consented


def test_open_policy_serves_a_namespace_without_the_annotation_and_warns_once(
    world: Scenario, start_operator: Any
) -> None:
    world.kube.kubectl("annotate", "namespace", world.namespace, f"{ALLOWED_COMPARTMENTS}-")
    op: OperatorProcess = start_operator(env={"OCIDS_COMPARTMENT_POLICY": "open"})
    world.apply(world.job("train", scripts.TRAIN))
    world.wait_job_active("train")
    warnings = [line for line in op.log_text().splitlines() if "OCIDS_COMPARTMENT_POLICY=open" in line]
    assert len(warnings) == 1 and " WARNING " in warnings[0], warnings


def test_a_revoked_grant_stops_new_runs_but_not_the_deletion_of_what_exists(e2e: Scenario) -> None:
    e2e.apply(e2e.job("train", scripts.TRAIN), e2e.run("train-1", "train"))
    job_id = e2e.wait_job_active("train")["status"]["jobId"]
    e2e.wait_run("train-1", "Succeeded")

    other = e2e.ids["THEIR_COMPARTMENT_ID"]
    e2e.kube.kubectl("annotate", "namespace", e2e.namespace, f"{ALLOWED_COMPARTMENTS}={other}", "--overwrite")
    e2e.admin.reset_stats()
    # The resync finds the grant gone: the TrainingJob is Stalled, and nothing is written to OCI.
    message = wait_refused(e2e, JOBS, "train", "CompartmentNotAllowed")
    assert f"compartment {e2e.compartment_id} (compartmentId) is not allowed" in message, message
    e2e.apply(e2e.run("train-2", "train"))
    run = e2e.kube.wait_phase(RUNS, "train-2", e2e.namespace, "Pending")
    assert "to be Ready" in run["status"]["message"], run["status"]
    assert calls(e2e, "create_job_run") == 0 and calls(e2e, "update_job") == 0, e2e.admin.stats()

    # The finalizers are not gated: the job made while it was granted is still cleaned up in OCI.
    e2e.kube.delete(RUNS, "train-1", e2e.namespace)
    e2e.kube.delete(RUNS, "train-2", e2e.namespace)
    e2e.kube.delete(JOBS, "train", e2e.namespace)
    wait_for(
        lambda: e2e.oci.get_job(job_id) is None or e2e.oci.get_job(job_id).lifecycle_state == "DELETED",
        timeout=60,
        message="the OCI job deleted",
    )
