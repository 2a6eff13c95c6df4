"""What a run costs, end to end against the real API server and the emulator (with its Usage API):
the estimate in status matches the price table worked by hand, OCI's actual cost of the whole run
arrives only after the emulated usage delay and then becomes final, the TrainingJob sums its runs' spend,
`kubectl ocids runs` shows it all, and a retried run costs all of its attempts.

The price table is the test's own ConfigMap (OCIDS_PRICE_TABLE=<namespace>/prices), with round,
large figures so a few seconds of running cost well over a cent; the emulator bills with the same
table (its admin API), as OCI bills with Oracle's.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from ocids_operator.core.times import parse_time
from operator_harness import OperatorProcess, Scenario, wait_for

pytestmark = pytest.mark.integration

PRICES = """\
currency: USD
shapes:
  - match: VM.Standard.E4.Flex
    ocpuHour: 360.0
    memoryGBHour: 9.0
    source: test table (round figures)
    date: "2026-12-01"
blockStorage:
  gbMonth: 730.0
  source: test table (round figures)
  date: "2026-12-01"
"""
# 2 OCPUs and 16 GB of VM.Standard.E4.Flex with the job's default 50 GB block volume, by hand.
PER_HOUR = 2 * 360.0 + 16 * 9.0 + 50 * 730.0 / 730
PER_SECOND = PER_HOUR / 3600
SHORT = """\
import time
time.sleep(3)
print("trained", flush=True)
"""
USAGE_DELAY = 12.0


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


def _cost(run: dict[str, Any] | None) -> dict[str, Any]:
    return dict(((run or {}).get("status") or {}).get("cost") or {})


def test_the_estimate_matches_the_table_and_the_actual_cost_arrives_after_the_usage_delay(
    world: Scenario, start_operator: Callable[..., OperatorProcess]
) -> None:
    world.admin.set_price_table(yaml_text=PRICES)
    world.admin.usage_delay(USAGE_DELAY)
    _operator(
        world,
        start_operator,
        OCIDS_COST_INTERVAL_SECONDS="1",
        OCIDS_COST_SETTLE_HOURS=str(30 / 3600),  # final 30 s after it ended
    )
    world.apply(world.job("train", SHORT, ocpus=2, memory_in_gbs=16, maximumRuntimeInMinutes=30))
    world.wait_job_active("train")
    world.apply(world.run("r1", "train"))

    # Written when the OCI run is created: the basis, the price per hour and the worst case.
    running = world.wait_run("r1", {"InProgress", "Succeeded"}, timeout=90)
    estimate = _cost(running)["estimate"]
    assert estimate["currency"] == "USD"
    basis = {k: v for k, v in estimate["basis"].items() if k != "durationSeconds"}  # set if it ended
    assert basis == {
        "shape": "VM.Standard.E4.Flex",
        "ocpus": 2.0,
        "memoryInGBs": 16.0,
        "gpus": 0,
        "nodeCount": 1,
        "blockStorageInGBs": 50,
        "pricePerHour": pytest.approx(PER_HOUR),
        "priceTable": f"{world.namespace}/prices",
        "priceDate": "2026-12-01",
    }
    assert estimate["worstCase"] == pytest.approx(PER_HOUR / 2)  # 30 minutes

    # Ended: the amount is the price per hour times the billed time, timeStarted to timeFinished.
    done = world.wait_run("r1", "Succeeded", timeout=90)
    status = done["status"]
    started, finished = parse_time(status["timeStarted"]), parse_time(status["timeFinished"])
    assert started is not None and finished is not None
    seconds = int((finished - started).total_seconds())
    estimate = _cost(done)["estimate"]
    assert estimate["basis"]["durationSeconds"] == seconds >= 3
    assert estimate["amount"] == pytest.approx(PER_SECOND * seconds, abs=1e-4)

    # OCI's actual cost: usage shows USAGE_DELAY seconds after it happened, so the whole run's cost
    # is read no sooner than that after it ended (a read before then sees only part of it).
    seen: list[dict[str, Any]] = []

    def final_actual() -> dict[str, Any] | None:
        found = dict(_cost(world.get_run("r1")).get("actual") or {})
        if found and found not in seen:
            seen.append(found)
        return found if found.get("final") else None

    final = wait_for(
        final_actual, timeout=USAGE_DELAY + 90, message=lambda: f"the actual cost final ({seen})"
    )
    # The emulator bills its own, finer, run times (the estimate counts whole seconds).
    assert final["currency"] == "USD"
    assert final["amount"] == pytest.approx(estimate["amount"], abs=1.5 * PER_SECOND), (final, estimate)
    whole = next(a for a in seen if a.get("amount") == final["amount"])
    read_at = parse_time(whole["updatedAt"])
    assert read_at is not None and (read_at - finished).total_seconds() >= USAGE_DELAY - 1, seen
    assert all(a.get("amount", 0) <= final["amount"] for a in seen), seen  # partial before, never more

    # The TrainingJob's spend: its one run, at OCI's figure.
    spend = world.wait_job_status(
        "train", lambda s: (s.get("spend") or {}).get("total") == final["amount"], "status.spend", timeout=60
    )["status"]["spend"]
    assert (spend["currency"], spend["runs"], spend["month"]) == ("USD", 1, final["amount"]), spend

    # `kubectl ocids runs train`: a COST column (`*`: OCI's actual cost), a TOTAL line and the spend.
    assert world.operator is not None
    shown = subprocess.run(
        [str(Path(sys.executable).parent / "kubectl-ocids"), "runs", "train", "-n", world.namespace],
        env=world.operator.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert "COST(USD)" in lines[0].split(), shown.stdout
    amount = f"{final['amount']:.2f}"
    assert lines[1].split()[0] == "r1" and f"{amount}*" in lines[1].split(), shown.stdout
    assert lines[2].split() == ["TOTAL", amount], shown.stdout
    assert lines[3].startswith(f"TrainingJob train spent {amount} USD on 1 ended runs"), shown.stdout


def test_without_a_price_table_runs_work_and_carry_no_estimate(
    world: Scenario, start_operator: Callable[..., OperatorProcess]
) -> None:
    world.operator = start_operator(env={"OCIDS_PRICE_TABLE": f"{world.namespace}/no-such-table"})
    world.apply(world.job("train", SHORT))
    world.wait_job_active("train")
    world.apply(world.run("r1", "train"))
    done = world.wait_run("r1", "Succeeded", timeout=90)
    assert "estimate" not in _cost(done), done["status"]
    assert world.operator.log_text().count("the price table ConfigMap") == 1  # said once, not per run


# Sleeps, then fails with 137 the first time it runs and succeeds after (MARKER_FILE remembers).
FLAKY = """\
import os, sys, time
time.sleep(2)
marker = os.environ["MARKER_FILE"]
seen = os.path.exists(marker)
open(marker, "a").write("x")
sys.exit(0 if seen else 137)
"""


def test_a_retried_runs_estimate_is_the_cost_of_all_its_attempts(
    world: Scenario, start_operator: Callable[..., OperatorProcess]
) -> None:
    _operator(world, start_operator)
    marker = world.work_dir / "flaky-marker"
    world.apply(world.job("flaky", FLAKY, ocpus=2, memory_in_gbs=16, env={"MARKER_FILE": str(marker)}))
    world.wait_job_active("flaky")
    retry = {"maxRetries": 2, "backoff": {"initialSeconds": 1}, "retryOn": {"exitCodes": [137]}}
    world.apply(world.run("flaky-1", "flaky", retryPolicy=retry))

    status = world.wait_run("flaky-1", "Succeeded", timeout=120)["status"]
    attempts = status["attempts"]
    assert [a["phase"] for a in attempts] == ["Failed", "Succeeded"], attempts
    billed = [
        int((parse_time(a["timeFinished"]) - parse_time(a["timeStarted"])).total_seconds())  # type: ignore[operator]
        for a in attempts
    ]
    assert all(seconds >= 2 for seconds in billed), attempts
    estimate = status["cost"]["estimate"]
    assert estimate["basis"]["durationSeconds"] == sum(billed)
    assert estimate["amount"] == pytest.approx(PER_SECOND * sum(billed), abs=1e-4)
    assert "worstCase" not in estimate  # no maximum runtime: no bound
