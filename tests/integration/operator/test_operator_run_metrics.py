"""spec.metrics end to end: a script the emulator really runs prints `step=N loss=X` lines; the
operator reads them through the OCI Logging search API into status.metrics while the run is still
running, and after it ends until its last lines were read (status.metricsFinal). A run's own
metrics replace its TrainingJob's. `kubectl get` shows the first declared metric in the METRIC column.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from operator_harness import RUNS, OperatorProcess, Scenario, wait_for
from prometheus_client.parser import text_string_to_metric_families
from test_operator_jobs_api import printer_column

pytestmark = pytest.mark.integration

# Two steps, then held InProgress until the test creates RELEASE_FILE, then one step and a result.
CURVE = """\
import os, time
print("step=1 loss=0.9", flush=True)
print("saving a checkpoint", flush=True)
print("step=2 loss=0.7", flush=True)
release = os.environ["RELEASE_FILE"]
deadline = time.monotonic() + 90
while not os.path.exists(release) and time.monotonic() < deadline:
    time.sleep(0.1)
print("step=3 loss=0.4", flush=True)
print("test accuracy=0.88", flush=True)
"""
LOSS = {"name": "loss", "regex": r"loss=([0-9.]+)"}
ACCURACY = {"name": "accuracy", "regex": r"test accuracy=([0-9.]+)"}


def counter(op: OperatorProcess, sample: str, **labels: str) -> float:
    return sum(
        s.value
        for family in text_string_to_metric_families(op.metrics_text())
        for s in family.samples
        if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items())
    )


def latest(status: dict[str, Any]) -> dict[str, tuple[int, float]]:
    return {m["name"]: (m["step"], m["value"]) for m in status.get("metrics") or [] if m.get("step")}


def test_status_metrics_follow_a_running_run_and_end_with_its_final_values(
    world: Scenario, start_operator: Callable[..., OperatorProcess]
) -> None:
    world.operator = start_operator(env={"OCIDS_METRICS_WRITE_SECONDS": "1"})
    world.apply(world.job("curve", CURVE, metrics=[LOSS]))
    world.wait_job_active("curve")
    releases = {name: world.release_file(name) for name in ("curve-1", "curve-own")}
    world.apply(
        world.run("curve-1", "curve", env={"RELEASE_FILE": str(releases["curve-1"])}),
        world.run(
            "curve-own", "curve", env={"RELEASE_FILE": str(releases["curve-own"])}, metrics=[ACCURACY, LOSS]
        ),
    )

    # While the script waits, its first two steps are already in status, and the run still runs.
    seen: dict[str, Any] = {}

    def two_steps_while_running() -> dict[str, Any] | None:
        run = world.get_run("curve-1") or {}
        seen["status"] = status = run.get("status") or {}
        return run if latest(status).get("loss") == (2, 0.7) else None

    running = wait_for(
        two_steps_while_running, timeout=60, message=lambda: f"loss at step 2: {seen.get('status')}"
    )
    assert running["status"]["phase"] == "InProgress", running["status"]
    loss = running["status"]["metrics"][0]
    assert loss["history"] == [{"step": 1, "value": 0.9}, {"step": 2, "value": 0.7}] and loss["updatedAt"]
    table = world.kube.kubectl("get", RUNS, "-n", world.namespace).stdout
    assert printer_column(table, "METRIC", "curve-1") == "0.7", table

    # The run's own metrics replace the job's: accuracy first (nothing logged yet), then loss.
    own = world.wait_run("curve-own", "InProgress")
    wait_for(
        lambda: latest((world.get_run("curve-own") or {}).get("status") or {}) == {"loss": (2, 0.7)},
        timeout=60,
        message="curve-own's loss at step 2",
    )
    assert own["spec"]["metrics"][0]["name"] == "accuracy"

    for release in releases.values():
        release.touch()
    done = world.wait_run("curve-1", {"Succeeded", "Failed"})
    assert done["status"]["phase"] == "Succeeded", done["status"]

    def final(name: str) -> dict[str, Any] | None:
        status = (world.get_run(name) or {}).get("status") or {}
        return status if status.get("metricsFinal") is True else None

    done_status = wait_for(lambda: final("curve-1"), timeout=90, message="curve-1's final metrics")
    assert latest(done_status) == {"loss": (3, 0.4)}, done_status
    own_status = wait_for(lambda: final("curve-own"), timeout=90, message="curve-own's final metrics")
    assert own_status["phase"] == "Succeeded", own_status
    assert latest(own_status) == {"accuracy": (1, 0.88), "loss": (3, 0.4)}, own_status
    assert [m["name"] for m in own_status["metrics"]] == ["accuracy", "loss"]

    # Both runs, running and ended, were read by at most one search a poll cycle: this operator polls
    # one (identity, compartment) only, so its cycles are that compartment's.
    searches = counter(world.operator, "ocids_oci_calls_total", operation="search_logs")
    cycles = counter(world.operator, "ocids_poll_cycles_total")
    assert 0 < searches <= cycles, (searches, cycles)
