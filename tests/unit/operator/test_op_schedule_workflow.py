"""The schedule workflow: the run it makes for a time, when a timer tick is free, and a step
against an in-memory Kubernetes that counts calls."""

from __future__ import annotations

import asyncio
import datetime
from typing import Any

import pytest
from ocids_operator.api import TrainingJobRunSpec
from ocids_operator.core.errors import OutcomeKind, ReconcileError
from ocids_operator.core.schedule_plan import run_name, time_of_run
from ocids_operator.runtime import Runtime
from ocids_operator.settings import OperatorSettings
from ocids_operator.workflows import schedule as workflow
from ocids_operator.workflows.schedule import (
    due_soon,
    index_keys,
    owned_by,
    run_body,
    run_summary_of,
    scheduled_run,
    seconds_until_due,
)

WHEN = datetime.datetime(2026, 5, 1, 11, 1, tzinfo=datetime.UTC)
SCHEDULE: dict[str, Any] = {
    "metadata": {"name": "nightly", "namespace": "ml", "uid": "u-1", "generation": 2},
    "spec": {
        "jobRef": {"name": "retrain"},
        "schedule": "* * * * *",
        "runTemplate": {
            "metadata": {"labels": {"team": "ml", "ocids.io/schedule": "spoofed"}, "annotations": {"a": "b"}},
            "env": [{"name": "X", "value": "1"}],
            "deletionPolicy": "Retain",
        },
    },
}


def test_the_run_for_a_time_is_a_valid_run_named_labelled_and_owned_by_the_schedule() -> None:
    run = run_body(SCHEDULE, WHEN)
    meta = run["metadata"]
    assert meta["name"] == f"nightly-{int(WHEN.timestamp()) // 60}"
    # The operator's labels win over the template's.
    assert meta["labels"] == {
        "team": "ml",
        "ocids.io/schedule": "nightly",
        "ocids.io/scheduled-time": str(int(WHEN.timestamp())),
    }
    assert meta["annotations"] == {"a": "b"}
    assert meta["ownerReferences"] == [
        {
            "apiVersion": "ocids.io/v1alpha1",
            "kind": "TrainingJobSchedule",
            "name": "nightly",
            "uid": "u-1",
            "controller": False,
            "blockOwnerDeletion": False,
        }
    ]
    spec = TrainingJobRunSpec.model_validate(run["spec"])
    assert spec.job_ref.name == "retrain" and spec.deletion_policy == "Retain" and not spec.cancel
    assert owned_by(run, "u-1") and not owned_by(run, "u-2")
    seen = scheduled_run(
        {**run, "status": {"phase": "Failed", "nextAttemptAt": "2026-05-01T11:02:00Z"}}, "nightly"
    )
    assert seen.scheduled_time == WHEN and not seen.finished  # a pending retry is unfinished
    assert index_keys(run) == [("ml", "u-1")]
    assert run_summary_of({**run, "spec": {**run["spec"], "cancel": True}})["spec"]["cancel"] is True


def test_a_runs_time_comes_from_its_name_not_its_editable_label() -> None:
    run = run_body(SCHEDULE, WHEN)
    relabelled = {**run, "metadata": {**run["metadata"], "labels": {"ocids.io/scheduled-time": "0"}}}
    assert scheduled_run(relabelled, "nightly").scheduled_time == WHEN
    unlabelled = {**run, "metadata": {**run["metadata"], "labels": {}}}
    assert scheduled_run(unlabelled, "nightly").scheduled_time == WHEN
    # A name this schedule does not make has no time (a run renamed is not possible; another's is not ours).
    assert time_of_run("nightly", "nightly-x") is None
    assert time_of_run("nightly", "other-29627221") is None
    long = "a" * 80
    assert time_of_run(long, run_name(long, WHEN)) == WHEN


def test_a_time_due_before_the_next_tick_is_waited_for_so_a_short_deadline_is_met() -> None:
    settled = {**SCHEDULE, "status": {"observedGeneration": 2, "nextScheduleTime": "2026-05-01T11:02:00Z"}}
    due = datetime.datetime(2026, 5, 1, 11, 2, tzinfo=datetime.UTC)
    wait = seconds_until_due(settled, due - datetime.timedelta(seconds=7), 10.0)
    assert wait is not None and 7.0 <= wait < 7.5
    assert seconds_until_due(settled, due - datetime.timedelta(seconds=30), 10.0) is None  # a later tick
    assert seconds_until_due(settled, due + datetime.timedelta(seconds=1), 10.0) is None  # due already
    suspended = {**settled, "status": {**settled["status"], "phase": "Suspended"}}
    assert seconds_until_due(suspended, due - datetime.timedelta(seconds=7), 10.0) is None


def test_a_tick_with_nothing_due_costs_nothing() -> None:
    now = WHEN + datetime.timedelta(seconds=20)
    settled = {**SCHEDULE, "status": {"observedGeneration": 2, "nextScheduleTime": "2026-05-01T11:02:00Z"}}
    assert not due_soon(settled, now)
    assert due_soon(settled, now + datetime.timedelta(seconds=40))  # the next time came
    assert due_soon({**settled, "status": {**settled["status"], "active": ["nightly-1"]}}, now)
    assert due_soon({**settled, "metadata": {**SCHEDULE["metadata"], "generation": 3}}, now)  # an edit
    failed = {**settled, "status": {"observedGeneration": 2, "phase": "Failed"}}
    assert not due_soon(failed, now)  # stalled on this spec until it changes
    assert not due_soon({**settled, "status": {"observedGeneration": 2, "phase": "Suspended"}}, now)
    assert due_soon({**SCHEDULE, "status": {}}, now)


class Kube:
    """The API server as the schedule step sees it; counts every call."""

    def __init__(self) -> None:
        self.runs: dict[str, dict[str, Any]] = {}
        self.calls: list[str] = []
        self.job: dict[str, Any] | None = {"metadata": {"name": "retrain"}, "spec": {}}

    async def get_training_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        self.calls.append("get job")
        return self.job

    async def delete_training_job_run(self, namespace: str, name: str, uid: str) -> bool:
        self.calls.append("delete")
        self.runs.pop(name, None)
        return True

    async def list_labeled_training_job_runs(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        self.calls.append("list")
        return list(self.runs.values())

    async def create_training_job_run(self, namespace: str, body: dict[str, Any]) -> dict[str, Any] | None:
        self.calls.append("create")
        name = body["metadata"]["name"]
        if name in self.runs:
            return None
        self.runs[name] = {**body, "metadata": {**body["metadata"], "uid": f"uid-{name}"}}
        return self.runs[name]

    async def get_training_job_run(self, namespace: str, name: str) -> dict[str, Any] | None:
        self.calls.append("get")
        return self.runs.get(name)


class Index:
    """kopf's index of runs by (namespace, schedule uid), filled from `kube` as the watch would."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube

    def get(self, key: tuple[str, str], default: Any = ()) -> list[dict[str, Any]]:
        return [run_summary_of(r) for r in self.kube.runs.values() if key in index_keys(r)] or default


def _rt(kube: Kube) -> Runtime:
    return Runtime(settings=OperatorSettings(), oci=None, kube=kube, poller=None)  # type: ignore[arg-type]


def _every_minute(status: dict[str, Any], **spec: Any) -> dict[str, Any]:
    now = datetime.datetime.now(datetime.UTC)
    created = (now - datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "metadata": {**SCHEDULE["metadata"], "creationTimestamp": created, "generation": 2},
        "spec": {"jobRef": {"name": "retrain"}, "schedule": "* * * * *", **spec},
        "status": status,
    }


def _latest_minute() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(second=0, microsecond=0)


def _stamp(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_tick_following_an_unchanged_long_run_makes_no_call_and_writes_nothing() -> None:
    kube = Kube()
    latest = _latest_minute()
    run = run_body(SCHEDULE, latest)
    kube.runs[run["metadata"]["name"]] = {**run, "metadata": {**run["metadata"], "uid": "uid-run"}}
    body = _every_minute({}, concurrencyPolicy="Forbid")
    memory: dict[str, Any] = {}
    first = asyncio.run(workflow.reconcile(_rt(kube), body, Index(kube), memory))
    assert first.status is not None and first.status["active"] == [run["metadata"]["name"]]
    # The next tick: the API server holds that status; the run still runs; nothing is due.
    body = {**body, "status": dict(first.status)}
    kube.calls.clear()
    again = asyncio.run(workflow.reconcile(_rt(kube), body, Index(kube), memory))
    if _latest_minute() == latest:  # (a minute turning between the two steps makes one due)
        assert not again.status and again.events == [] and kube.calls == []


def test_a_step_queued_behind_another_does_not_report_the_same_times_again() -> None:
    kube = Kube()
    latest = _latest_minute()
    # Down 5 minutes: the step makes the latest run and reports 4 missed.
    body = _every_minute({"lastScheduleTime": _stamp(latest - datetime.timedelta(minutes=5))})
    memory: dict[str, Any] = {}
    first = asyncio.run(workflow.reconcile(_rt(kube), body, Index(kube), memory))
    assert [reason for _, reason, _ in first.events] == ["MissedSchedules", "RunCreated"]
    # A tick queued behind it holds the body from before its status write: nothing to report.
    second = asyncio.run(workflow.reconcile(_rt(kube), body, Index(kube), memory))
    if _latest_minute() == latest:
        assert [reason for _, reason, _ in second.events] == [], second.events
        assert second.status is not None and second.status["missedSchedules"] == 4


def test_a_run_name_taken_by_another_object_is_not_counted_as_this_schedules_run() -> None:
    kube = Kube()
    latest = _latest_minute()
    name = run_name("nightly", latest)
    kube.runs[name] = {"metadata": {"name": name, "uid": "someone-else", "ownerReferences": []}}
    body = _every_minute({"lastScheduleTime": _stamp(latest - datetime.timedelta(minutes=1))})
    with pytest.raises(ReconcileError) as caught:
        asyncio.run(workflow.reconcile(_rt(kube), body, Index(kube), {}))
    assert caught.value.outcome.reason == "RunNameTaken" and name in caught.value.outcome.message


def test_a_run_just_made_counts_before_the_index_shows_it() -> None:
    kube = Kube()
    latest = _latest_minute()
    body = _every_minute(
        {"lastScheduleTime": _stamp(latest - datetime.timedelta(minutes=1))}, concurrencyPolicy="Forbid"
    )
    memory: dict[str, Any] = {}
    first = asyncio.run(workflow.reconcile(_rt(kube), body, Index(kube), memory))
    made = run_name("nightly", latest)
    assert first.status["active"] == [made]
    # The watch has not brought it yet: the next step still counts it as active (status.active does
    # not flap), and as the unfinished run Forbid waits for.
    nothing = Index(Kube())
    again = asyncio.run(
        workflow.reconcile(_rt(kube), {**body, "status": dict(first.status)}, nothing, memory)
    )
    if _latest_minute() == latest:
        assert not again.status and again.events == []
    else:  # the next minute came meanwhile: Forbid skips it for the run the index does not show
        assert [reason for _, reason, _ in again.events] == ["ScheduleSkipped"], again.events


def _stalled(status: Any) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == "Stalled")


def test_a_run_template_the_model_refuses_stalls_the_schedule_naming_the_field_and_makes_no_run() -> None:
    kube = Kube()
    latest = _latest_minute()
    template = {"metrics": [{"name": "loss", "regex": "loss=[0-9.]+"}]}  # no capture group
    body = _every_minute(
        {"lastScheduleTime": _stamp(latest - datetime.timedelta(minutes=1))}, runTemplate=template
    )
    with pytest.raises(ReconcileError) as caught:
        asyncio.run(workflow.reconcile(_rt(kube), body, Index(kube), {}))
    assert caught.value.outcome.kind is OutcomeKind.STALLED and caught.value.outcome.reason == "InvalidSpec"
    assert "spec.runTemplate.metrics.0.regex" in caught.value.outcome.message
    assert kube.runs == {} and kube.calls == []


def test_a_schedule_with_a_bad_spec_is_still_deleted_with_its_runs() -> None:
    kube = Kube()
    run = run_body(SCHEDULE, WHEN)
    kube.runs[run["metadata"]["name"]] = {**run, "metadata": {**run["metadata"], "uid": "uid-run"}}
    body = _every_minute({}, runTemplate={"metrics": [{"name": "loss", "regex": "("}]})
    first = asyncio.run(workflow.finalize(_rt(kube), body))
    assert "delete" in kube.calls and first.requeue_after is not None  # waits for them to go
    assert asyncio.run(workflow.finalize(_rt(kube), body)).requeue_after is None and kube.runs == {}


def test_a_missing_training_job_stalls_the_schedule_naming_job_ref_and_makes_no_run_until_it_exists() -> None:
    kube = Kube()
    kube.job = None
    latest = _latest_minute()
    before = {"lastScheduleTime": _stamp(latest - datetime.timedelta(minutes=3)), "observedGeneration": 2}
    body = _every_minute(before)
    first = asyncio.run(workflow.reconcile(_rt(kube), body, Index(kube), {}))
    assert kube.runs == {} and first.status["phase"] == "Pending"
    assert (
        _stalled(first.status)["status"] == "True"
        and _stalled(first.status)["reason"] == "TrainingJobNotFound"
    )
    assert "TrainingJob ml/retrain (spec.jobRef.name) does not exist" in first.status["message"]
    assert [reason for _, reason, _ in first.events] == ["TrainingJobNotFound"]
    assert "lastScheduleTime" not in first.status  # the times passed stay to be handled
    stalled_body = {**body, "status": {**before, **dict(first.status)}}
    # Missing just now: the next tick looks again (a TrainingJob applied just after its schedule).
    assert due_soon(stalled_body, datetime.datetime.now(datetime.UTC))
    # Missing for minutes: said once (the next look writes nothing), looked for every minute only.
    long_ago = _stamp(latest - datetime.timedelta(minutes=5))
    conditions = [{**c, "lastTransitionTime": long_ago} for c in first.status["conditions"]]
    stalled_body["status"]["conditions"] = conditions
    assert asyncio.run(workflow.reconcile(_rt(kube), stalled_body, Index(kube), {})) == workflow.Outcome()
    assert not due_soon(stalled_body, datetime.datetime.now(datetime.UTC))
    # The TrainingJob appears: the latest time missed runs, the earlier ones count as missed.
    kube.job = {"metadata": {"name": "retrain"}, "spec": {}}
    workflow._JOB_LOOKS.clear()
    assert due_soon(stalled_body, datetime.datetime.now(datetime.UTC))
    healed = asyncio.run(workflow.reconcile(_rt(kube), stalled_body, Index(kube), {}))
    assert list(kube.runs) == [run_name("nightly", _latest_minute())] or _latest_minute() != latest
    assert _stalled(healed.status)["status"] == "False" and healed.status["phase"] == "Active"
