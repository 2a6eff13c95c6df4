"""History that cleans itself: a TrainingJob's history limits and a run's ttlSecondsAfterFinished
delete finished TrainingJobRuns, their OCI runs follow (deletionPolicy Delete), and the archive
ConfigMap lists what went (`kubectl ocids runs --archived`)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import operator_scripts as scripts
import pytest
from operator_harness import JOBS, OperatorProcess, Scenario, wait_for

pytestmark = pytest.mark.integration


def _oci_run_gone(e2e: Scenario, run_id: str) -> bool:
    run = e2e.oci.get_job_run(run_id)
    return run is None or run.lifecycle_state == "DELETED"


def _archive(e2e: Scenario, job: str) -> dict[str, dict[str, Any]]:
    config_map = e2e.kube.get("configmap", f"{job}-runs-archive", e2e.namespace) or {}
    return {key: json.loads(value) for key, value in (config_map.get("data") or {}).items()}


def _kubectl_ocids(e2e: Scenario, *args: str) -> subprocess.CompletedProcess[str]:
    assert e2e.operator is not None
    return subprocess.run(
        [str(Path(sys.executable).parent / "kubectl-ocids"), *args, "-n", e2e.namespace],
        env=e2e.operator.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_history_limits_delete_old_runs_in_the_cluster_and_in_oci_and_archive_them(
    world: Scenario, start_operator: Callable[..., OperatorProcess]
) -> None:
    # No resync during the test: runs are pruned because one finished, and status.archive is
    # written by the reconcile of an edit.
    world.operator = start_operator(env={"OCIDS_RESYNC_INTERVAL_SECONDS": "600"})
    e2e = world
    e2e.apply(e2e.job("hist", scripts.FAIL, successfulRunsHistoryLimit=1, failedRunsHistoryLimit=1))
    e2e.wait_job_active("hist")
    # A schedule's run follows its schedule's limits, not the TrainingJob's: it stays.
    scheduled = e2e.run("sched-1", "hist", env={"EXIT_CODE": "0"})
    scheduled["metadata"]["labels"] = {"ocids.io/schedule": "nightly"}
    e2e.apply(e2e.run("ok-1", "hist", env={"EXIT_CODE": "0"}), e2e.run("bad-1", "hist"), scheduled)
    first = {name: e2e.wait_run(name, {"Succeeded", "Failed"}) for name in ("ok-1", "bad-1", "sched-1")}
    assert first["bad-1"]["status"]["phase"] == "Failed"
    # Within the limits: nothing pruned yet.
    assert e2e.get_run("ok-1") is not None and e2e.get_run("bad-1") is not None

    e2e.apply(e2e.run("ok-2", "hist", env={"EXIT_CODE": "0"}), e2e.run("bad-2", "hist"))
    e2e.wait_run("ok-2", "Succeeded")
    e2e.wait_run("bad-2", "Failed")
    wait_for(
        lambda: e2e.get_run("ok-1") is None and e2e.get_run("bad-1") is None,
        timeout=30,
        message="the older Succeeded and Failed runs pruned",
    )
    assert all(e2e.get_run(name) is not None for name in ("ok-2", "bad-2", "sched-1"))
    pruned_ids = [first[name]["status"]["jobRunId"] for name in ("ok-1", "bad-1")]
    wait_for(
        lambda: all(_oci_run_gone(e2e, run_id) for run_id in pruned_ids),
        timeout=30,
        message="the pruned runs' OCI runs deleted",
    )
    for name in ("ok-2", "bad-2", "sched-1"):
        assert e2e.oci.get_job_run(e2e.get_run(name)["status"]["jobRunId"]).lifecycle_state != "DELETED"

    records = _archive(e2e, "hist")
    assert sorted(records) == ["bad-1.json", "ok-1.json"]
    assert records["bad-1.json"]["phase"] == "Failed" and records["bad-1.json"]["exitCode"] == 3
    assert records["ok-1.json"]["jobRunId"] == first["ok-1"]["status"]["jobRunId"]
    assert records["ok-1.json"]["parameters"] == {"env": {"EXIT_CODE": "0"}}
    archive_meta = e2e.kube.get("configmap", "hist-runs-archive", e2e.namespace)["metadata"]
    owners = archive_meta["ownerReferences"]
    assert [(o["kind"], o["name"], o["controller"]) for o in owners] == [("TrainingJob", "hist", False)]
    assert archive_meta["labels"]["app.kubernetes.io/managed-by"] == "ocids-operator"
    assert "RunsPruned" in {ev.get("reason") for ev in e2e.kube.events(e2e.namespace, "hist")}

    table = _kubectl_ocids(e2e, "runs", "--archived", "hist")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split()[:5] == ["NAME", "PHASE", "FINISHED", "DURATION", "EXIT"]
    assert sorted(line.split()[0] for line in lines[1:]) == ["bad-1", "ok-1"]
    assert {line.split()[0]: line.split()[1] for line in lines[1:]} == {
        "ok-1": "Succeeded",
        "bad-1": "Failed",
    }

    # A lower limit applies at once (the TrainingJob's reconcile prunes too).
    e2e.kube.patch(JOBS, "hist", e2e.namespace, {"spec": {"failedRunsHistoryLimit": 0}})
    wait_for(lambda: e2e.get_run("bad-2") is None, timeout=30, message="bad-2 pruned after the edit")
    e2e.wait_job_status(
        "hist",
        lambda s: s.get("archive") == {"configMap": "hist-runs-archive", "count": 3},
        "status.archive counts the pruned runs",
    )
    assert e2e.get_run("ok-2") is not None and e2e.get_run("sched-1") is not None

    # Deleting the TrainingJob takes its archive with it (garbage collection, as its runs).
    e2e.kube.delete(JOBS, "hist", e2e.namespace, timeout=60)
    wait_for(
        lambda: e2e.kube.get("configmap", "hist-runs-archive", e2e.namespace) is None,
        timeout=60,
        message="archive ConfigMap collected with its TrainingJob",
    )


def test_ttl_deletes_a_finished_run_and_its_oci_run_and_archives_it(e2e: Scenario) -> None:
    e2e.apply(e2e.job("ttl", scripts.FAIL, env={"EXIT_CODE": "0"}))
    e2e.wait_job_active("ttl")
    e2e.apply(
        e2e.run("short", "ttl", ttlSecondsAfterFinished=3),
        e2e.run("kept", "ttl"),
    )
    run_id = e2e.wait_run("short", "Succeeded")["status"]["jobRunId"]
    e2e.wait_run("kept", "Succeeded")
    wait_for(lambda: e2e.get_run("short") is None, timeout=30, message="run deleted after its TTL")
    wait_for(lambda: _oci_run_gone(e2e, run_id), timeout=30, message="its OCI run deleted")
    assert e2e.get_run("kept") is not None
    records = _archive(e2e, "ttl")
    assert list(records) == ["short.json"] and records["short.json"]["jobRunId"] == run_id
    e2e.wait_job_status(
        "ttl",
        lambda s: s.get("archive") == {"configMap": "ttl-runs-archive", "count": 1},
        "status.archive counts the expired run",
    )


def test_a_config_map_of_the_archives_name_that_is_not_the_operators_keeps_the_runs(e2e: Scenario) -> None:
    # A user's own ConfigMap happens to have the archive's name: the operator neither takes it
    # over (its owner reference would have it deleted with the TrainingJob) nor deletes a run
    # without a record.
    mine = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "mine-runs-archive", "namespace": e2e.namespace},
        "data": {"notes": "the user's"},
    }
    e2e.apply(mine, e2e.job("mine", scripts.FAIL, failedRunsHistoryLimit=0))
    e2e.wait_job_active("mine")
    e2e.apply(e2e.run("bad", "mine"))
    e2e.wait_run("bad", "Failed")
    message = e2e.wait_event("mine", "ArchiveRefused")["message"]
    assert "app.kubernetes.io/managed-by: ocids-operator" in message
    assert e2e.get_run("bad") is not None
    users = e2e.kube.get("configmap", "mine-runs-archive", e2e.namespace)
    assert users["data"] == {"notes": "the user's"} and not users["metadata"].get("ownerReferences")

    # Once the name is free, the next resync archives and prunes.
    e2e.kube.delete("configmap", "mine-runs-archive", e2e.namespace)
    wait_for(lambda: e2e.get_run("bad") is None, timeout=30, message="bad pruned once the name is free")
    assert list(_archive(e2e, "mine")) == ["bad.json"]
