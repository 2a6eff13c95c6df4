"""Restarts under the operator: the emulator (OCI) and the API server go away mid-run and come back.

Users keep acting meanwhile (new runs, an in-place edit). Afterwards everything converges: finished
runs stay finished, runs OCI lost with the restart show it as Failed (never silently re-run), the
rest succeed, each TrainingJobRun has exactly one OCI run, and the same operator process carries on.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from chaos_figures import report, scale
from ocids_controlplane import ControlPlane
from operator_harness import JOBS, Scenario
from restart_helpers import one_oci_run_each, simulated_job, simulated_run, wait_job_shape, wait_phases

pytestmark = [pytest.mark.integration, pytest.mark.timeout(scale(300, 900))]
# What the emulator tells of a run it was executing when it stopped (OCI would not re-run it either).
LOST_WITH_RESTART = "stopped while the run was executing"


def _names(prefix: str, count: int) -> list[str]:
    return [f"{prefix}-{i}" for i in range(count)]


def test_emulator_restart_mid_run_converges(e2e: Scenario, emulator: Any) -> None:
    count = scale(3, 10)
    e2e.apply(simulated_job(e2e, "steady"))
    e2e.wait_job_active("steady")
    done, long, during = _names("done", count), _names("long", count), _names("during", count)
    e2e.apply(*(simulated_run(e2e, name, "steady", 0.5) for name in done))
    wait_phases(e2e, dict.fromkeys(done, "Succeeded"), timeout=60)
    e2e.apply(*(simulated_run(e2e, name, "steady", 600) for name in long))
    wait_phases(e2e, dict.fromkeys(long, "InProgress"), timeout=60)
    e2e.admin.reset_stats()

    down = time.monotonic()
    emulator.kill()  # SIGKILL: no chance to settle anything
    # Users go on while OCI is unreachable: new runs, and an in-place edit of the job.
    e2e.apply(*(simulated_run(e2e, name, "steady", 0.5) for name in during))
    e2e.kube.patch(JOBS, "steady", e2e.namespace, {"spec": {"infrastructure": {"ocpus": 2}}})
    # Down until the operator has met the outage (and said so), not merely for a blink.
    e2e.wait_event(during[0], "OCIUnreachable", timeout=60)
    emulator.start()
    downtime = time.monotonic() - down
    back = time.monotonic()

    wanted = {**dict.fromkeys(done + during, "Succeeded"), **dict.fromkeys(long, "Failed")}
    wait_phases(e2e, wanted, timeout=scale(90, 180))
    wait_job_shape(e2e, "steady", 2, timeout=60)
    convergence = time.monotonic() - back

    for name in long:
        status = (e2e.get_run(name) or {})["status"]
        assert LOST_WITH_RESTART in (status.get("lifecycleDetails") or ""), status
    assert one_oci_run_each(e2e, done + long + during) == []
    assert len(e2e.oci_jobs()) == 1, "an in-place edit keeps the OCI job"
    assert e2e.operator is not None and e2e.operator.running and e2e.operator.starts == 1
    report(
        "restart_emulator",
        runs=3 * count,
        downtime_seconds=downtime,
        convergence_seconds=convergence,
        oci_calls_after_restart=e2e.admin.stats()["total"],
    )


def test_api_server_restart_mid_run_converges(e2e: Scenario, cluster: Any) -> None:
    if not isinstance(cluster, ControlPlane):
        pytest.skip("restarts the bundled API server; an external cluster is not ours to restart")
    count = scale(3, 10)
    e2e.apply(simulated_job(e2e, "steady"))
    e2e.wait_job_active("steady")
    # Long enough to still be running when the API server goes, short enough to end while it is down.
    running = _names("running", count)
    e2e.apply(*(simulated_run(e2e, name, "steady", 4) for name in running))
    wait_phases(e2e, dict.fromkeys(running, "InProgress"), timeout=60)

    downtime = cluster.restart_apiserver(hard=True)
    back = time.monotonic()
    # The operator's watches broke: what users do now must still reach it.
    after = _names("after", count)
    e2e.apply(*(simulated_run(e2e, name, "steady", 0.5) for name in after))
    e2e.kube.patch(JOBS, "steady", e2e.namespace, {"spec": {"infrastructure": {"ocpus": 2}}})
    e2e.apply(simulated_job(e2e, "newcomer"))

    wait_phases(e2e, dict.fromkeys(running + after, "Succeeded"), timeout=scale(90, 180))
    wait_job_shape(e2e, "steady", 2, timeout=60)
    e2e.wait_job_active("newcomer", timeout=60)
    convergence = time.monotonic() - back

    assert one_oci_run_each(e2e, running + after) == []
    assert len(e2e.oci_jobs()) == 2
    assert e2e.operator is not None and e2e.operator.running and e2e.operator.starts == 1
    report(
        "restart_apiserver",
        runs=2 * count,
        downtime_seconds=downtime,
        convergence_seconds=convergence,
    )
