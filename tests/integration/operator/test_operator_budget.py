"""TrainingBudget end to end, against the real API server and the emulator: a budget holds the run
whose worst case would cross its limit (Pending, BudgetExceeded, the figures in its message and an
Event) and starts it by itself when the limit is raised; action Refuse fails it with the figures;
a run with no maximum runtime is held and says so; a TrainingJob the selector does not cover is not
held. Nothing held ever reaches OCI.

The price table is the test's own ConfigMap (OCIDS_PRICE_TABLE=<namespace>/prices), priced so the
figures are round: 1 OCPU of VM.Standard.E4.Flex at 6.00 USD an hour, so a run with a 60-minute
maximum runtime has a worst case of 6.00.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable
from typing import Any

import operator_scripts as scripts
import pytest
from operator_harness import OperatorProcess, Scenario, condition, wait_for

pytestmark = pytest.mark.integration
BUDGETS = "trainingbudgets"
STARTED = {"Accepted", "InProgress"}  # created in OCI
POLL_SECONDS = 15
PRICES = """\
currency: USD
shapes:
  - match: VM.Standard.E4.Flex
    ocpuHour: 6.0
    source: test table (round figures)
    date: "2026-12-01"
"""


def _operator(world: Scenario, start_operator: Callable[..., OperatorProcess], **env: str) -> None:
    world.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "prices", "namespace": world.namespace},
            "data": {"prices.yaml": PRICES},
        }
    )
    world.operator = start_operator(env={"OCIDS_PRICE_TABLE": f"{world.namespace}/prices", **env})


def _budget(world: Scenario, name: str, limit: float, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "ocids.io/v1alpha1",
        "kind": "TrainingBudget",
        "metadata": {"name": name, "namespace": world.namespace},
        "spec": {"limit": {"amount": limit, "currency": "USD"}, **spec},
    }


def _gated_job(world: Scenario, name: str, team: str, **spec: Any) -> dict[str, Any]:
    release = world.work_dir / f"release-{name}"
    job = world.job(name, scripts.GATED, env={"RELEASE_FILE": str(release), "GATE_TIMEOUT": "120"}, **spec)
    job["metadata"]["labels"] = {"team": team}
    return job


def _release(world: Scenario, job: str) -> None:
    (world.work_dir / f"release-{job}").write_text("go")


def _ready(run: dict[str, Any] | None) -> dict[str, Any]:
    return condition(run, "Ready") or {}


def _month_start() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-01")


def _held(world: Scenario, name: str, reason: str) -> dict[str, Any]:
    def held() -> dict[str, Any] | None:
        run = world.get_run(name)
        if run and run.get("status", {}).get("phase") == "Pending" and _ready(run).get("reason") == reason:
            return run
        return None

    return dict(wait_for(held, timeout=60, message=f"{name} held ({reason})"))


def _budget_status(world: Scenario, name: str, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    def seen() -> dict[str, Any] | None:
        status = (world.kube.get(BUDGETS, name, world.namespace) or {}).get("status") or {}
        return status if predicate(status) else None

    return dict(wait_for(seen, timeout=60, message=f"budget {name} status"))


def test_budget_holds_the_run_that_would_cross_the_limit_and_starts_it_when_the_limit_is_raised(
    world: Scenario, start_operator: Callable[..., OperatorProcess]
) -> None:
    # Held runs look again every poll interval anyway: a long one shows the raise starts it at once.
    _operator(world, start_operator, OCIDS_POLL_INTERVAL_SECONDS=str(POLL_SECONDS))
    world.apply(_budget(world, "team-gpu", 15, selector={"matchLabels": {"team": "gpu"}}))
    world.apply(_gated_job(world, "gpu-train", "gpu", maximumRuntimeInMinutes=60))
    job_id = world.wait_job_active("gpu-train")["status"]["jobId"]
    for name in ("r1", "r2"):
        world.apply(world.run(name, "gpu-train"))
        world.wait_run(name, STARTED, timeout=90)

    world.apply(world.run("r3", "gpu-train"))
    run = _held(world, "r3", "BudgetExceeded")
    expected = (
        "TrainingBudget team-gpu: spent 0.00 + committed 12.00 + this run's worst case 6.00 would cross "
        f"the limit 15.00 USD (Monthly, from {_month_start()}); it starts by itself when the period rolls "
        "over"
    )
    assert run["status"]["message"].startswith(expected), run["status"]
    event = world.wait_event("r3", "BudgetExceeded")
    assert event["type"] == "Normal" and event["message"].startswith(expected), event
    # The first two carry their worst case from creation; the budget counts them and names the held one.
    for name in ("r1", "r2"):
        assert world.get_run(name)["status"]["cost"]["estimate"]["worstCase"] == 6.0  # type: ignore[index]
    status = _budget_status(world, "team-gpu", lambda s: s.get("heldRuns") == ["r3"])
    assert (status["phase"], status["committed"], status["remaining"], status["heldCount"]) == (
        "Active",
        12.0,
        3.0,
        1,
    ), status
    assert status["periodStart"].startswith(_month_start()), status
    assert len(world.oci_runs(job_id)) == 2  # held: nothing sent to OCI

    # Raising the limit starts it, with no change to the run.
    raised = time.monotonic()
    world.kube.patch(BUDGETS, "team-gpu", world.namespace, {"spec": {"limit": {"amount": 20}}})
    started = dict(
        wait_for(
            lambda: (run := world.get_run("r3")) and run.get("status", {}).get("createAttemptedAt") and run,
            timeout=60,
            message="r3 created",
        )
    )
    assert time.monotonic() - raised < POLL_SECONDS - 5, "not started until its next look"
    assert started["status"]["cost"]["estimate"]["worstCase"] == 6.0
    assert len(world.oci_runs(job_id)) == 3
    status = _budget_status(
        world, "team-gpu", lambda s: s.get("heldCount") == 0 and s.get("committed") == 18.0
    )
    assert (status["phase"], status["remaining"], status["heldRuns"]) == ("Active", 2.0, []), status

    # Ended, the runs move from committed to spent, at their estimate (billed seconds, not the worst case).
    _release(world, "gpu-train")
    ended = [world.wait_run(name, "Succeeded", timeout=90) for name in ("r1", "r2", "r3")]
    amounts = [run["status"]["cost"]["estimate"]["amount"] for run in ended]
    status = _budget_status(
        world, "team-gpu", lambda s: s.get("committed") == 0 and s.get("runsCounted") == 3
    )
    assert status["spent"] == pytest.approx(round(sum(amounts), 2)), (status, amounts)
    assert status["spent"] < 1.0, status  # seconds of a 6.00/hour run

    # Deleted, a run gives no money back: the budget keeps what it cost this period (status.carried).
    world.kube.kubectl("delete", "trainingjobrun", "r1", "-n", world.namespace, "--wait=true")
    kept = _budget_status(world, "team-gpu", lambda s: (s.get("carried") or 0) > 0)
    assert kept["carried"] == pytest.approx(amounts[0], abs=0.01), (kept, amounts)
    assert kept["spent"] == status["spent"] and kept["runsCounted"] == 2, kept


def test_refuse_fails_the_run_with_the_figures_and_sends_nothing_to_oci(
    world: Scenario, start_operator: Callable[..., OperatorProcess]
) -> None:
    _operator(world, start_operator)
    world.apply(_budget(world, "strict", 10, action="Refuse"))
    world.apply(_gated_job(world, "refused", "any", maximumRuntimeInMinutes=60))
    job_id = world.wait_job_active("refused")["status"]["jobId"]
    world.apply(world.run("first", "refused"))
    world.wait_run("first", STARTED, timeout=90)

    world.apply(world.run("second", "refused"))
    failed = world.wait_run("second", "Failed", timeout=60)
    expected = (
        "TrainingBudget strict: spent 0.00 + committed 6.00 + this run's worst case 6.00 would cross the "
        f"limit 10.00 USD (Monthly, from {_month_start()}); refused (action Refuse)"
    )
    assert failed["status"]["message"] == expected, failed["status"]
    assert (condition(failed, "Failed") or {}).get("reason") == "BudgetExceeded", failed["status"]
    event = world.wait_event("second", "BudgetExceeded")
    assert event["type"] == "Warning" and event["message"] == expected, event
    assert not failed["status"].get("jobRunId")
    assert len(world.oci_runs(job_id)) == 1
    _release(world, "refused")
    world.wait_run("first", "Succeeded", timeout=90)


def test_run_without_maximum_runtime_is_held_and_says_so_and_uncovered_jobs_run(
    world: Scenario, start_operator: Callable[..., OperatorProcess]
) -> None:
    _operator(world, start_operator)
    world.apply(_budget(world, "team-gpu", 100, selector={"matchLabels": {"team": "gpu"}}))
    world.apply(_gated_job(world, "unbounded", "gpu"), _gated_job(world, "cpu-job", "cpu"))
    job_id = world.wait_job_active("unbounded")["status"]["jobId"]
    world.wait_job_active("cpu-job")
    world.apply(world.run("open-ended", "unbounded"), world.run("elsewhere", "cpu-job"))

    run = _held(world, "open-ended", "NoMaximumRuntime")
    assert (
        "TrainingBudget team-gpu covers this run and it has no maximumRuntimeInMinutes"
        in run["status"]["message"]
    )
    assert "TrainingJob unbounded" in run["status"]["message"], run["status"]
    world.wait_event("open-ended", "NoMaximumRuntime")
    status = _budget_status(world, "team-gpu", lambda s: s.get("heldRuns") == ["open-ended"])
    assert status["phase"] == "Active", status
    # The selector does not cover cpu-job: its run starts with no maximum runtime at all.
    world.wait_run("elsewhere", STARTED, timeout=90)
    assert world.oci_runs(job_id) == []

    # A maximum runtime on its TrainingJob bounds it: the held run starts, no change to the run itself.
    world.kube.patch("trainingjobs", "unbounded", world.namespace, {"spec": {"maximumRuntimeInMinutes": 30}})
    world.wait_run("open-ended", STARTED, timeout=90)
    _release(world, "unbounded")
    _release(world, "cpu-job")
    world.wait_run("open-ended", "Succeeded", timeout=90)
