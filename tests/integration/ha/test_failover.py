"""Two replicas with leader election (OCIDS_LEADER_ELECTION=true) as plain processes, one emulator.

Only the leader reconciles and polls; a SIGKILLed leader is replaced by the standby within the
lease duration, with no duplicate OCI job or run; a leader whose Lease is taken away exits at once,
and one cut off from the API server within the renew deadline (before the Lease can expire under
it); a leader stopped with SIGTERM hands the Lease over without making the standby wait for it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import operator_scripts as scripts
import pytest
from ha_partition import Relay, api_server
from ha_replicas import (
    EXIT_LOST_LEASE,
    LEADING_LINE,
    LOST_LINE,
    chaos_figures,
    elected_env,
    first_line,
    holder,
    is_leader,
    lines_of,
    metric_sum,
    stamp,
    start_pair,
    wait_line,
)
from operator_fixtures import wait_operator_ready
from operator_harness import RUNS, OperatorProcess, Scenario, wait_for

pytestmark = pytest.mark.integration
# The defaults (OCIDS_LEADER_ELECTION_*): what the chart runs.
LEASE_DURATION = 12.0
RENEW_DEADLINE = 8.0
RETRY_PERIOD = 2.0
RUNS_PER_WAVE = 7
WAVES = 3
SIMULATED_RUN = "3:0"


def test_standby_takes_over_a_killed_leader_without_duplicates(
    world: Scenario, start_operator: Callable[..., OperatorProcess]
) -> None:
    world.admin.set_simulated(SIMULATED_RUN)
    leader, standby = start_pair(start_operator, world.namespace)
    assert is_leader(leader) and not is_leader(standby)

    world.apply(world.job("ha", scripts.TRAIN))
    job_id = world.wait_job_active("ha")["status"]["jobId"]
    names = [f"ha-{wave}-{i}" for wave in range(WAVES) for i in range(RUNS_PER_WAVE)]
    waves = [names[w * RUNS_PER_WAVE : (w + 1) * RUNS_PER_WAVE] for w in range(WAVES)]
    world.apply(*(world.run(name, "ha") for name in waves[0]))
    world.wait_run(waves[0][0], "Succeeded")
    world.apply(*(world.run(name, "ha") for name in waves[1]))
    # Killed while the second wave is being created in OCI and the first is being completed.
    wait_for(
        lambda: any((world.get_run(n) or {}).get("status", {}).get("jobRunId") for n in waves[1]),
        timeout=30,
        interval=0.1,
        message="a run of the second wave created",
    )

    # Until now the standby has made no OCI call and handled no object (kopf never ran in it).
    assert metric_sum(standby, "ocids_oci_calls_total") == 0
    assert metric_sum(standby, "ocids_reconciles_total") == 0
    assert not [line for line in lines_of(standby) if f"[{world.namespace}/" in line]
    assert not is_leader(standby)

    killed_at = datetime.now()
    leader.kill()
    # The third wave arrives while nobody leads.
    world.apply(*(world.run(name, "ha") for name in waves[2]))

    took_over = stamp(wait_line(standby, LEADING_LINE, timeout=LEASE_DURATION + 3 * RETRY_PERIOD + 10))
    reconciled = stamp(
        wait_line(standby, f"[{world.namespace}/", after=took_over, timeout=60),
    )
    failover_s = (took_over - killed_at).total_seconds()
    first_reconcile_s = (reconciled - killed_at).total_seconds()
    assert holder(world.kube, world.namespace) == "op-b"
    assert is_leader(standby)
    # kopf's liveness endpoint took over the port the standby's own /healthz had.
    wait_operator_ready(standby, timeout=10)

    for name in names:
        world.wait_run(name, "Succeeded", timeout=120)
    runs = world.kube.list_objects(RUNS, world.namespace)
    run_ids = sorted(r["status"]["jobRunId"] for r in runs)
    assert len(runs) == len(names) and len(set(run_ids)) == len(names)
    assert sorted(r.id for r in world.oci_runs()) == run_ids, "one OCI run per TrainingJobRun, no more"
    assert [j.id for j in world.oci_jobs()] == [job_id]

    chaos_figures().report(
        "failover",
        failover_s=failover_s,
        first_reconcile_s=first_reconcile_s,
        lease_duration_s=LEASE_DURATION,
        retry_period_s=RETRY_PERIOD,
        runs=len(names),
        duplicates=len(world.oci_runs()) - len(names),
    )
    # The standby takes over once the Lease it last saw renewed is older than the lease duration; it
    # looks every retry period, and saw the last renewal up to a retry period late.
    assert failover_s <= LEASE_DURATION + 2 * RETRY_PERIOD + 1, failover_s


def test_a_leader_whose_lease_is_taken_away_exits_at_once(
    world: Scenario, start_operator: Callable[..., OperatorProcess]
) -> None:
    leader, standby = start_pair(start_operator, world.namespace)
    world.apply(world.job("taken", scripts.TRAIN))
    world.wait_job_active("taken")

    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    patch = {"spec": {"holderIdentity": "intruder", "renewTime": now, "acquireTime": now}}
    taken_at = datetime.now()
    world.kube.kubectl(
        "patch", "lease", "ocids-operator", "-n", world.namespace, "--type", "merge", "-p", json.dumps(patch)
    )
    assert leader.wait_exit(timeout=RENEW_DEADLINE + RETRY_PERIOD) == EXIT_LOST_LEASE, leader.log_text()[
        -3000:
    ]
    lost = first_line(leader, LOST_LINE)
    assert lost is not None and " ERROR " in lost and "intruder" in lost, lost
    exited_s = (stamp(lost) - taken_at).total_seconds()
    # Nothing after the ERROR line: the process stopped there, before any further write.
    assert lines_of(leader)[-1] == lost or not any(
        f"[{world.namespace}/" in line for line in lines_of(leader)[lines_of(leader).index(lost) :]
    )
    assert holder(world.kube, world.namespace) == "intruder", "the lost leader did not write the Lease back"
    # The standby respects the intruder's Lease until it expires, then leads.
    assert not is_leader(standby)
    wait_line(standby, LEADING_LINE, timeout=LEASE_DURATION + 3 * RETRY_PERIOD + 10)
    chaos_figures().report("lease_taken", exit_after_s=exited_s, renew_deadline_s=RENEW_DEADLINE)
    assert exited_s <= RETRY_PERIOD + 1, exited_s


def test_a_leader_cut_off_from_the_api_server_exits_within_the_renew_deadline(
    world: Scenario, start_operator: Callable[..., OperatorProcess], tmp_path: Path
) -> None:
    relay = Relay(api_server(world.kube.kubeconfig))
    kubeconfig = relay.kubeconfig(world.kube.kubeconfig, tmp_path / "kubeconfig-via-relay")
    leader = start_operator(env=elected_env(world.namespace, "op-a"), kubeconfig=kubeconfig)
    wait_line(leader, LEADING_LINE)
    world.apply(world.job("partitioned", scripts.TRAIN))
    world.wait_job_active("partitioned")

    cut_at = datetime.now()
    relay.cut()
    assert leader.wait_exit(timeout=RENEW_DEADLINE + 2 * RETRY_PERIOD + 5) == EXIT_LOST_LEASE
    lost = first_line(leader, LOST_LINE)
    assert lost is not None and "not renewed within the renew deadline" in lost, leader.log_text()[-3000:]
    exited_s = (stamp(lost) - cut_at).total_seconds()
    chaos_figures().report("lease_partition", exit_after_s=exited_s, renew_deadline_s=RENEW_DEADLINE)
    # It stops before its Lease can expire under it: no standby can have taken over yet.
    assert exited_s < LEASE_DURATION, exited_s
    assert holder(world.kube, world.namespace) == "op-a"


def test_a_leader_stopped_with_sigterm_hands_the_lease_over_at_once(
    world: Scenario, start_operator: Callable[..., OperatorProcess]
) -> None:
    leader, standby = start_pair(start_operator, world.namespace)
    stopped_at = datetime.now()
    assert leader.stop(grace=20) == 0, leader.log_text()[-3000:]
    assert first_line(leader, "released the leader Lease") is not None
    took_over = stamp(wait_line(standby, LEADING_LINE, timeout=LEASE_DURATION))
    handover_s = (took_over - stopped_at).total_seconds()
    chaos_figures().report("lease_handover", handover_s=handover_s, retry_period_s=RETRY_PERIOD)
    # Stopping kopf takes a moment; the standby then needs one retry period, not a lease duration.
    assert handover_s < LEASE_DURATION / 2, handover_s
