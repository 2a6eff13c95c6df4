"""Shared helpers for the emulator benchmark."""

from __future__ import annotations

import os
from typing import Any

from oci.data_science import models as M
from ocids_emulator.testing import RunningEmulator


def process_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime + stime
    return ticks / os.sysconf("SC_CLK_TCK")


def make_active_job(emu: RunningEmulator) -> dict[str, str]:
    ids = emu.ids
    client = emu.datascience_client(retries=False)
    job = client.create_job(
        M.CreateJobDetails(
            project_id=ids["PROJECT_ID"],
            compartment_id=ids["COMPARTMENT_ID"],
            display_name="bench",
            job_configuration_details=M.DefaultJobConfigurationDetails(environment_variables={"A": "1"}),
            job_infrastructure_configuration_details=M.StandaloneJobInfrastructureConfigurationDetails(
                shape_name="VM.Standard.E4.Flex",
                subnet_id=ids["SUBNET_ID"],
                block_storage_size_in_gbs=50,
                job_shape_config_details=M.JobShapeConfigDetails(ocpus=1.0, memory_in_gbs=16.0),
            ),
        )
    ).data
    client.create_job_artifact(job.id, b"print(1)\n", content_disposition="attachment; filename=a.py")
    target = {"job": job.id, "project": ids["PROJECT_ID"], "compartment": ids["COMPARTMENT_ID"]}
    target["run"] = client.create_job_run(create_payload(target)).data.id
    return target


def create_payload(target: dict[str, str]) -> Any:
    return M.CreateJobRunDetails(
        project_id=target["project"], compartment_id=target["compartment"], job_id=target["job"]
    )
