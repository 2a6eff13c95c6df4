"""TrainingBudget's pure plan as a table (budget_scenarios/budget_plan.yaml): the period window,
spent and committed, the gate's answer for a run, and the budget's status."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from ocids_operator.core.admission import Hold, Refuse
from ocids_operator.core.budget_plan import (
    Budget,
    budget_problem,
    budget_status,
    coverage,
    decide,
    held_runs,
    selector_problem,
    selects,
    unchanged,
    usage,
    window_of,
)

TABLE = yaml.safe_load((Path(__file__).parent / "budget_scenarios" / "budget_plan.yaml").read_text())
DEFAULTS = TABLE["defaults"]


def _entry(run: dict[str, Any]) -> dict[str, Any]:
    status: dict[str, Any] = {}
    if run.get("active"):
        status = {"phase": "Running", "jobRunId": "ocid1.datasciencejobrun.oc1..r", "createAttemptedAt": "x"}
    elif run.get("reserved") is not None:
        status = {"createAttemptedAt": "reserved"}
    elif run.get("finished"):
        status = {"phase": "Succeeded", "timeFinished": run["finished"]}
        if run.get("started"):
            status["timeStarted"] = run["started"]
    estimate: dict[str, Any] = {}
    if run.get("worst") is not None:
        estimate["worstCase"] = run["worst"]
    if run.get("estimate") is not None:
        estimate["amount"] = run["estimate"]
    if run.get("price") is not None:
        estimate["basis"] = {"pricePerHour": run["price"]}
    cost: dict[str, Any] = {"estimate": estimate} if estimate else {}
    if run.get("actual") is not None:
        cost["actual"] = {"amount": run["actual"], "final": run.get("final", False)}
    if cost:
        status["cost"] = cost
    return {
        "metadata": {"name": run["name"], "namespace": "ns", "uid": f"uid-{run['name']}"},
        "spec": {"jobRef": {"name": run.get("job", "train")}},
        "status": status,
    }


def _time(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.parametrize("scenario", TABLE["scenarios"], ids=[s["name"] for s in TABLE["scenarios"]])
def test_budget_plan(scenario: dict[str, Any]) -> None:
    case = {**DEFAULTS, **scenario}
    want = case["expect"]
    budget = Budget.of("team", case["spec"])
    window = window_of(budget.period, _time(case["now"]))
    entries = [_entry(run) for run in case["runs"]]
    reserved = {f"uid-{r['name']}": r["reserved"] for r in case["runs"] if r.get("reserved") is not None}
    covered = coverage(budget, case["jobs"])
    used = usage(entries, covered, window, reserved)

    if "start" in want:
        assert (window.start, window.end) == (_time(want["start"]), _time(want["end"]))
    for key in ("spent", "committed", "runs_counted"):
        if key in want:
            assert getattr(used, key) == pytest.approx(want[key]), key

    asking = case["asking"]
    answer = None
    valid = selector_problem(budget.selector) is None
    if valid and selects(budget.selector, case["jobs"].get(asking["job"])):
        answer = decide(
            budget,
            window,
            used,
            asking["worst"],
            asking.get("problem"),
            case["table_currency"],
            asking["job"],
        )
    if "answer" in want:
        kinds = {"Fits": type(None), "Hold": Hold, "Refuse": Refuse}
        assert isinstance(answer, kinds[want["answer"]]), answer
    if "reason" in want:
        assert answer is not None and answer.reason.value == want["reason"]
    if "message" in want:
        assert answer is not None and answer.message == want["message"]
    if "message_has" in want:
        assert answer is not None and want["message_has"] in answer.message, answer.message

    problem = budget_problem(budget, selector_problem(budget.selector), case["table_currency"], None)
    status = budget_status(
        budget=budget,
        window=window,
        used=used,
        held=held_runs(entries, covered, {}, "team"),
        problem=problem,
        previous=None,
        generation=1,
        now="2026-12-15T10:00:00Z",
    )
    if "phase" in want:
        assert status["phase"] == want["phase"]
    if "remaining" in want:
        assert status["remaining"] == pytest.approx(want["remaining"])
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    if "status_reason" in want:
        assert ready["reason"] == want["status_reason"]
    if "status_message_has" in want:
        assert want["status_message_has"] in status["message"], status["message"]
    if status["phase"] == "Failed":
        stalled = next(c for c in status["conditions"] if c["type"] == "Stalled")
        assert stalled["status"] == "True" and ready["status"] == "False"
    # Written again with the same figures, it changes nothing a reader sees: the timer makes no write.
    assert unchanged(status, dict(status))


def test_held_runs_oldest_first_and_listed_under_the_budget_that_held_them() -> None:
    def waiting(name: str, created: str, reason: str) -> dict[str, Any]:
        return {
            "metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}", "creationTimestamp": created},
            "spec": {"jobRef": {"name": "train"}},
            "status": {"phase": "Pending", "conditions": [{"type": "Ready", "reason": reason}]},
        }

    entries = [
        waiting("late", "2026-12-02T00:00:00Z", "BudgetExceeded"),
        waiting("early", "2026-12-01T00:00:00Z", "NoMaximumRuntime"),
        waiting("capped", "2026-12-01T00:00:00Z", "ActiveRunLimit"),
        waiting("elsewhere", "2026-12-01T00:00:00Z", "BudgetExceeded"),
    ]
    everything = lambda entry: True  # noqa: E731
    held_by = {"uid-elsewhere": "other-budget"}
    assert held_runs(entries, everything, held_by, "team") == ["early", "late"]
    assert held_runs(entries, everything, held_by, "other-budget") == ["early", "elsewhere", "late"]
