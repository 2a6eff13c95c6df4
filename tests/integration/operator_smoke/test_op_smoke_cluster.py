"""The operator process against a real API server and the emulator: behaviours H4 owns that the
end-to-end suite does not dwell on (no retry storm on a 400/404, Pending with a named reason,
metrics and health endpoints).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from ocids_controlplane.ports import free_ports
from ocids_controlplane.waiting import wait_until

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def world(cluster: Any, namespace: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    from ocids_emulator.testing import running_emulator

    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
    for plural in ("trainingjobs", "trainingjobruns"):
        cluster.kubectl("wait", "--for=condition=Established", f"crd/{plural}.ocids.io", "--timeout=60s")
    with running_emulator(tmp_path / "emulator", simulated="1:0") as emu:
        # As an admin would: the emulator's compartment, and one OCI does not know (the bad-compartment
        # test is about OCI's 404, not the operator's allow-list).
        grant = f"{emu.ids['COMPARTMENT_ID']},ocid1.compartment.oc1..doesnotexist"
        cluster.kubectl("annotate", "namespace", namespace, f"ocids.io/allowed-compartments={grant}")
        metrics_port, health_port = free_ports(2)
        env = {k: v for k, v in os.environ.items() if not k.startswith("OCIDS_")}
        env.update(
            KUBECONFIG=str(cluster.kubeconfig),
            OCIDS_OCI_CONFIG_FILE=emu.config_file,
            OCIDS_REGION=emu.ids["REGION"],
            OCIDS_DATASCIENCE_ENDPOINT=emu.endpoint,
            OCIDS_NAMESPACES=namespace,
            OCIDS_POLL_INTERVAL_SECONDS="0.5",
            OCIDS_RESYNC_INTERVAL_SECONDS="1",
            OCIDS_METRICS_PORT=str(metrics_port),
            OCIDS_HEALTH_PORT=str(health_port),
            OCIDS_BIND_ADDRESS="127.0.0.1",
        )
        log = (tmp_path / "operator.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "ocids_operator"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            yield {
                "cluster": cluster,
                "ns": namespace,
                "ids": emu.ids,
                "metrics": f"http://127.0.0.1:{metrics_port}/metrics",
                "health": f"http://127.0.0.1:{health_port}/healthz",
                "log": tmp_path / "operator.log",
            }
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()


def apply(world: dict[str, Any], obj: dict[str, Any]) -> None:
    world["cluster"].kubectl("apply", "-n", world["ns"], "-f", "-", input=yaml.safe_dump(obj))


def get(world: dict[str, Any], kind: str, name: str) -> dict[str, Any]:
    return dict(
        json.loads(world["cluster"].kubectl("get", kind, name, "-n", world["ns"], "-o", "json").stdout)
    )


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    return next((c for c in obj.get("status", {}).get("conditions", []) if c["type"] == type_), {})


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())


def metric(world: dict[str, Any], prefix: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in fetch(world["metrics"]).splitlines()
        if line.startswith(prefix)
    )


def job(world: dict[str, Any], name: str, compartment: str | None = None) -> dict[str, Any]:
    ids = world["ids"]
    return {
        "apiVersion": "ocids.io/v1alpha1",
        "kind": "TrainingJob",
        "metadata": {"name": name},
        "spec": {
            "compartmentId": compartment or ids["COMPARTMENT_ID"],
            "projectId": ids["PROJECT_ID"],
            "artifact": {"inline": {"fileName": "train.py", "content": "print('hi')\n"}},
            "infrastructure": {"shape": "VM.Standard2.1"},
        },
    }


def test_bad_compartment_stalls_once_and_a_waiting_run_starts_when_its_job_appears(
    world: dict[str, Any],
) -> None:
    wait_until(lambda: fetch(world["health"]) is not None, timeout=60, message="operator /healthz")

    # OCI answers 404 for an unknown compartment: Stalled with OCI's words, and no retry storm.
    apply(world, job(world, "bad", compartment="ocid1.compartment.oc1..doesnotexist"))
    wait_until(
        lambda: condition(get(world, "trainingjobs", "bad"), "Stalled").get("status") == "True",
        timeout=60,
        message="TrainingJob bad Stalled",
    )
    bad = get(world, "trainingjobs", "bad")
    assert bad["status"]["observedGeneration"] == bad["metadata"]["generation"]
    assert "404" in condition(bad, "Stalled")["message"]
    calls = metric(world, 'ocids_oci_calls_total{operation="list_jobs",outcome="404"}')
    time.sleep(4)  # several resync intervals: a stalled object must not be retried meanwhile
    assert metric(world, 'ocids_oci_calls_total{operation="list_jobs",outcome="404"}') == calls

    # A run whose TrainingJob does not exist yet waits, saying why; then runs once it exists.
    apply(
        world,
        {
            "apiVersion": "ocids.io/v1alpha1",
            "kind": "TrainingJobRun",
            "metadata": {"name": "r"},
            "spec": {"jobRef": {"name": "good"}},
        },
    )
    wait_until(
        lambda: (
            condition(get(world, "trainingjobruns", "r"), "Reconciling").get("reason")
            == "TrainingJobNotFound"
        ),
        timeout=60,
        message="run Pending with reason TrainingJobNotFound",
    )
    assert get(world, "trainingjobruns", "r")["status"]["phase"] == "Pending"
    apply(world, job(world, "good"))
    wait_until(
        lambda: get(world, "trainingjobruns", "r").get("status", {}).get("phase") == "Succeeded",
        timeout=90,
        message="run Succeeded",
    )
    run = get(world, "trainingjobruns", "r")
    good = get(world, "trainingjobs", "good")
    assert run["metadata"]["ownerReferences"][0]["uid"] == good["metadata"]["uid"]
    assert run["status"]["jobId"] == good["status"]["jobId"] and run["status"]["jobRevision"] == 1
    assert condition(run, "Ready")["status"] == "True" and condition(run, "Succeeded")["status"] == "True"
    assert metric(world, "ocids_runs_created_total") == 1
    # The run re-checked its missing TrainingJob every poll interval: routine, so no ERROR line
    # ("Handler 'reconcile' failed temporarily: ...") and no Error-type Event. (The job in the
    # unknown compartment is a real problem, retried slowly as a possible IAM denial: it may log.)
    log = world["log"].read_text(errors="replace").splitlines()
    about_run = f"[{world['ns']}/r] "
    assert [line for line in log if " ERROR " in line and about_run in line] == []
    events = json.loads(world["cluster"].kubectl("get", "events", "-n", world["ns"], "-o", "json").stdout)
    assert {ev.get("type") for ev in events["items"]} <= {"Normal", "Warning"}, events["items"]
    # OCI's 404 for an unknown compartment is also its answer to an IAM denial: counted as a
    # credentials outcome (NotAuthorized, re-checked slowly), not a plain spec error.
    assert 'ocids_reconciles_total{kind="TrainingJob",outcome="credentials"}' in fetch(world["metrics"])
