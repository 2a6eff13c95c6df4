"""What the operator keeps per followed run (issue 19: memory at thousands of runs) is smaller than
the run, and every write computed from it is the one the whole status gave."""

from __future__ import annotations

import datetime as dt
import sys
from typing import Any

import pytest
from ocids_operator.api.run_policies import RetryPolicy
from ocids_operator.core.cost import ended_cost
from ocids_operator.core.followed_status import followed_status
from ocids_operator.core.history import finished_at, run_summary, runs_to_prune
from ocids_operator.core.retry import after_attempt
from ocids_operator.core.run_entry import hold_reason, is_active, is_waiting, run_entry
from ocids_operator.core.run_plan import RunView
from ocids_operator.core.run_status import run_status

RUN_ID = "ocid1.datasciencejobrun.oc1.iad.amaaaaaaexampleuniqueidentifier0001"
COMPARTMENT = "ocid1.compartment.oc1..aaaaaaaaexamplecompartment"
MESSAGE = f"OCI job run {RUN_ID} is IN_PROGRESS: Job run is running the artifact"
REGION = "us-ashburn-1"
NOW = dt.datetime(2026, 12, 8, 3, 30, tzinfo=dt.UTC)


def condition(kind: str, status: str, when: str, reason: str = "InProgress") -> dict[str, Any]:
    return {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": MESSAGE,
        "lastTransitionTime": when,
        "observedGeneration": 1,
    }


def in_progress_status(**more: Any) -> dict[str, Any]:
    """A followed run's status as the operator wrote it."""
    return {
        "phase": "InProgress",
        "jobRunId": RUN_ID,
        "jobId": "ocid1.datasciencejob.oc1.iad.amaaaaaaexamplejob",
        "jobRevision": 1,
        "infrastructureType": "STANDALONE",
        "lifecycleDetails": "Job run is running the artifact",
        "timeAccepted": "2026-12-08T03:00:00Z",
        "timeStarted": "2026-12-08T03:01:00Z",
        "duration": "29m",
        "consoleUrl": f"https://cloud.oracle.com/data-science/job-runs/{RUN_ID}?region={REGION}",
        "logs": {
            "logGroupId": "ocid1.loggroup.oc1.iad.example",
            "logId": "ocid1.log.oc1.iad.example",
            "url": "https://cloud.oracle.com/logging/search?searchQuery=" + "x" * 300,
        },
        "cost": {
            "estimate": {"currency": "USD", "basis": {"pricePerHour": 2.0, "shape": "VM.Standard.E4.Flex"}}
        },
        "createAttemptedAt": "2026-12-08T02:59:59Z",
        "observedGeneration": 1,
        "message": MESSAGE,
        "conditions": [
            condition("Ready", "False", "2026-12-08T02:59:59Z"),
            condition("Reconciling", "True", "2026-12-08T02:59:59Z"),
            condition("Stalled", "False", "2026-12-08T02:59:59Z"),
        ],
        **more,
    }


def deep_size(value: Any) -> int:
    """Bytes of a value and what it holds, dict keys left out (one copy each, in the code)."""
    size = sys.getsizeof(value)
    if isinstance(value, dict):
        size += sum(deep_size(v) for v in value.values())
    elif isinstance(value, list):
        size += sum(deep_size(item) for item in value)
    return size


def ended(state: str, details: str) -> RunView:
    return RunView(
        RUN_ID,
        "ocid1.datasciencejob.oc1.iad.amaaaaaaexamplejob",
        COMPARTMENT,
        state,
        details,
        time_accepted=dt.datetime(2026, 12, 8, 3, 0, tzinfo=dt.UTC),
        time_started=dt.datetime(2026, 12, 8, 3, 1, tzinfo=dt.UTC),
        time_finished=dt.datetime(2026, 12, 8, 3, 31, tzinfo=dt.UTC),
        log_group_id="ocid1.loggroup.oc1.iad.example",
        log_id="ocid1.log.oc1.iad.example",
    )


def test_a_followed_run_keeps_what_its_writes_read_without_urls_or_messages() -> None:
    full = in_progress_status()
    kept = followed_status(full)
    assert deep_size(kept) < 0.6 * deep_size(full)
    assert "consoleUrl" not in kept and "url" not in kept["logs"]
    assert all("message" not in c for c in kept["conditions"])
    assert kept["logs"] == {
        "logGroupId": "ocid1.loggroup.oc1.iad.example",
        "logId": "ocid1.log.oc1.iad.example",
    }


@pytest.mark.parametrize(
    ("state", "details"),
    [
        ("IN_PROGRESS", "Job run is running the artifact"),  # news that is no phase change
        ("SUCCEEDED", "Job run succeeded"),
        ("FAILED", "Job run failed: exit code 3"),
        ("CANCELED", None),
    ],
)
@pytest.mark.parametrize("policy", [None, RetryPolicy.model_validate({"maxRetries": 2})])
def test_the_write_for_a_read_is_the_same_from_what_is_kept_as_from_the_whole_status(
    state: str, details: str | None, policy: RetryPolicy | None
) -> None:
    """The poller's write path (run_status, the retry decision, the cost of an ended run) reads
    the kept status: it writes exactly what it wrote from the whole one."""
    view = ended(state, details)
    full = in_progress_status()
    kept = followed_status(full)

    def write(previous: dict[str, Any]) -> dict[str, Any]:
        status = run_status(view, REGION, previous, 1, "2026-12-08T03:31:00Z")
        status = after_attempt(previous, status, policy, NOW, 1)
        cost = ended_cost(previous, status, NOW)
        return {**status, "cost": None if cost is None else cost.model_dump(mode="json", by_alias=True)}

    assert write(kept) == write(full)


def test_a_retried_run_keeps_its_earlier_attempts_and_their_cost() -> None:
    attempt = {"attempt": 1, "jobRunId": "ocid1.run.1", "phase": "Failed", "retried": True,
               "timeStarted": "2026-12-08T02:00:00Z", "timeFinished": "2026-12-08T02:30:00Z"}  # fmt: skip
    full = in_progress_status(attempt=2, attempts=[attempt])
    kept = followed_status(full)
    assert kept["attempts"] == [attempt] and kept["attempt"] == 2
    view = ended("SUCCEEDED", "Job run succeeded")
    policy = RetryPolicy.model_validate({"maxRetries": 2})
    from_kept = after_attempt(kept, run_status(view, REGION, kept, 1, "2026-12-08T03:31:00Z"), policy, NOW, 1)
    from_full = after_attempt(full, run_status(view, REGION, full, 1, "2026-12-08T03:31:00Z"), policy, NOW, 1)
    assert dict(from_kept) == dict(from_full)
    assert ended_cost(kept, from_kept, NOW) == ended_cost(full, from_full, NOW)


def run_body(name: str, status: dict[str, Any], namespace: str = "team-a") -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": "".join(namespace),  # a string of its own, as each parsed body has
            "uid": f"uid-{name}",
            "creationTimestamp": "2026-12-08T02:59:58Z",
            "labels": {"ocids.io/job": "".join("train")},
            "ownerReferences": [
                {"kind": "TrainingJob", "name": "train", "uid": "uid-train", "apiVersion": "x"}
            ],
            "managedFields": [{"manager": "kopf", "fieldsV1": {"f:status": {}}}],
        },
        "spec": {"jobRef": {"name": "train"}, "maximumRuntimeInMinutes": 60},
        "status": status,
    }


def ended_status() -> dict[str, Any]:
    status = in_progress_status(phase="Succeeded", timeFinished=None, metricsFinal=True)
    status["conditions"] = [
        condition("Ready", "True", "2026-12-08T03:31:00Z", "Succeeded"),
        condition("Reconciling", "False", "2026-12-08T03:31:00Z", "Succeeded"),
        condition("Stalled", "False", "2026-12-08T02:59:59Z", "Succeeded"),
        condition("Succeeded", "True", "2026-12-08T03:31:02Z", "Succeeded"),
        condition("Failed", "False", "2026-12-08T02:59:59Z", "Succeeded"),
    ]
    return status


@pytest.mark.parametrize("status", [in_progress_status(), ended_status(), {}])
def test_the_index_entries_answer_their_readers_as_the_run_does(status: dict[str, Any]) -> None:
    body = run_body("r1", status)
    entry, summary = run_entry(body), run_summary(body)
    assert hold_reason(entry) == hold_reason(body)
    assert (is_active(entry), is_waiting(entry)) == (is_active(body), is_waiting(body))
    assert finished_at(entry["status"]) == finished_at(status)
    assert finished_at(summary["status"]) == finished_at(status)
    assert len(entry["status"].get("conditions", [])) <= 2
    assert len(summary["status"].get("conditions", [])) <= 1


def test_history_limits_prune_the_same_runs_from_the_summaries() -> None:
    bodies = []
    for i in range(4):
        status = ended_status()
        status["conditions"][3]["lastTransitionTime"] = f"2026-12-08T03:3{i}:00Z"
        bodies.append(run_body(f"r{i}", status))
    from_bodies = [run["metadata"]["name"] for run in runs_to_prune(bodies, 2, 2)]
    from_summaries = [
        run["metadata"]["name"] for run in runs_to_prune([run_summary(b) for b in bodies], 2, 2)
    ]
    assert from_summaries == from_bodies == ["r0", "r1"]


def test_runs_of_one_namespace_and_job_share_one_copy_of_their_repeated_strings() -> None:
    one, two = run_body("r1", in_progress_status()), run_body("r2", in_progress_status())
    assert one["metadata"]["namespace"] is not two["metadata"]["namespace"]
    for index in (run_entry, run_summary):
        first, second = index(one), index(two)
        assert first["metadata"]["namespace"] is second["metadata"]["namespace"]
        assert first["metadata"]["labels"]["ocids.io/job"] is second["metadata"]["labels"]["ocids.io/job"]


def test_the_shared_string_table_is_bounded_and_never_the_interpreters(monkeypatch: Any) -> None:
    # Strings unique to one run (uid, name, timestamps) pass through it: it must not grow forever
    # (sys.intern's table would, and on CPython 3.12 interned strings are never freed).
    from ocids_operator.core import shared_strings

    monkeypatch.setattr(shared_strings, "MAX_SHARED_STRINGS", 10)
    monkeypatch.setattr(shared_strings, "_TABLE", {})
    for i in range(25):
        shared_strings.shared({"uid": f"uid-{i}"})
    assert len(shared_strings._TABLE) <= 10
    first = shared_strings.shared("".join(["ml-", "team"]))
    assert shared_strings.shared("".join(["ml-", "team"])) is first
