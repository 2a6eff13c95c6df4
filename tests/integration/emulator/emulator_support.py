"""Helpers for the emulator contract tests: build jobs and runs through the real oci SDK."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import oci
from oci.data_science import models as M
from ocids_controlplane.waiting import wait_until
from ocids_emulator.testing import RunningEmulator

TERMINAL = {"SUCCEEDED", "FAILED", "CANCELED", "DELETED"}


def wait_for(condition: Callable[[], Any], timeout: float = 30.0, message: str = "condition") -> Any:
    """The project's `wait_until`, polling faster: emulator state changes in milliseconds."""
    return wait_until(condition, timeout=timeout, interval=0.05, message=message)


def infrastructure(
    ids: dict[str, str], **overrides: Any
) -> M.StandaloneJobInfrastructureConfigurationDetails:
    values: dict[str, Any] = {
        "shape_name": "VM.Standard.E4.Flex",
        "subnet_id": ids["SUBNET_ID"],
        "block_storage_size_in_gbs": 50,
        "job_shape_config_details": M.JobShapeConfigDetails(ocpus=1.0, memory_in_gbs=16.0),
    }
    values.update(overrides)
    return M.StandaloneJobInfrastructureConfigurationDetails(**values)


def job_details(ids: dict[str, str], *, logging: bool = True, **overrides: Any) -> M.CreateJobDetails:
    values: dict[str, Any] = {
        "project_id": ids["PROJECT_ID"],
        "compartment_id": ids["COMPARTMENT_ID"],
        "display_name": "contract-job",
        "job_configuration_details": M.DefaultJobConfigurationDetails(
            environment_variables={"FROM_JOB": "job"}
        ),
        "job_infrastructure_configuration_details": infrastructure(ids),
    }
    if logging:
        values["job_log_configuration_details"] = M.JobLogConfigurationDetails(
            enable_logging=True, enable_auto_log_creation=True, log_group_id=ids["LOG_GROUP_ID"]
        )
    values.update(overrides)
    return M.CreateJobDetails(**values)


def make_job(
    client: Any,
    ids: dict[str, str],
    artifact: bytes | None = None,
    filename: str = "main.py",
    **overrides: Any,
) -> Any:
    job = client.create_job(job_details(ids, **overrides)).data
    if artifact is not None:
        client.create_job_artifact(job.id, artifact, content_disposition=f"attachment; filename={filename}")
    return client.get_job(job.id).data


def run_details(ids: dict[str, str], job_id: str, **overrides: Any) -> M.CreateJobRunDetails:
    values: dict[str, Any] = {
        "project_id": ids["PROJECT_ID"],
        "compartment_id": ids["COMPARTMENT_ID"],
        "job_id": job_id,
    }
    values.update(overrides)
    return M.CreateJobRunDetails(**values)


def wait_run(client: Any, run_id: str, states: set[str] = TERMINAL, timeout: float = 30.0) -> Any:
    def reached() -> Any:
        run = client.get_job_run(run_id).data
        return run if run.lifecycle_state in states else None

    return wait_for(reached, timeout, f"job run {run_id} to reach {sorted(states)}")


def run_query(ids: dict[str, str], run: Any, order: str = "asc") -> str:
    log = run.log_details
    return (
        f'search "{ids["COMPARTMENT_ID"]}/{log.log_group_id}/{log.log_id}" '
        f"| where source = '*{run.id}' | sort by datetime {order}"
    )


def search(emu: RunningEmulator, query: str, limit: int | None = None) -> list[dict[str, Any]]:
    """All pages of a log search, via the SDK's paginator."""
    client = emu.log_search_client()
    now = dt.datetime.now(dt.UTC)
    details = oci.loggingsearch.models.SearchLogsDetails(
        time_start=now - dt.timedelta(hours=1), time_end=now + dt.timedelta(minutes=1), search_query=query
    )
    kwargs = {"limit": limit} if limit else {}
    # The generic paginator follows opc-next-page; SearchResponse keeps its rows in .results.
    pages = oci.pagination.list_call_get_all_results_generator(
        client.search_logs, "response", details, **kwargs
    )
    return [r.data for page in pages for r in page.data.results]


def messages(emu: RunningEmulator, ids: dict[str, str], run: Any, limit: int | None = None) -> list[str]:
    return [r["logContent"]["data"]["message"] for r in search(emu, run_query(ids, run), limit)]
