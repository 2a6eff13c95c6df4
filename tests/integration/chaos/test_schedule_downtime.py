"""An every-minute TrainingJobSchedule while the operator is really stopped for 3 minutes: back up,
it makes ONE catch-up run (for the latest minute), counts the others as missed in status and tells
so in a MissedSchedules Event, and never runs the missed minutes one by one.

Minutes of real downtime: only under `make chaos` (OCIDS_CHAOS=full). The fast variant in `make test`
is tests/integration/operator/test_operator_schedule.py, which starts the operator on a schedule
whose status says its last run was 3 minutes ago.
"""

from __future__ import annotations

import datetime
import time
from typing import Any

import operator_scripts as scripts
import pytest
from chaos_figures import FULL, report
from operator_harness import RUNS, Scenario, wait_for
from test_operator_schedule import FAST_TICKS, SCHEDULES, schedule, wait_schedules_crd

DOWNTIME_SECONDS = 185  # three minute boundaries pass, whatever second it starts at (four at most)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(600),
    pytest.mark.skipif(not FULL, reason="minutes of downtime: OCIDS_CHAOS=full (make chaos)"),
]


def scheduled_times(world: Scenario, name: str) -> list[datetime.datetime]:
    runs = world.kube.list_objects(RUNS, world.namespace)
    labels = [(r["metadata"].get("labels") or {}) for r in runs]
    return sorted(
        datetime.datetime.fromtimestamp(int(label["ocids.io/scheduled-time"]), datetime.UTC)
        for label in labels
        if label.get("ocids.io/schedule") == name
    )


def test_three_minutes_down_then_one_catch_up_run_and_the_rest_missed(
    world: Scenario, start_operator: Any
) -> None:
    wait_schedules_crd(world.kube)
    operator = start_operator(env=FAST_TICKS)
    world.apply(world.job("quick", scripts.FAIL, env={"EXIT_CODE": "0"}))
    world.apply(schedule("every-minute", world.namespace, "quick", successfulRunsHistoryLimit=10))
    first = wait_for(lambda: scheduled_times(world, "every-minute"), timeout=90, message="the first run")[0]

    operator.stop()
    stopped = datetime.datetime.now(datetime.UTC)
    time.sleep(DOWNTIME_SECONDS)  # the outage itself: nothing to wait for but the clock
    operator.start()
    restarted = datetime.datetime.now(datetime.UTC)

    missed = world.wait_event("every-minute", "MissedSchedules", timeout=60)
    status = (world.kube.get(SCHEDULES, "every-minute", world.namespace) or {})["status"]
    passed = int((restarted.replace(second=0) - stopped.replace(second=0)).total_seconds() // 60)
    after = [t for t in scheduled_times(world, "every-minute") if first < t <= restarted]
    # One catch-up run, for the latest minute that passed while down.
    assert len(after) == 1, after
    assert after[0] == restarted.replace(second=0, microsecond=0), (after, restarted)
    assert status["missedSchedules"] == passed - 1 >= 2, (status, passed)
    assert f"{passed - 1} runs missed between" in missed["message"], missed
    report(
        "schedule_downtime",
        downtime_seconds=DOWNTIME_SECONDS,
        minutes_passed=passed,
        catch_up_runs=len(after),
        missed=status["missedSchedules"],
    )
