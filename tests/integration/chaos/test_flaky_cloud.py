"""Flaky cloud: with 30 % of OCI calls answered 429/500/503 (seeded) and added latency, every
TrainingJob still becomes Active and every run Succeeded; the operator never crashes, tries at most
twice the calls of the same workload without faults, and does not loop once there is nothing to do.

Two passes of the same workload (flaky_workload.run_pass), each with a fresh emulator and operator:
first fault-free for the baseline, then flaky.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from chaos_figures import report, scale
from flaky_workload import run_pass
from operator_harness import Kube

pytestmark = pytest.mark.integration

JOBS, RUNS = scale((3, 12), (10, 50))
IDLE_S = scale(8.0, 20.0)
TIMEOUT = scale(180.0, 600.0)
# Faults hit the n-th request by the seed alone (one rule for every operation), so the seed sets the
# share that really fails: 106 gives 28-31 % over the first 40 to 400 requests, i.e. the 30 % asked
# for at both scales (an arbitrary seed can give 38 % over the fast pass's 60 requests).
SEED = 106
FAULT_RATE = 0.3
# The e2e harness resyncs every TrainingJob every 3 s to see drift quickly. Timers like that make a
# call count mostly a measure of how long convergence took, not of the work it took; with the
# default interval (300 s) no resync falls inside a pass, and after convergence nothing should call.
OPERATOR_ENV = {"OCIDS_RESYNC_INTERVAL_SECONDS": "300"}
# What the idle check tolerates: a straggling handler or poll cycle, never a loop.
IDLE_ALLOWANCE_PER_S = 0.25
FAULTS = {
    "errors": [{"operation": "*", "statuses": [429, 500, 503], "rate": FAULT_RATE}],
    "latencyMs": {"*": 40, "create_job": 150, "create_job_run": 150},
    "seed": SEED,
}


def test_every_resource_converges_under_a_flaky_cloud_within_twice_the_calls(
    kube: Kube, tmp_path: Path
) -> None:
    calm = run_pass(
        kube,
        tmp_path,
        label="calm",
        jobs=JOBS,
        runs=RUNS,
        faults=None,
        idle_s=IDLE_S,
        timeout=TIMEOUT,
        operator_env=OPERATOR_ENV,
    )
    flaky = run_pass(
        kube,
        tmp_path,
        label="flaky",
        jobs=JOBS,
        runs=RUNS,
        faults=FAULTS,
        idle_s=IDLE_S,
        timeout=TIMEOUT,
        operator_env=OPERATOR_ENV,
    )
    ratio = flaky.requests / calm.requests
    report(
        "flaky-cloud",
        jobs=JOBS,
        runs=RUNS,
        fault_rate=FAULT_RATE,
        seed=SEED,
        faults_injected=flaky.faults_injected,
        fault_share=flaky.faults_injected / flaky.requests,
        requests_fault_free=calm.requests,
        requests_flaky=flaky.requests,
        requests_ratio=ratio,
        operator_calls_fault_free=int(calm.operator_calls),
        operator_calls_flaky=int(flaky.operator_calls),
        flaky_by_status=flaky.requests_by_status,
        by_operation_fault_free=calm.totals_by_operation,
        by_operation_flaky=flaky.requests_by_operation,
        convergence_s_fault_free=calm.converged_s,
        convergence_s_flaky=flaky.converged_s,
        peak_req_per_s_fault_free=calm.peak_requests_per_s,
        peak_req_per_s_flaky=flaky.peak_requests_per_s,
        idle_req_per_s_fault_free=calm.idle_rate,
        idle_req_per_s_flaky=flaky.idle_rate,
        operator_exits=flaky.operator_exits,
    )
    assert calm.faults_injected == 0 and flaky.faults_injected > 0
    assert flaky.operator_exits == 0 and flaky.tracebacks == 0, flaky.log[-4000:]
    assert (flaky.oci_jobs, flaky.oci_runs) == (JOBS, RUNS), "a retried create made a second OCI resource"
    assert ratio <= 2.0, (calm.totals_by_operation, flaky.totals_by_operation)
    # Once all is done nothing is due (poller idle, next resync minutes away): a hot loop, even one
    # pass a second per object, is far above this.
    assert flaky.idle_rate <= max(2 * calm.idle_rate, IDLE_ALLOWANCE_PER_S), (calm.idle_rate, flaky.idle_rate)
    assert flaky.peak_requests_per_s <= 3 * calm.peak_requests_per_s + 5, (
        calm.peak_requests_per_s,
        flaky.peak_requests_per_s,
    )
