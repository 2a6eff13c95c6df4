"""Startup probes and storage mounts, driven through the real oci SDK against an emulator process."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from emulator_support import make_job, messages, run_details, wait_for, wait_run
from oci.data_science import models as M
from ocids_emulator.execution.mounts import mount_namespace_refusal
from ocids_emulator.testing import RunningEmulator, running_emulator

pytestmark = pytest.mark.integration

# A minute of 0.6 s makes a probe's 10 s period 0.1 s (probe seconds scale like minutes).
MINUTE_SECONDS = "0.6"
BUCKET = "ocids-artifacts"
READER = b"print(open('/mnt/input/greeting.txt').read().strip(), flush=True)\n"
needs_namespaces = pytest.mark.skipif(
    mount_namespace_refusal() is not None, reason=f"no mount namespaces here: {mount_namespace_refusal()}"
)


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[RunningEmulator]:
    with running_emulator(tmp_path / "emulator", extra_args=["--minute-seconds", MINUTE_SECONDS]) as running:
        yield running


@pytest.fixture
def ids(emu: RunningEmulator) -> dict[str, str]:
    return emu.ids


@pytest.fixture
def client(emu: RunningEmulator) -> Any:
    return emu.datascience_client(retries=False)


def put(emu: RunningEmulator, name: str, content: bytes) -> None:
    emu.object_storage_client().put_object(emu.ids["OBJECT_STORAGE_NAMESPACE"], BUCKET, name, content)


def bucket_mount(
    ids: dict[str, str], prefix: str, bucket: str = BUCKET
) -> M.ObjectStorageMountConfigurationDetails:
    return M.ObjectStorageMountConfigurationDetails(
        namespace=ids["OBJECT_STORAGE_NAMESPACE"],
        bucket=bucket,
        prefix=prefix,
        destination_directory_name="input",
    )


def probed_config(command: list[str], **probe: int) -> M.DefaultJobConfigurationDetails:
    return M.DefaultJobConfigurationDetails(
        startup_probe_details=M.JobExecProbeDetails(command=command, **probe)
    )


@needs_namespaces
def test_a_script_reads_a_file_through_an_object_storage_mount_and_a_run_overrides_it(emu, ids, client):
    put(emu, "v1/greeting.txt", b"hello from v1\n")
    put(emu, "v2/greeting.txt", b"hello from v2\n")
    job = make_job(
        client, ids, artifact=READER, job_storage_mount_configuration_details_list=[bucket_mount(ids, "v1")]
    )

    first = wait_run(client, client.create_job_run(run_details(ids, job.id)).data.id)
    assert first.lifecycle_state == "SUCCEEDED", first.lifecycle_details
    assert messages(emu, ids, first) == ["hello from v1"]

    override = run_details(
        ids, job.id, job_storage_mount_configuration_override_details_list=[bucket_mount(ids, "v2")]
    )
    second = wait_run(client, client.create_job_run(override).data.id)
    assert second.lifecycle_state == "SUCCEEDED", second.lifecycle_details
    assert messages(emu, ids, second) == ["hello from v2"]
    # The host's /mnt is untouched: the mount lived in the run's own namespace.
    assert not Path("/mnt/input").exists()


@needs_namespaces
def test_a_mount_of_a_missing_bucket_fails_the_run_at_bootstrap(emu, ids, client):
    job = make_job(client, ids, artifact=READER)
    run = client.create_job_run(
        run_details(
            ids,
            job.id,
            job_storage_mount_configuration_override_details_list=[bucket_mount(ids, "v1", "gone")],
        )
    ).data
    done = wait_run(client, run.id)
    assert done.lifecycle_state == "FAILED"
    assert done.lifecycle_details.startswith(
        "Job run bootstrap failed: storage mount 0 (OBJECT_STORAGE at /mnt/input):"
        " the bucket 'gone' does not exist"
    )


def test_a_failing_startup_probe_fails_the_run_with_its_text(emu, ids, client):
    job = make_job(
        client,
        ids,
        artifact=b"import time\ntime.sleep(300)\n",
        job_configuration_details=probed_config(["test", "-f", "ready"], failure_threshold=2),
    )
    done = wait_run(client, client.create_job_run(run_details(ids, job.id)).data.id)
    assert (done.lifecycle_state, done.lifecycle_details) == (
        "FAILED",
        "Job run startup probe failed 2 times: command exited with 1.",
    )


def test_a_passing_startup_probe_lets_the_artifact_finish(emu, ids, client):
    job = make_job(
        client,
        ids,
        artifact=b"import pathlib, time\ntime.sleep(0.3)\npathlib.Path('ready').touch()\ntime.sleep(1)\n",
        job_configuration_details=probed_config(["test", "-f", "ready"], failure_threshold=50),
    )
    done = wait_run(client, client.create_job_run(run_details(ids, job.id)).data.id)
    assert done.lifecycle_state == "SUCCEEDED", done.lifecycle_details


def test_an_artifact_that_exits_before_its_probe_passes_decides_the_run(emu, ids, client):
    job = make_job(
        client,
        ids,
        artifact=b"import sys\nsys.exit(4)\n",
        job_configuration_details=probed_config(
            ["false"], failure_threshold=100, initial_delay_in_seconds=50
        ),
    )
    done = wait_run(client, client.create_job_run(run_details(ids, job.id)).data.id)
    assert (done.lifecycle_state, done.lifecycle_details) == (
        "FAILED",
        "Job run artifact execution failed with exit code 4.",
    )


def test_needs_attention_holds_a_container_run_and_a_probing_run(emu, ids, client):
    # The fault applies to runs of any kind; an outcome reached meanwhile waits for the clear.
    attention = "Job run needs attention: the shape is out of capacity."
    container = make_job(
        client,
        ids,
        job_environment_configuration_details=M.OcirContainerJobEnvironmentConfigurationDetails(
            image="iad.ocir.io/ns/trainer:1"
        ),
        job_configuration_details=M.DefaultJobConfigurationDetails(
            environment_variables={"OCIDS_EMULATOR_SIMULATE": "0.2:0"}
        ),
    )
    probing = make_job(
        client,
        ids,
        artifact=b"import time\ntime.sleep(300)\n",
        job_configuration_details=probed_config(["false"], failure_threshold=3),
    )
    emu.admin.needs_attention(next_runs=2, lifecycle_details=attention)
    held = [client.create_job_run(run_details(ids, job.id)).data.id for job in (container, probing)]
    for run_id in held:
        assert wait_run(client, run_id, {"NEEDS_ATTENTION"}).lifecycle_details == attention
    # Both executions end meanwhile (0.2 s; three 0.1 s probe periods); the state does not move.
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        assert {client.get_job_run(r).data.lifecycle_state for r in held} == {"NEEDS_ATTENTION"}
        time.sleep(0.1)
    emu.admin.clear_needs_attention()
    assert wait_run(client, held[0]).lifecycle_state == "SUCCEEDED"
    probed = wait_run(client, held[1])
    assert (probed.lifecycle_state, probed.lifecycle_details) == (
        "FAILED",
        "Job run startup probe failed 3 times: command exited with 1.",
    )


def multi_node_job(client: Any, ids: dict[str, str], artifact: bytes, replicas: int, **job: Any) -> Any:
    """A multi-node job as ADS sends one (node configuration only), with one group of ``replicas``."""
    workers = M.JobNodeGroupConfigurationDetails(
        name="workers",
        replicas=replicas,
        job_infrastructure_configuration_details=M.MultiNodeJobInfrastructureConfigurationDetails(
            shape_name="VM.Standard.E4.Flex",
            block_storage_size_in_gbs=50,
            job_shape_config_details=M.JobShapeConfigDetails(ocpus=1.0, memory_in_gbs=16.0),
        ),
        job_configuration_details=M.DefaultJobConfigurationDetails(),
    )
    details = M.CreateJobDetails(
        project_id=ids["PROJECT_ID"],
        compartment_id=ids["COMPARTMENT_ID"],
        display_name="multi-node",
        job_node_configuration_details=M.MultiNodeJobNodeConfigurationDetails(
            startup_order="IN_PARALLEL",
            job_network_configuration=M.JobDefaultNetworkConfiguration(),
            job_node_group_configuration_details_list=[workers],
        ),
        job_log_configuration_details=M.JobLogConfigurationDetails(
            enable_logging=True, enable_auto_log_creation=True, log_group_id=ids["LOG_GROUP_ID"]
        ),
        **job,
    )
    created = client.create_job(details).data
    client.create_job_artifact(created.id, artifact, content_disposition="attachment; filename=main.py")
    return client.get_job(created.id).data


@needs_namespaces
def test_every_node_of_a_multi_node_run_reads_through_the_mount(emu, ids, client):
    put(emu, "v1/greeting.txt", b"hello from v1\n")
    reader = b"import os\n" + READER.replace(b".strip()", b".strip(), os.environ['NODE_RANK']")
    job = multi_node_job(
        client, ids, reader, 2, job_storage_mount_configuration_details_list=[bucket_mount(ids, "v1")]
    )
    done = wait_run(client, client.create_job_run(run_details(ids, job.id)).data.id)
    assert done.lifecycle_state == "SUCCEEDED", done.lifecycle_details
    assert sorted(messages(emu, ids, done)) == ["hello from v1 0", "hello from v1 1"]


def test_needs_attention_holds_a_multi_node_run(emu, ids, client):
    job = multi_node_job(client, ids, b"import time\ntime.sleep(0.2)\n", 2)
    emu.admin.needs_attention(next_runs=1)
    run_id = client.create_job_run(run_details(ids, job.id)).data.id
    held = wait_run(client, run_id, {"NEEDS_ATTENTION"})
    assert held.lifecycle_details == emu.admin.get_faults()["needsAttention"]["lifecycleDetails"]
    # The nodes finish meanwhile (their groups say so), but the run's outcome waits for the clear.
    wait_for(
        lambda: (
            {g.lifecycle_state for g in client.get_job_run(run_id).data.node_group_details_list}
            == {"DELETED"}
        )
    )
    assert client.get_job_run(run_id).data.lifecycle_state == "NEEDS_ATTENTION"
    emu.admin.clear_needs_attention()
    assert wait_run(client, run_id).lifecycle_state == "SUCCEEDED"
