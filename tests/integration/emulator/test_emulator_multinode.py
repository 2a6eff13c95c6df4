"""Multi-node job runs execute one process per replica, through the real oci SDK."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from emulator_support import messages, run_details, search, wait_for, wait_run
from oci.data_science import models as M

RANKS = b"""\
import os
print(f"rank={os.environ['NODE_RANK']} of {os.environ['NODE_COUNT']}", flush=True)
print("group", os.environ["NODE_GROUP_NAME"], os.environ["NODE_GROUP_RANK"], os.environ["MAIN_NODE_FQDN"])
"""


def group(
    name: str,
    replicas: int,
    *,
    env: dict[str, str] | None = None,
    minimum: int | None = None,
    probe: M.JobExecProbeDetails | None = None,
) -> M.JobNodeGroupConfigurationDetails:
    return M.JobNodeGroupConfigurationDetails(
        name=name,
        replicas=replicas,
        minimum_success_replicas=minimum,
        job_infrastructure_configuration_details=M.MultiNodeJobInfrastructureConfigurationDetails(
            shape_name="VM.Standard.E4.Flex",
            block_storage_size_in_gbs=50,
            job_shape_config_details=M.JobShapeConfigDetails(ocpus=1.0, memory_in_gbs=16.0),
        ),
        job_configuration_details=M.DefaultJobConfigurationDetails(
            environment_variables=env or {}, startup_probe_details=probe
        ),
    )


def node_configuration(
    *groups: M.JobNodeGroupConfigurationDetails, order: str = "IN_PARALLEL", minutes: int | None = None
) -> M.MultiNodeJobNodeConfigurationDetails:
    return M.MultiNodeJobNodeConfigurationDetails(
        startup_order=order,
        maximum_runtime_in_minutes=minutes,
        job_network_configuration=M.JobDefaultNetworkConfiguration(),
        job_node_group_configuration_details_list=list(groups),
    )


def make_multi_node_job(
    client: Any, ids: dict[str, str], artifact: bytes | None, *groups: Any, **kw: Any
) -> Any:
    """A job as ADS creates one: node configuration only, no top-level configuration or infrastructure."""
    details = M.CreateJobDetails(
        project_id=ids["PROJECT_ID"],
        compartment_id=ids["COMPARTMENT_ID"],
        display_name="multi-node",
        job_node_configuration_details=node_configuration(*groups, **kw),
        job_log_configuration_details=M.JobLogConfigurationDetails(
            enable_logging=True, enable_auto_log_creation=True, log_group_id=ids["LOG_GROUP_ID"]
        ),
    )
    job = client.create_job(details).data
    if artifact is not None:
        client.create_job_artifact(job.id, artifact, content_disposition="attachment; filename=main.py")
    return client.get_job(job.id).data


def node_groups(run: Any) -> dict[str, str]:
    return {g.name: g.lifecycle_state for g in run.node_group_details_list or []}


def test_three_replicas_run_as_three_ranks_with_their_own_logs(emu, ids, client):
    job = make_multi_node_job(client, ids, RANKS, group("workers", 3))
    assert job.lifecycle_state == "ACTIVE"
    # ADS sends no top-level blocks; the job reads them back EMPTY.
    assert job.job_configuration_details.job_type == "EMPTY"
    assert job.job_infrastructure_configuration_details.job_infrastructure_type == "EMPTY"
    assert job.job_node_configuration_details.job_node_group_configuration_details_list[0].replicas == 3

    run = client.create_job_run(run_details(ids, job.id)).data
    assert node_groups(run) == {"workers": "CREATING"}
    done = wait_run(client, run.id)
    assert done.lifecycle_state == "SUCCEEDED", done.lifecycle_details
    assert node_groups(done) == {"workers": "DELETED"}

    lines = messages(emu, ids, done)
    assert sorted(line for line in lines if line.startswith("rank=")) == [
        "rank=0 of 3",
        "rank=1 of 3",
        "rank=2 of 3",
    ]
    assert sorted(line for line in lines if line.startswith("group")) == [
        f"group workers {i} localhost" for i in range(3)
    ]
    # One log source per node, each ending with the run's OCID (the operator's query matches all).
    log = done.log_details
    rows = search(emu, f'search "{ids["COMPARTMENT_ID"]}/{log.log_group_id}/{log.log_id}"')
    assert {r["logContent"]["source"] for r in rows} == {f"workers-{i}/{run.id}" for i in range(3)}
    folder = emu.data_dir / "runs" / run.id
    assert (folder / "workers-2" / "output.log").read_text().startswith("rank=2 of 3")


def test_ranks_count_across_groups_and_in_order_waits_for_the_probe(emu, ids, client, tmp_path: Path):
    ready = tmp_path / "ready"
    script = f"""\
import os, pathlib, time
ready = pathlib.Path({str(ready)!r})
if os.environ["NODE_GROUP_NAME"] == "main":
    time.sleep(1.0)
    ready.write_text("up")
    time.sleep(0.5)
name, rank = os.environ["NODE_GROUP_NAME"], os.environ["NODE_RANK"]
print(f"{{name}} rank={{rank}} saw-ready={{ready.exists()}}", flush=True)
""".encode()
    probe = M.JobExecProbeDetails(
        command=["test", "-f", str(ready)], period_in_seconds=1, failure_threshold=20
    )
    job = make_multi_node_job(
        client, ids, script, group("main", 1, probe=probe), group("workers", 2), order="IN_ORDER"
    )
    run = client.create_job_run(run_details(ids, job.id)).data
    done = wait_run(client, run.id)
    assert done.lifecycle_state == "SUCCEEDED", done.lifecycle_details
    assert sorted(messages(emu, ids, done)) == [
        "main rank=0 saw-ready=True",
        "workers rank=1 saw-ready=True",
        "workers rank=2 saw-ready=True",
    ]


FLAKY = b"""\
import os, sys, time
if os.environ["NODE_GROUP_RANK"] == os.environ.get("FAILING_RANK"):
    print("failing", flush=True)
    sys.exit(4)
time.sleep(float(os.environ.get("WORK_SECONDS", "0")))
print("done", os.environ["NODE_RANK"], flush=True)
"""


def test_minimum_success_replicas_tolerates_a_failed_node(emu, ids, client):
    job = make_multi_node_job(client, ids, FLAKY, group("workers", 3, env={"FAILING_RANK": "1"}, minimum=2))
    done = wait_run(client, client.create_job_run(run_details(ids, job.id)).data.id)
    assert done.lifecycle_state == "SUCCEEDED", done.lifecycle_details
    assert sorted(messages(emu, ids, done)) == ["done 0", "done 2", "failing"]


def test_a_failed_node_sinks_the_run_and_stops_the_others(emu, ids, client):
    job = make_multi_node_job(
        client,
        ids,
        FLAKY,
        group("main", 1, env={"WORK_SECONDS": "300"}),
        group("workers", 2, env={"FAILING_RANK": "0", "WORK_SECONDS": "300"}),
    )
    done = wait_run(client, client.create_job_run(run_details(ids, job.id)).data.id)
    assert done.lifecycle_state == "FAILED"
    assert done.lifecycle_details == "Job run artifact execution failed with exit code 4."
    assert node_groups(done) == {"main": "DELETED", "workers": "FAILED"}
    details = {g.name: g.lifecycle_details for g in done.node_group_details_list}
    assert "workers-0 exited with 4" in details["workers"]
    # The nodes that were still working were stopped, not left to finish their 300 s.
    assert "done" not in " ".join(messages(emu, ids, done))


def test_cancel_stops_every_node(emu, ids, client):
    script = b"import os, time\nprint('up', os.getpid(), flush=True)\ntime.sleep(300)\n"
    job = make_multi_node_job(client, ids, script, group("workers", 2))
    run = client.create_job_run(run_details(ids, job.id)).data

    def running() -> Any:
        current = client.get_job_run(run.id).data
        return current if node_groups(current) == {"workers": "ACTIVE"} else None

    active = wait_for(running, message="the node group to be ACTIVE")
    assert active.lifecycle_state == "IN_PROGRESS"
    assert active.lifecycle_details == "Job run artifact execution in progress."

    def both_nodes_up() -> list[str] | None:
        lines = messages(emu, ids, active)
        return lines if len(lines) == 2 else None

    lines = wait_for(both_nodes_up, message="both nodes")
    pids = [int(re.sub(r"\D", "", line)) for line in lines]

    client.cancel_job_run(run.id)
    done = wait_run(client, run.id)
    assert done.lifecycle_state == "CANCELED"
    assert node_groups(done) == {"workers": "DELETED"}
    wait_for(lambda: not any(Path(f"/proc/{pid}").exists() for pid in pids), message="nodes to exit")


def test_maximum_runtime_of_the_node_configuration_stops_all_nodes(tmp_path):
    from ocids_emulator.testing import running_emulator

    with running_emulator(tmp_path / "emu", extra_args=["--minute-seconds", "0.5"]) as emu:
        client, ids = emu.datascience_client(retries=False), emu.ids
        script = b"import time\ntime.sleep(120)\n"
        job = make_multi_node_job(client, ids, script, group("workers", 2), minutes=1)
        done = wait_run(client, client.create_job_run(run_details(ids, job.id)).data.id)
        assert done.lifecycle_state == "FAILED"
        assert "maximumRuntimeInMinutes (1 minutes)" in done.lifecycle_details


def test_simulated_nodes_and_a_run_override_of_the_node_configuration(emu, ids, client):
    job = make_multi_node_job(client, ids, RANKS, group("workers", 3))
    override = node_configuration(group("workers", 2, env={"OCIDS_EMULATOR_SIMULATE": "0.2:0"}))
    run = client.create_job_run(
        run_details(ids, job.id, job_node_configuration_override_details=override)
    ).data
    done = wait_run(client, run.id)
    assert done.lifecycle_state == "SUCCEEDED"
    assert (
        done.job_node_configuration_override_details.job_node_group_configuration_details_list[0].replicas
        == 2
    )
    assert messages(emu, ids, done) == []  # simulated nodes start no process
    effective = emu.admin.effective_configuration(run.id)
    groups = effective["effective"]["jobNodeConfigurationDetails"]["jobNodeGroupConfigurationDetailsList"]
    assert [g["replicas"] for g in groups] == [2]

    failing = node_configuration(group("workers", 2, env={"OCIDS_EMULATOR_SIMULATE": "0.1:3"}))
    run = client.create_job_run(
        run_details(ids, job.id, job_node_configuration_override_details=failing)
    ).data
    done = wait_run(client, run.id)
    assert (done.lifecycle_state, done.lifecycle_details) == (
        "FAILED",
        "Job run artifact execution failed with exit code 3.",
    )


def test_a_multi_node_run_needs_its_subnet_and_each_groups_image_allowed(tmp_path):
    from ocids_emulator.config import DEFAULT_POLICIES
    from ocids_emulator.testing import running_emulator

    admin, _keyless, service = DEFAULT_POLICIES[:3]
    with running_emulator(tmp_path / "emu", policies=[admin]) as emu:
        client, ids = emu.datascience_client(retries=False), emu.ids
        network = M.JobCustomNetworkConfiguration(subnet_id=ids["SUBNET_ID"])
        job = make_multi_node_job(client, ids, RANKS, group("workers", 2))
        custom = node_configuration(group("workers", 2))
        custom.job_network_configuration = network
        run = client.create_job_run(
            run_details(ids, job.id, job_node_configuration_override_details=custom)
        ).data
        done = wait_run(client, run.id)
        assert done.lifecycle_state == "FAILED"
        assert done.lifecycle_details.startswith(
            "Infrastructure provisioning failed: the Data Science service"
        )

        emu.admin.set_policies([admin, service])
        trainer = group("trainer", 1)
        trainer.job_environment_configuration_details = M.OcirContainerJobEnvironmentConfigurationDetails(
            image="iad.ocir.io/ns/trainer:1"
        )
        containers = make_multi_node_job(client, ids, RANKS, group("main", 1), trainer)
        done = wait_run(client, client.create_job_run(run_details(ids, containers.id)).data.id)
        assert done.lifecycle_state == "FAILED"
        assert "could not pull the container image iad.ocir.io/ns/trainer:1" in done.lifecycle_details

        # Allowed, the container group is simulated and the artifact group really runs.
        emu.admin.set_policies(list(DEFAULT_POLICIES))
        run = client.create_job_run(run_details(ids, containers.id)).data
        done = wait_run(client, run.id)
        assert done.lifecycle_state == "SUCCEEDED", done.lifecycle_details
        assert node_groups(done) == {"main": "DELETED", "trainer": "DELETED"}
        assert [m for m in messages(emu, ids, done) if m.startswith("rank=")] == ["rank=0 of 2"]
