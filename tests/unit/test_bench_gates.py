"""The gates benchmark's pure parts: start delays, what each mode sets up, the differences it reports."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import gates_bench
import gates_report
import scale_stats as stats
from ocids_operator.api.budget import TrainingBudget
from ocids_operator.core.price_table import PRICES_KEY, parse_price_table


def run(name: str, created: str, attempted: str | None) -> dict[str, Any]:
    status = {"createAttemptedAt": attempted} if attempted else {}
    return {"metadata": {"name": name, "creationTimestamp": created}, "status": status}


def test_start_delay_is_creation_to_the_create_attempt_and_leaves_out_runs_never_attempted() -> None:
    items = [
        run("a", "2026-12-07T23:00:00Z", "2026-12-07T23:00:00.400000+00:00"),
        run("b", "2026-12-07T23:00:01Z", "2026-12-07T23:00:03.250000Z"),
        run("held", "2026-12-07T23:00:01Z", None),
    ]
    assert stats.start_delays(items) == {"a": pytest.approx(0.4), "b": pytest.approx(2.25)}
    accepted = {"a": stats.parse_rfc3339("2026-12-07T23:00:01.5Z")}
    assert stats.create_delays(items, accepted) == {"a": pytest.approx(1.5)}


def test_budget_and_kueue_writes_count_as_writes_per_run() -> None:
    writes = {
        ("PATCH", "trainingbudgets", "status", "200"): 3.0,
        ("POST", "workloads", "", "201"): 10.0,
        ("PUT", "workloads", "status", "200"): 20.0,
        ("GET", "configmaps", "", "200"): 5.0,
    }
    figures = stats.writes_per_run(writes, runs=10, applied_by_bench=0)
    assert figures["by_verb_resource"] == {
        "PATCH trainingbudgets/status 200": pytest.approx(0.3),
        "POST workloads 201": 1.0,
        "PUT workloads/status 200": 2.0,
    }


def test_every_gate_looks_and_none_can_hold_the_n_runs() -> None:
    n = 100
    modes = {v.name: v for v in gates_bench.variants(n, with_kueue=True)}
    assert list(modes) == ["none", "gates", "kueue"]
    # The same jobs and price table everywhere: the gates are the only difference.
    assert all(v.job_spec == {"maximumRuntimeInMinutes": 60} for v in modes.values())
    assert all(v.env["OCIDS_PRICE_TABLE"] == "bench-prices/prices" for v in modes.values())
    assert "OCIDS_MAX_ACTIVE_RUNS" not in modes["none"].env and modes["none"].prepare is None
    assert int(modes["gates"].env["OCIDS_MAX_ACTIVE_RUNS"]) > n
    assert modes["kueue"].run_labels == {gates_bench.QUEUE_LABEL: gates_bench.QUEUE}
    # The manifests are valid as the operator reads them; the limit dwarfs N runs' worst case.
    table = parse_price_table(gates_bench.price_table()["data"][PRICES_KEY], "bench")
    budget = TrainingBudget.model_validate(gates_bench.budget("ns"))
    assert budget.spec.limit.amount > n * 10 and table.currency == budget.spec.limit.currency
    queue = gates_bench.kueue_objects("ns", n)[1]["spec"]["resourceGroups"][0]
    assert queue["coveredResources"] == ["cpu", "memory"]
    assert queue["flavors"][0]["resources"][0]["nominalQuota"] >= n  # 1 OCPU a run
    assert [v.name for v in gates_bench.variants(n, with_kueue=False)] == ["none", "gates"]


def result(oci: float, writes: float, delay: float, by_op: dict[str, float]) -> dict[str, Any]:
    return {
        "n": 100,
        "poll_interval_s": 10.0,
        "oci_calls_per_run": oci,
        "kube_writes_per_run": writes,
        "kube_events_per_run": 1.0,
        "start_delay_p50_s": delay,
        "start_delay_p95_s": None,
        "oci_calls_by_operation": by_op,
        "kube_writes_by_verb_resource": {},
        "kube_events_by_verb": {},
    }


def test_the_report_gives_each_mode_and_what_it_adds_to_the_ungated_one() -> None:
    results = {
        "none": result(2.0, 4.0, 1.5, {"CreateJobRun": 1.0, "ListJobRuns": 1.0}),
        "gates": result(2.0, 4.5, 1.75, {"CreateJobRun": 1.0, "ListJobRuns": 1.0}),
        "kueue": result(2.0, 7.0, 3.0, {"CreateJobRun": 1.0, "ListJobRuns": 1.0, "GetJob": 0.01}),
    }
    doc = gates_report.document(results, {"jobs": 10, "run_seconds": 30.0, "kueue": "v0.17.0"})
    assert doc["added"]["gates"]["kube_writes_per_run"] == pytest.approx(0.5)
    assert doc["added"]["kueue"]["start_delay_p50_s"] == pytest.approx(1.5)
    assert doc["added"]["kueue"]["start_delay_p95_s"] is None  # not measured: not invented
    assert doc["added"]["gates"]["oci_calls_by_operation"] == {}
    assert doc["added"]["kueue"]["oci_calls_by_operation"] == {"GetJob": pytest.approx(0.01)}
    text = gates_report.table(doc)
    assert "+gates" in text and "+kueue" in text and "+0.50" in text and "GetJob=+0.01" in text


def test_events_are_told_apart_by_who_posted_them_and_why_counting_repeats() -> None:
    items = [
        {"reason": "WaitingForQuota", "source": {"component": "ocids-operator"}, "count": 1},
        {"reason": "WaitingForQuota", "source": {"component": "ocids-operator"}},
        {"reason": "QuotaReserved", "reportingComponent": "kueue-admission", "count": 2},
    ]
    assert stats.events_by_reason(items, runs=2) == {
        "kueue-admission QuotaReserved": 1.0,
        "ocids-operator WaitingForQuota": 1.0,
    }


def test_a_kueue_runs_start_delay_splits_into_gate_admission_and_wakeup() -> None:
    runs = [
        {
            "metadata": {"name": "a", "uid": "u-a", "creationTimestamp": "2026-12-07T23:00:00Z"},
            "status": {"createAttemptedAt": "2026-12-07T23:00:07.500000Z"},
        },
        # Not admitted yet: only its gate step is known.
        {"metadata": {"name": "b", "uid": "u-b", "creationTimestamp": "2026-12-07T23:00:00Z"}},
        {"metadata": {"name": "unlabelled", "uid": "u-c", "creationTimestamp": "2026-12-07T23:00:00Z"}},
    ]

    def workload(owner: str, created: str, admitted: str | None) -> dict[str, Any]:
        admission = {"type": "Admitted", "status": "True", "lastTransitionTime": admitted}
        conditions = [admission] if admitted else []
        return {
            "metadata": {
                "creationTimestamp": created,
                "ownerReferences": [{"uid": owner, "controller": True}],
            },
            "status": {"conditions": [{"type": "QuotaReserved", "status": "True"}, *conditions]},
        }

    workloads = [
        workload("u-a", "2026-12-07T23:00:02Z", "2026-12-07T23:00:05Z"),
        workload("u-b", "2026-12-07T23:00:03Z", None),
    ]
    steps = stats.workload_steps(runs, workloads)
    assert steps == {
        "gate": {"a": 2.0, "b": 3.0},
        "admission": {"a": 3.0},
        "wakeup": {"a": pytest.approx(2.5)},
    }
