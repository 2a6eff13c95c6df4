"""What the tenancy offers, through the real SDK: job shapes and fast-launch configs from
tenancy.json (or changed live), compute targets, and IAM on them."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
from pathlib import Path

import oci
import pytest
from emulator_support import job_details, make_job, run_details, wait_for, wait_run
from oci.data_science import models as M
from ocids_emulator.config import TENANCY_FILE, init_data_dir
from ocids_emulator.testing import RunningEmulator, running_emulator

EMU_ONLY = {"name": "VM.Emu.Only.1", "coreCount": 4, "memoryInGBs": 64, "shapeSeries": "INTEL_SKYLAKE"}
ADMIN = "Allow group Administrators to manage all-resources in tenancy"


def _fixed_shape_job(ids: dict[str, str], shape: str) -> M.CreateJobDetails:
    return job_details(
        ids,
        logging=False,
        job_infrastructure_configuration_details=M.ManagedEgressStandaloneJobInfrastructureConfigurationDetails(
            shape_name=shape, block_storage_size_in_gbs=50
        ),
    )


def test_shapes_and_fast_launch_configs_come_from_tenancy_json(tmp_path: Path) -> None:
    data_dir = tmp_path / "emu"
    init_data_dir(data_dir)
    tenancy = json.loads((data_dir / TENANCY_FILE).read_text())
    tenancy["jobShapes"] = [*tenancy["jobShapes"][:2], EMU_ONLY]
    tenancy["fastLaunchJobConfigs"] = [
        {"name": "emu-fast", "shapeName": "VM.Emu.Only.1", "managedEgressSupport": "REQUIRED"}
    ]
    (data_dir / TENANCY_FILE).write_text(json.dumps(tenancy))
    with running_emulator(data_dir) as emu:
        client = emu.datascience_client(retries=False)
        compartment = emu.ids["COMPARTMENT_ID"]
        shapes = oci.pagination.list_call_get_all_results(client.list_job_shapes, compartment, limit=2).data
        assert [s.name for s in shapes] == ["VM.Standard.E3.Flex", "VM.Standard.E4.Flex", "VM.Emu.Only.1"]
        assert (shapes[2].core_count, shapes[2].memory_in_gbs, shapes[2].shape_series) == (
            4,
            64,
            "INTEL_SKYLAKE",
        )
        [config] = client.list_fast_launch_job_configs(compartment).data
        assert (config.name, config.shape_name, config.core_count, config.managed_egress_support) == (
            "emu-fast",
            "VM.Emu.Only.1",
            4,
            "REQUIRED",
        )
        # Validation reads the same catalog: the tenancy's own shape is accepted, a built-in one
        # this tenancy does not offer is refused naming it.
        assert client.create_job(_fixed_shape_job(emu.ids, "VM.Emu.Only.1")).data.id
        with pytest.raises(oci.exceptions.ServiceError) as refused:
            client.create_job(_fixed_shape_job(emu.ids, "VM.Standard2.1"))
        assert refused.value.status == 400 and "VM.Standard2.1" in refused.value.message
        assert "shapeName" in refused.value.message


def test_a_shape_can_be_offered_while_the_emulator_runs(emu: RunningEmulator) -> None:
    client = emu.datascience_client(retries=False)
    with pytest.raises(oci.exceptions.ServiceError) as before:
        client.create_job(_fixed_shape_job(emu.ids, "VM.Emu.Only.1"))
    assert before.value.status == 400

    emu.admin.add_job_shape("VM.Emu.Only.1", core_count=4, memory_in_gbs=64)

    names = [s.name for s in client.list_job_shapes(emu.ids["COMPARTMENT_ID"]).data]
    assert len(names) == 26 and names[-1] == "VM.Emu.Only.1"
    assert client.create_job(_fixed_shape_job(emu.ids, "VM.Emu.Only.1")).data.id
    # A malformed entry is refused naming it and changes nothing.
    with pytest.raises(urllib.error.HTTPError) as bad:
        emu.admin.set_tenancy_catalog("jobShapes", [{"name": "VM.Bad.1", "shapeSeries": "QUANTUM"}])
    assert bad.value.code == 400 and "jobShapes[0].shapeSeries" in json.loads(bad.value.read())["message"]
    assert len(emu.admin.tenancy_catalog("jobShapes")) == 26
    # Dropping a shape drops the fast-launch configs on it.
    emu.admin.set_tenancy_catalog(
        "jobShapes", [s for s in emu.admin.tenancy_catalog("jobShapes") if s["name"] != "VM.GPU.A10.1"]
    )
    assert {c["shapeName"] for c in emu.admin.tenancy_catalog("fastLaunchJobConfigs")} == {
        "VM.Standard.E4.Flex"
    }
    emu.admin.set_tenancy_catalog("jobShapes", None)
    assert len(client.list_job_shapes(emu.ids["COMPARTMENT_ID"]).data) == 25


def test_serve_refuses_a_malformed_catalog_naming_the_entry(tmp_path: Path) -> None:
    data_dir = tmp_path / "emu"
    init_data_dir(data_dir)
    tenancy = json.loads((data_dir / TENANCY_FILE).read_text())
    tenancy["fastLaunchJobConfigs"] = [{"name": "x", "shapeName": "VM.Not.A.Shape"}]
    (data_dir / TENANCY_FILE).write_text(json.dumps(tenancy))
    result = subprocess.run(
        [sys.executable, "-m", "ocids_emulator.cli", "serve", "--data-dir", str(data_dir), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert (
        "tenancy.json: fastLaunchJobConfigs[0].shapeName 'VM.Not.A.Shape' is not in jobShapes"
        in result.stderr
    )


def test_compute_targets_get_list_and_filters(emu: RunningEmulator) -> None:
    client = emu.datascience_client(retries=False)
    ids = emu.ids
    target = client.get_compute_target(ids["COMPUTE_TARGET_ID"]).data
    assert (target.compartment_id, target.lifecycle_state, target.display_name) == (
        ids["COMPARTMENT_ID"],
        "ACTIVE",
        "emulator-compute-target",
    )
    config = target.compute_configuration_details
    assert (config.compute_type, config.instance_configuration.instance_shape) == (
        "MANAGED_COMPUTE_CLUSTER",
        "VM.Standard.E4.Flex",
    )
    assert [t.id for t in client.list_compute_targets(ids["COMPARTMENT_ID"]).data] == [target.id]
    assert client.list_compute_targets(ids["COMPARTMENT_ID"], lifecycle_state="FAILED").data == []
    assert client.list_compute_targets(ids["COMPARTMENT_ID"], display_name="other").data == []
    assert client.list_compute_targets(ids["COMPARTMENT_ID"], id=target.id).data[0].id == target.id
    with pytest.raises(oci.exceptions.ServiceError) as missing:
        client.get_compute_target("ocid1.datasciencecomputetarget.oc1.iad.nope")
    assert (missing.value.status, missing.value.code) == (404, "NotAuthorizedOrNotFound")


def test_compute_targets_need_their_own_policy(emu: RunningEmulator) -> None:
    client = emu.datascience_client(retries=False)
    ids = emu.ids
    emu.admin.set_policies(["Allow group Administrators to manage data-science-jobs in tenancy"])
    with pytest.raises(oci.exceptions.ServiceError) as denied:
        client.get_compute_target(ids["COMPUTE_TARGET_ID"])
    assert (denied.value.status, denied.value.code) == (404, "NotAuthorizedOrNotFound")
    assert emu.admin.denials()[-1]["needs"] == (
        f"read data-science-compute-targets in compartment id {ids['COMPARTMENT_ID']}"
    )
    # list_fast_launch_job_configs needs what list_job_shapes needs (inspect data-science-jobs).
    assert client.list_fast_launch_job_configs(ids["COMPARTMENT_ID"]).status == 200
    where = f"compartment id {ids['COMPARTMENT_ID']}"
    emu.admin.set_policies([f"Allow group Administrators to read data-science-compute-targets in {where}"])
    assert client.get_compute_target(ids["COMPUTE_TARGET_ID"]).status == 200
    emu.admin.set_policies(["Allow group Administrators to inspect data-science-family in tenancy"])
    assert len(client.list_compute_targets(ids["COMPARTMENT_ID"]).data) == 1


def test_a_run_on_a_fast_launch_config_provisions_faster(tmp_path: Path) -> None:
    """Fast launch is a warm pool: its runs leave ACCEPTED in a tenth of --provisioning-seconds."""
    with running_emulator(
        tmp_path / "emu", simulated="0.1:0", extra_args=("--provisioning-seconds", "8")
    ) as emu:
        client = emu.datascience_client(retries=False)
        ids = emu.ids

        def flex_job(ocpus: float, memory: float) -> str:
            infra = M.ManagedEgressStandaloneJobInfrastructureConfigurationDetails(
                shape_name="VM.Standard.E4.Flex",
                block_storage_size_in_gbs=50,
                job_shape_config_details=M.JobShapeConfigDetails(ocpus=ocpus, memory_in_gbs=memory),
            )
            return str(
                make_job(
                    client, ids, b"print(1)\n", logging=False, job_infrastructure_configuration_details=infra
                ).id
            )

        slow_job, fast_job = flex_job(3, 48), flex_job(2, 32)  # only 2/32 is a fast-launch config
        slow = client.create_job_run(run_details(ids, slow_job)).data
        fast = client.create_job_run(run_details(ids, fast_job)).data
        assert wait_run(client, fast.id, timeout=6).lifecycle_state == "SUCCEEDED"
        still = client.get_job_run(slow.id).data
        assert (still.lifecycle_state, still.lifecycle_details) == (
            "ACCEPTED",
            "Infrastructure provisioning.",
        )
        client.cancel_job_run(slow.id)
        wait_for(lambda: client.get_job_run(slow.id).data.lifecycle_state == "CANCELED", message="cancel")
