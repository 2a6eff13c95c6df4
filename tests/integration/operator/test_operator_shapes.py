"""Shapes as the compartment offers them, against the real API server and the emulator: a shape
the tenancy does not offer is Stalled with no CreateJob and heals when the tenancy gains it (no
edit), and a fastLaunch job runs on the shape of a config the tenancy lists, named in its status.

The emulator's tenancy catalog is edited live through its admin API (`PUT /_emulator/tenancy/...`).
"""

from __future__ import annotations

from typing import Any

import operator_scripts as scripts
import pytest
from harness_kube import JOBS, RUNS, status_summary
from operator_harness import Scenario, wait_for

pytestmark = pytest.mark.integration

# A fixed shape no built-in catalog has: only this test's tenancy will offer it.
NEW_SHAPE = "VM.Standard.X9.4"


def calls(world: Scenario, operation: str) -> int:
    return int(world.admin.stats()["operations"].get(operation, {}).get("total", 0))


def stalled(world: Scenario, kind: str, name: str, reason: str) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def check() -> dict[str, Any] | None:
        seen["obj"] = world.kube.get(kind, name, world.namespace)
        for condition in ((seen["obj"] or {}).get("status") or {}).get("conditions") or []:
            if condition.get("type") == "Stalled" and condition.get("status") == "True":
                return seen["obj"] if condition.get("reason") == reason else None
        return None

    found: dict[str, Any] = wait_for(
        check,
        timeout=60,
        message=lambda: f"{kind}/{name} Stalled {reason}; {status_summary(seen.get('obj'))}",
    )
    return found


def condition_message(obj: dict[str, Any]) -> str:
    return next(str(c["message"]) for c in obj["status"]["conditions"] if c["type"] == "Stalled")


def test_a_shape_not_offered_is_stalled_with_no_create_job_and_heals_when_the_tenancy_gains_it(
    e2e: Scenario,
) -> None:
    e2e.admin.reset_stats()
    e2e.apply(
        e2e.job("new-shape", scripts.TRAIN, shape=NEW_SHAPE, ocpus=None, memory_in_gbs=None),
        e2e.run("new-shape-1", "new-shape"),
    )
    job = stalled(e2e, JOBS, "new-shape", "UnknownShape")
    message = condition_message(job)
    assert message.startswith(
        f'spec.infrastructure.shape: shape "{NEW_SHAPE}" is not offered in compartment {e2e.compartment_id}; '
        "closest: "
    ), message
    assert "jobId" not in job["status"], job["status"]
    assert e2e.wait_event("new-shape", "UnknownShape")["type"] == "Warning"
    e2e.kube.wait_phase(RUNS, "new-shape-1", e2e.namespace, "Pending")
    assert calls(e2e, "create_job") == 0 and calls(e2e, "create_job_run") == 0, e2e.admin.stats()
    # Cached: however often the stalled job is looked at again, the catalog is read a bounded number
    # of times (a first read and a fresh one per refusal, never one per step).
    assert calls(e2e, "list_job_shapes") >= 1

    # The tenancy gains the shape: the refusal is looked at again by itself (OCIDS_RETRY_MAX_SECONDS),
    # the cached catalog misses it and is read once more, and the job is created on it.
    e2e.admin.add_job_shape(NEW_SHAPE, core_count=4, memory_in_gbs=64)
    active = e2e.wait_job_active("new-shape", timeout=60)
    assert active["status"]["shape"] == NEW_SHAPE, active["status"]
    oci_job = e2e.oci.get_job(active["status"]["jobId"])
    assert oci_job.job_infrastructure_configuration_details.shape_name == NEW_SHAPE
    e2e.wait_run("new-shape-1", "Succeeded")
    assert calls(e2e, "create_job") == 1, e2e.admin.stats()


def test_a_run_override_with_a_shape_not_offered_creates_no_run(e2e: Scenario) -> None:
    e2e.apply(e2e.job("plain", scripts.TRAIN))
    e2e.wait_job_active("plain")
    e2e.admin.reset_stats()
    e2e.apply(
        e2e.run(
            "bigger", "plain", infrastructure={"shape": "VM.Standard.E4a.Flex", "ocpus": 2, "memoryInGBs": 32}
        )
    )
    run = stalled(e2e, RUNS, "bigger", "UnknownShape")
    message = condition_message(run)
    assert message.startswith('spec.infrastructure.shape: shape "VM.Standard.E4a.Flex" is not offered'), (
        message
    )
    assert "closest: VM.Standard.E4.Flex" in message, message
    assert run["status"]["phase"] == "Pending" and "jobRunId" not in run["status"], run["status"]
    assert calls(e2e, "create_job_run") == 0, e2e.admin.stats()


def test_a_fast_launch_job_runs_on_a_listed_config_and_says_which(e2e: Scenario) -> None:
    e2e.admin.set_tenancy_catalog(
        "fastLaunchJobConfigs",
        [
            {
                "name": "e4-warm-2",
                "shapeName": "VM.Standard.E4.Flex",
                "coreCount": 2,
                "memoryInGBs": 32,
                "shapeSeries": "AMD_ROME",
                "managedEgressSupport": "SUPPORTED",
            },
            {
                "name": "a10-warm",
                "shapeName": "VM.GPU.A10.1",
                "coreCount": 15,
                "memoryInGBs": 240,
                "shapeSeries": "NVIDIA_GPU",
                "managedEgressSupport": "UNSUPPORTED",
            },
        ],
    )
    manifest = e2e.job("fast", scripts.TRAIN)
    manifest["spec"]["infrastructure"] = {"fastLaunch": True}
    e2e.apply(manifest, e2e.run("fast-1", "fast"))
    active = e2e.wait_job_active("fast")
    status = active["status"]
    assert status["fastLaunchConfig"] == "e4-warm-2", status
    assert status["shape"] == "VM.Standard.E4.Flex (2 OCPU, 32 GB)", status
    assert status["infrastructureType"] == "ME_STANDALONE", status
    infra = e2e.oci.get_job(status["jobId"]).job_infrastructure_configuration_details
    assert infra.shape_name == "VM.Standard.E4.Flex"
    assert (infra.job_shape_config_details.ocpus, infra.job_shape_config_details.memory_in_gbs) == (2, 32)
    e2e.wait_run("fast-1", "Succeeded")

    # No config fits what is asked for (an A10 with managed egress): Stalled, naming it, nothing created.
    e2e.admin.reset_stats()
    asked = e2e.job("fast-gpu", scripts.TRAIN)
    asked["spec"]["infrastructure"] = {"fastLaunch": True, "shape": "VM.GPU.A10.1"}
    e2e.apply(asked)
    refused = stalled(e2e, JOBS, "fast-gpu", "NoFastLaunchConfig")
    assert 'fits shape "VM.GPU.A10.1" with managed egress' in condition_message(refused)
    assert calls(e2e, "create_job") == 0, e2e.admin.stats()


def groups_in_oci(e2e: Scenario, run_id: str) -> list[tuple[Any, ...]]:
    groups = e2e.oci.ds.get_job_run(run_id).data.node_group_details_list or []
    return [(g.name, g.lifecycle_state, g.lifecycle_details) for g in groups]


def groups_in_status(run: dict[str, Any] | None) -> list[tuple[Any, ...]]:
    groups = ((run or {}).get("status") or {}).get("nodeGroups") or []
    return [(g["name"], g.get("lifecycleState"), g.get("lifecycleDetails")) for g in groups]


def wait_groups(e2e: Scenario, name: str, expected: list[tuple[Any, ...]]) -> None:
    wait_for(
        lambda: groups_in_status(e2e.get_run(name)) == expected,
        timeout=15,
        message=lambda: f"{name} status.nodeGroups {groups_in_status(e2e.get_run(name))} == OCI's {expected}",
    )


def test_a_multi_node_run_shows_its_node_groups_as_oci_reports_them(e2e: Scenario) -> None:
    """ListJobRuns' summaries carry no node groups: the poller reads a multi-node run with a GET on
    each change its list shows. Three runs, so the poller follows them with lists, not a GET each;
    no logging, so no GET is made for log details either."""
    release = e2e.release_file("ranks")
    manifest = e2e.job("ranks", scripts.GATED, env={"RELEASE_FILE": str(release)}, logging={"enabled": False})
    manifest["spec"]["nodes"] = {"groups": [{"name": "workers", "replicas": 2}]}
    names = [f"ranks-{i}" for i in range(3)]
    e2e.apply(manifest, *(e2e.run(name, "ranks") for name in names))
    job = e2e.wait_job_active("ranks")["status"]
    assert (job["nodeCount"], job["infrastructureType"]) == (2, "MULTI_NODE"), job
    run_ids = {}
    for name in names:
        running = e2e.wait_run(name, "InProgress")["status"]
        assert (running["nodeCount"], running["infrastructureType"]) == (2, "MULTI_NODE"), running
        run_ids[name] = running["jobRunId"]
    # While they run (held by the gate), the status shows the groups as OCI does now, not as at creation.
    for name, run_id in run_ids.items():
        now = groups_in_oci(e2e, run_id)
        assert now and all(state == "ACTIVE" for _, state, _ in now), now
        wait_groups(e2e, name, now)
    assert calls(e2e, "list_job_runs") > 0, e2e.admin.stats()
    release.touch()
    for name, run_id in run_ids.items():
        run = e2e.wait_run(name, "Succeeded")
        assert groups_in_status(run) == groups_in_oci(e2e, run_id), run["status"]
