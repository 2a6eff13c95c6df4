"""Shared by the restart cases: simulated runs, waiting for a set of them, and one-OCI-run-each."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from ocids_operator.core.model import TAG_UID
from operator_harness import JOBS, RUNS, Scenario, wait_for


def simulated_job(world: Scenario, name: str, ocpus: int = 1) -> dict[str, Any]:
    return world.job(name, "print('simulated')\n", ocpus=ocpus, memory_in_gbs=16, logging={"enabled": False})


def simulated_run(world: Scenario, name: str, job: str, seconds: float, exit_code: int = 0) -> dict[str, Any]:
    # The emulator runs no process for it: it ends after `seconds` with `exit_code`.
    return world.run(name, job, env={"OCIDS_EMULATOR_SIMULATE": f"{seconds:g}:{exit_code}"})


def wait_phases(world: Scenario, wanted: dict[str, str], timeout: float) -> float:
    """Wait until every named TrainingJobRun has its phase; returns the seconds it took."""
    began = time.monotonic()
    seen: dict[str, Any] = {}

    def done() -> bool:
        runs = {o["metadata"]["name"]: o for o in world.kube.list_objects(RUNS, world.namespace)}
        seen["off"] = {
            name: (runs.get(name) or {}).get("status", {}).get("phase")
            for name, phase in wanted.items()
            if (runs.get(name) or {}).get("status", {}).get("phase") != phase
        }
        return not seen["off"]

    wait_for(done, timeout=timeout, interval=0.5, message=lambda: f"runs not in their phase: {seen['off']}")
    return time.monotonic() - began


def wait_job_shape(world: Scenario, name: str, ocpus: int, timeout: float) -> None:
    """The TrainingJob is Ready for its latest generation and its OCI job has `ocpus`."""

    def done() -> bool:
        obj = world.kube.get(JOBS, name, world.namespace) or {}
        status = obj.get("status") or {}
        ready = any(
            c.get("type") == "Ready"
            and c.get("status") == "True"
            and c.get("observedGeneration") == obj["metadata"].get("generation")
            for c in status.get("conditions") or []
        )
        job = world.oci.get_job(status["jobId"]) if ready and status.get("jobId") else None
        infra = job and job.job_infrastructure_configuration_details
        return bool(infra and infra.job_shape_config_details.ocpus == ocpus)

    wait_for(done, timeout=timeout, interval=0.5, message=f"{name} Ready with {ocpus} OCPUs in OCI")


def one_oci_run_each(world: Scenario, names: Iterable[str]) -> list[str]:
    """Problems: a TrainingJobRun without exactly one OCI run (its status's), counting DELETED ones."""
    runs = world.oci.job_runs(world.compartment_id, include_deleted=True)
    problems = []
    for name in names:
        obj = world.get_run(name) or {}
        uid, run_id = obj["metadata"]["uid"], (obj.get("status") or {}).get("jobRunId")
        mine = [r.id for r in runs if (r.freeform_tags or {}).get(TAG_UID) == uid]
        if mine != [run_id]:
            problems.append(f"{name}: status.jobRunId {run_id}, OCI runs {mine}")
    return problems
