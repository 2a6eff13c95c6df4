"""TrainingJobSweep against the real API server and the emulator: examples/sweep/ (a 2x3 grid, 2 at a
time, sampled from OCI's own list of runs), the random strategy's seed, the CEL rules, objective.target,
the median stopping rule, and deletion."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from operator_harness import REPO_ROOT, RUNS, OperatorProcess, Scenario, wait_for

pytestmark = pytest.mark.integration

SWEEPS = "trainingjobsweeps"
EXAMPLE = REPO_ROOT / "examples" / "sweep"
PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")
ACTIVE_STATES = {"ACCEPTED", "IN_PROGRESS", "CANCELING", "NEEDS_ATTENTION"}
# The sweep looks at its trials every second (default 10).
FAST = {"OCIDS_SWEEP_INTERVAL_SECONDS": "1"}


def example(ids: dict[str, str], namespace: str) -> list[dict[str, Any]]:
    """examples/sweep/ as its README applies it (envsubst of the OCIDs, `kubectl apply -n`)."""
    text = "---\n".join((EXAMPLE / name).read_text() for name in ("trainingjob.yaml", "sweep.yaml"))
    docs = [d for d in yaml.safe_load_all(PLACEHOLDER.sub(lambda m: ids[m.group(1)], text)) if d]
    for doc in docs:
        doc["metadata"]["namespace"] = namespace
    return docs


def sweep(name: str, namespace: str, job: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "ocids.io/v1alpha1",
        "kind": "TrainingJobSweep",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"jobRef": {"name": job}, **spec},
    }


def trials(world: Scenario, name: str) -> list[dict[str, Any]]:
    proc = world.kube.kubectl(
        "get", RUNS, "-n", world.namespace, "-l", f"ocids.io/sweep={name}", "-o", "json"
    )
    return sorted(json.loads(proc.stdout)["items"], key=lambda r: r["metadata"]["name"])


def parameters(run: dict[str, Any]) -> dict[str, str]:
    return dict(json.loads(run["metadata"]["annotations"]["ocids.io/parameters"]))


def wait_sweep(
    world: Scenario, name: str, done: Callable[[dict[str, Any]], bool], what: str, timeout: float = 150
) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def check() -> dict[str, Any] | None:
        seen["obj"] = world.kube.get(SWEEPS, name, world.namespace)
        return seen["obj"] if seen["obj"] and done(seen["obj"].get("status") or {}) else None

    found: dict[str, Any] = wait_for(
        check,
        timeout=timeout,
        interval=1.0,
        message=lambda: (
            f"{what}; status={(seen.get('obj') or {}).get('status')}; trials="
            + str([(t["metadata"]["name"], t.get("status")) for t in trials(world, name)])
        ),
    )
    return found


def test_the_grid_example_runs_six_trials_two_at_a_time_ranks_them_and_deleting_it_deletes_them(
    world: Scenario, start_operator: Callable[..., OperatorProcess]
) -> None:
    world.operator = start_operator(env=FAST)
    world.apply(*example(world.ids, world.namespace))
    job_id = world.wait_job_active("sweep-train")["status"]["jobId"]

    # Sampled from OCI itself: never more runs active than parallelism, and parallelism used.
    most: list[int] = []

    def finished() -> dict[str, Any] | None:
        active = [r for r in world.oci_runs(job_id) if r.lifecycle_state in ACTIVE_STATES]
        most.append(len(active))
        obj = world.kube.get(SWEEPS, "lr-batch", world.namespace)
        return obj if ((obj or {}).get("status") or {}).get("phase") in ("Succeeded", "Failed") else None

    done = wait_for(finished, timeout=200, interval=0.5, message="the sweep to finish")
    status = done["status"]
    assert max(most) <= 2, most
    assert max(most) == 2, most
    assert status["phase"] == "Succeeded", status
    assert (status["trials"], status["succeeded"], status["failed"], status["active"]) == (6, 6, 0, 0), status
    runs = trials(world, "lr-batch")
    assert [r["metadata"]["name"] for r in runs] == [f"lr-batch-{i:03d}" for i in range(6)]
    combos = {(p["lr"], p["batch"]) for p in map(parameters, runs)}
    assert combos == {(lr, b) for lr in ("0.1", "0.01") for b in ("16", "32", "64")}
    # The best is the one the script's logged accuracy favours: lr 0.01, batch 32.
    assert status["best"]["run"] == "lr-batch-004", status["best"]
    assert status["best"]["parameters"] == {"lr": "0.01", "batch": "32"}
    assert status["best"]["metric"] == pytest.approx(0.95)
    board = [entry["metric"] for entry in status["leaderboard"]]
    assert board == sorted(board, reverse=True) and len(board) == 6, status["leaderboard"]
    ready = {c["type"]: c["status"] for c in status["conditions"]}
    assert ready["Ready"] == "True", status["conditions"]
    table = world.kube.kubectl("get", SWEEPS, "lr-batch", "-n", world.namespace).stdout
    assert "lr-batch-004" in table and "0.95" in table, table
    run_ids = [r["status"]["jobRunId"] for r in runs]

    world.kube.delete(SWEEPS, "lr-batch", world.namespace, timeout=90)
    assert trials(world, "lr-batch") == []
    assert all(
        world.oci.get_job_run(run_id) is None or world.oci.get_job_run(run_id).lifecycle_state == "DELETED"
        for run_id in run_ids
    )


def test_random_sweeps_repeat_by_seed_bad_specs_are_refused_and_a_reached_target_ends_a_sweep(
    world: Scenario, start_operator: Callable[..., OperatorProcess], tmp_path: Path
) -> None:
    world.operator = start_operator(env=FAST)
    world.apply(world.job("quick", 'print("accuracy=0.5")'))
    space = [
        {"name": "lr", "range": {"min": 0.0001, "max": 0.1, "count": 10, "scale": "log"}, "env": "LR"},
        {"name": "batch", "values": ["8", "16", "32", "64"], "arg": "--batch={value}"},
    ]
    common = {"parameters": space, "strategy": "random", "maxTrials": 3, "parallelism": 3}
    world.apply(
        sweep("seed-a", world.namespace, "quick", seed=11, **common),
        sweep("seed-b", world.namespace, "quick", seed=11, **common),
        sweep("seed-c", world.namespace, "quick", seed=12, **common),
    )
    drawn = {}
    for name in ("seed-a", "seed-b", "seed-c"):
        # (status.trials is reserved before the creates; the status write after them has the seed)
        created = lambda s: s.get("trials") == 3 and s.get("seed") is not None  # noqa: E731
        status = wait_sweep(world, name, created, f"{name} to create 3 trials")["status"]
        assert status["seed"] in (11, 12) and status["totalTrials"] == 3, status
        drawn[name] = [parameters(r) for r in trials(world, name)]
    assert drawn["seed-a"] == drawn["seed-b"], drawn
    assert drawn["seed-a"] != drawn["seed-c"], drawn
    assert len({json.dumps(p, sort_keys=True) for p in drawn["seed-a"]}) == 3  # distinct combinations
    run = trials(world, "seed-a")[0]
    assert run["spec"]["args"] == [f"--batch={parameters(run)['batch']}"]
    assert run["spec"]["env"] == [{"name": "LR", "value": parameters(run)["lr"]}]

    # The API server refuses bad specs, naming the field; nothing is created.
    bad = sweep(
        "bad",
        world.namespace,
        "quick",
        parameters=[{"name": "p", "range": {"min": 2, "max": 1, "step": 1}, "env": "P"}],
    )
    refused = world.kube.apply(bad, check=False)
    assert refused.returncode != 0 and "range.min must be less than range.max" in refused.stderr, (
        refused.stderr
    )
    refused = world.kube.apply(
        sweep("bad", world.namespace, "quick", parameters=space, strategy="random"), check=False
    )
    assert "strategy random needs maxTrials" in refused.stderr, refused.stderr
    assert world.kube.get(SWEEPS, "bad", world.namespace) is None
    # The search is fixed once created; parallelism is not.
    changed = world.kube.kubectl(
        "patch",
        SWEEPS,
        "seed-a",
        "-n",
        world.namespace,
        "--type",
        "merge",
        "-p",
        '{"spec": {"seed": 5}}',
        check=False,
    )
    assert "spec is immutable except parallelism and maxFailures" in changed.stderr, changed.stderr
    world.kube.patch(SWEEPS, "seed-a", world.namespace, {"spec": {"parallelism": 1}})

    # A trial that reaches objective.target ends the sweep: the other combinations never run.
    world.apply(
        sweep(
            "target",
            world.namespace,
            "quick",
            parameters=[{"name": "x", "values": ["1", "2", "3"], "env": "X"}],
            metrics=[{"name": "accuracy", "regex": "accuracy=([0-9.]+)"}],
            objective={"metric": "accuracy", "target": 0.5},
        )
    )
    done = wait_sweep(world, "target", lambda s: s.get("phase") == "Succeeded", "the target to be reached")
    assert (done["status"]["trials"], done["status"]["best"]["run"]) == (1, "target-000"), done["status"]
    assert {c["type"]: c["reason"] for c in done["status"]["conditions"]}["Ready"] == "TargetReached"
    assert [r["metadata"]["name"] for r in trials(world, "target")] == ["target-000"]


MEDIAN_SCRIPT = """\
import os, time
quality = float(os.environ["QUALITY"])
good = quality > 0.5
steps = 4 if good else 90
for step in range(1, steps + 1):
    print(f"step={step} accuracy={quality * step / steps if good else quality:.4f}", flush=True)
    time.sleep(0.3 if good else 1.0)
print(f"test accuracy={quality:.4f}", flush=True)
"""


def test_median_stopping_cancels_a_trial_whose_logged_curve_is_clearly_worse(
    world: Scenario, start_operator: Callable[..., OperatorProcess]
) -> None:
    world.operator = start_operator(env=FAST)
    world.apply(world.job("curves", MEDIAN_SCRIPT))
    world.apply(
        sweep(
            "median",
            world.namespace,
            "curves",
            parameters=[{"name": "quality", "values": ["0.9", "0.8", "0.85", "0.1"], "env": "QUALITY"}],
            metrics=[{"name": "accuracy", "regex": "accuracy=([0-9.]+)"}],
            objective={"metric": "accuracy"},
            earlyStopping={"minTrials": 3, "startStep": 2},
        )
    )
    status = wait_sweep(
        world, "median", lambda s: s.get("phase") == "Succeeded", "the sweep to finish", timeout=180
    )["status"]
    assert (status["succeeded"], status["earlyStopped"], status["canceled"]) == (3, 1, 0), status
    assert status["best"]["run"] == "median-000", status
    stopped = world.get_run("median-003")
    assert stopped is not None and stopped["status"]["phase"] == "Canceled", stopped
    assert stopped["spec"]["cancel"] is True
    assert "worse than the median" in stopped["metadata"]["annotations"]["ocids.io/early-stopped"]
    # Stopped early: far fewer observations than the 90 it would have logged.
    (accuracy,) = [m for m in stopped["status"]["metrics"] if m["name"] == "accuracy"]
    assert accuracy["step"] < 60, accuracy
    assert world.oci.get_job_run(stopped["status"]["jobRunId"]).lifecycle_state == "CANCELED"
    event = world.wait_event("median", "TrialEarlyStopped")
    assert "median-003" in event["message"], event
    assert "first 2 accuracy values, 0.1, is worse than the median" in event["message"], event


SLOW_SCRIPT = """\
import time
print("started", flush=True)
time.sleep(600)
"""


def test_expired_trials_keep_the_sweeps_result_and_deleting_a_sweep_cancels_a_retain_trials_run(
    world: Scenario, start_operator: Callable[..., OperatorProcess]
) -> None:
    world.operator = start_operator(env=FAST)
    world.apply(world.job("quick", 'print("accuracy=0.7")'), world.job("slow", SLOW_SCRIPT))
    accuracy = [{"name": "accuracy", "regex": "accuracy=([0-9.]+)"}]
    one = [{"name": "x", "values": ["1"], "env": "X"}]
    retain = {"deletionPolicy": "Retain"}
    world.apply(
        sweep(
            "expiring",
            world.namespace,
            "quick",
            parameters=[{"name": "x", "values": ["1", "2"], "env": "X"}],
            parallelism=2,
            metrics=accuracy,
            objective={"metric": "accuracy"},
            # Long enough for the sweep to see each trial's final metrics (a TTL deletes a run
            # whose last log lines may still be read: the archive then lacks them).
            trialTemplate={"ttlSecondsAfterFinished": 10},
        ),
        sweep("retained", world.namespace, "slow", parameters=one, trialTemplate=retain),
    )
    # Retain: the trial's OCI run running when the sweep is deleted.
    run = world.kube.wait_phase(RUNS, "retained-000", world.namespace, "InProgress", timeout=90)
    run_id = run["status"]["jobRunId"]

    done = wait_sweep(world, "expiring", lambda s: s.get("phase") == "Succeeded", "the sweep to finish")
    assert done["status"].get("best"), (done["status"], [r.get("status") for r in trials(world, "expiring")])
    assert done["status"]["best"]["metric"] == pytest.approx(0.7), done["status"]
    wait_for(lambda: trials(world, "expiring") == [], timeout=60, message="the trials' TTL to delete them")
    # An edit after the trials are gone: the sweep's result is its own, not its trials'.
    world.kube.patch(SWEEPS, "expiring", world.namespace, {"spec": {"parallelism": 1}})
    status = wait_sweep(
        world, "expiring", lambda s: s.get("observedGeneration") == 2, "the edit to be reconciled"
    )["status"]
    assert (status["phase"], status["succeeded"], status["failed"], status["canceled"]) == (
        "Succeeded",
        2,
        0,
        0,
    ), status
    assert status["best"] == done["status"]["best"] and status["best"]["metric"] == pytest.approx(0.7)
    assert [o["phase"] for o in status["outcomes"]] == ["Succeeded", "Succeeded"], status

    # Deleting the sweep cancels its Retain trial's OCI run before deleting the trial: never left
    # running with nothing following it.
    world.kube.delete(SWEEPS, "retained", world.namespace, timeout=90)
    assert trials(world, "retained") == []
    oci_run = world.oci.get_job_run(run_id)
    assert oci_run is not None and oci_run.lifecycle_state == "CANCELED", oci_run
