"""engine OCI (core/oci_schedule_plan.py): which OCI runs become TrainingJobRuns, which are canceled
by concurrencyPolicy, and when a TrainingJobRun may follow an OCI run it did not create."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from ocids_operator.core.model import TAG_NAMESPACE
from ocids_operator.core.oci_schedule_plan import (
    TAG_SCHEDULE_UID,
    TAG_SKIPPED,
    adoption_refusal,
    firing_failed,
    plan_adoption,
    schedule_runs_of,
    skipped_to_delete,
)
from ocids_operator.core.run_plan import RunView

T0 = datetime.datetime(2026, 3, 7, 10, 0, tzinfo=datetime.UTC)
MINUTES = int(T0.timestamp()) // 60


SCHEDULE_ID = "ocid1.datascienceschedule.s"


def oci_run(
    run_id: str,
    minute: int,
    state: str = "SUCCEEDED",
    uid: str = "uid-s",
    created_by: str = SCHEDULE_ID,
    **tags: str,
) -> RunView:
    return RunView(
        id=run_id,
        job_id="job-1",
        compartment_id="c1",
        lifecycle_state=state,
        time_accepted=T0 + datetime.timedelta(minutes=minute, seconds=2),
        tags={TAG_SCHEDULE_UID: uid, TAG_NAMESPACE: "ml", **tags},
        created_by=created_by,
    )


def name(minute: int) -> str:
    return f"nightly-{MINUTES + minute}"


def test_only_this_schedules_live_runs_oldest_first() -> None:
    runs = [
        oci_run("b", 2),
        oci_run("a", 1),
        oci_run("other", 1, uid="uid-other"),
        oci_run("gone", 0, state="DELETED"),
        # The tags copied by a principal who may create runs of the job: OCI's createdBy tells.
        oci_run("forged", 3, created_by="ocid1.user.mallory"),
        oci_run("by-an-old-schedule", 4, created_by="ocid1.datascienceschedule.old"),
    ]
    assert [r.id for r in schedule_runs_of(runs, "uid-s", SCHEDULE_ID)] == ["a", "b"]


def test_a_forged_run_is_neither_adopted_nor_canceled_by_the_concurrency_policy() -> None:
    runs = [
        oci_run("a", 1, "IN_PROGRESS"),
        oci_run("forged", 2, "IN_PROGRESS", created_by="ocid1.user.mallory"),
        oci_run("b", 3, "ACCEPTED"),
    ]
    step = plan_adoption(schedule_runs_of(runs, "uid-s", SCHEDULE_ID), "nightly", {name(1)}, None, "Replace")
    assert [r.id for r in step.adopt] == ["b"]
    assert [r.id for r, _ in step.cancel] == ["a"]  # the genuine older run only


def test_skipped_runs_are_deleted_once_ended() -> None:
    runs = [
        oci_run("ended", 1, "CANCELED", **{TAG_SKIPPED: "Forbid"}),
        oci_run("canceling", 2, "CANCELING", **{TAG_SKIPPED: "Forbid"}),
        oci_run("kept", 3, "SUCCEEDED"),
    ]
    assert [r.id for r in skipped_to_delete(runs)] == ["ended"]


def test_firing_failures_are_told_from_successes() -> None:
    assert firing_failed("The job run could not be created: NotAuthorizedOrNotFound: no")
    assert not firing_failed("Job run ocid1.datasciencejobrun.x created.")
    assert not firing_failed(None)


@pytest.mark.parametrize(
    ("case", "runs", "existing", "watermark", "policy", "adopt", "cancel", "skipped"),
    [
        (
            "new runs become TrainingJobRuns, oldest first",
            [oci_run("a", 1), oci_run("b", 2)],
            set(),
            None,
            "Allow",
            ["a", "b"],
            [],
            [],
        ),
        (
            "one whose TrainingJobRun exists is not made again (a crash before the status write)",
            [oci_run("a", 1), oci_run("b", 2)],
            {name(1)},
            None,
            "Allow",
            ["b"],
            [],
            [],
        ),
        (
            "one at or before lastScheduleTime was seen: its TrainingJobRun was pruned, not re-made",
            [oci_run("a", 1), oci_run("b", 2)],
            set(),
            T0 + datetime.timedelta(minutes=1, seconds=2),
            "Allow",
            ["b"],
            [],
            [],
        ),
        (
            "Allow lets runs overlap",
            [oci_run("a", 1, "IN_PROGRESS"), oci_run("b", 2, "IN_PROGRESS")],
            {name(1)},
            T0 + datetime.timedelta(minutes=1, seconds=2),
            "Allow",
            ["b"],
            [],
            [],
        ),
        (
            "Forbid cancels the new run while an older one is unfinished, and never adopts it",
            [oci_run("a", 1, "IN_PROGRESS"), oci_run("b", 2, "ACCEPTED")],
            {name(1)},
            T0 + datetime.timedelta(minutes=1, seconds=2),
            "Forbid",
            [],
            ["b"],
            ["b"],
        ),
        (
            "a run Forbid skipped before (tagged) is never adopted later",
            [oci_run("a", 1, "SUCCEEDED"), oci_run("b", 2, "CANCELED", **{TAG_SKIPPED: "Forbid"})],
            {name(1)},
            None,
            "Forbid",
            [],
            [],
            [],
        ),
        (
            "Forbid: a new run once the older ended is left alone",
            [oci_run("a", 1, "SUCCEEDED"), oci_run("b", 2, "IN_PROGRESS")],
            {name(1)},
            None,
            "Forbid",
            ["b"],
            [],
            [],
        ),
        (
            "Forbid with two new runs behind a running one: both canceled, neither blocks the other",
            [oci_run("a", 1, "IN_PROGRESS"), oci_run("b", 2, "ACCEPTED"), oci_run("c", 3, "ACCEPTED")],
            {name(1)},
            None,
            "Forbid",
            [],
            ["b", "c"],
            ["b", "c"],
        ),
        (
            "Forbid: a new run that already ended needs no cancel",
            [oci_run("a", 1, "IN_PROGRESS"), oci_run("b", 2, "FAILED")],
            {name(1)},
            None,
            "Forbid",
            ["b"],
            [],
            [],
        ),
        (
            "Replace cancels the older unfinished runs, once each",
            [oci_run("a", 1, "IN_PROGRESS"), oci_run("b", 2, "IN_PROGRESS"), oci_run("c", 3, "ACCEPTED")],
            {name(1), name(2)},
            None,
            "Replace",
            ["c"],
            ["a", "b"],
            [],
        ),
        (
            "Replace does not cancel what is already canceling",
            [oci_run("a", 1, "CANCELING"), oci_run("b", 2, "ACCEPTED")],
            {name(1)},
            None,
            "Replace",
            ["b"],
            [],
            [],
        ),
    ],
)
def test_plan_adoption(
    case: str,
    runs: list[RunView],
    existing: set[str],
    watermark: datetime.datetime | None,
    policy: str,
    adopt: list[str],
    cancel: list[str],
    skipped: list[str],
) -> None:
    step = plan_adoption(schedule_runs_of(runs, "uid-s", SCHEDULE_ID), "nightly", existing, watermark, policy)
    assert [r.id for r in step.adopt] == adopt, case
    assert [r.id for r, _ in step.cancel] == cancel, case
    assert [r.id for r in step.skipped] == skipped, case
    assert all("concurrencyPolicy" in why for _, why in step.cancel), case
    seen = [*step.adopt, *step.skipped]
    times = [r.time_accepted for r in seen] + ([watermark] if watermark else [])
    assert step.watermark == max(times, default=None), case


def refusal(run: RunView | None, **overrides: Any) -> str | None:
    values: dict[str, Any] = {
        "name": name(1),
        "namespace": "ml",
        "compartment_id": "c1",
        "job_ids": {"job-1", "job-0"},
        "schedules": {"uid-s": ("nightly", SCHEDULE_ID)},
    }
    values.update(overrides)
    return adoption_refusal(run, "ocid-run", **values)


@pytest.mark.parametrize(
    ("run", "overrides", "expected"),
    [
        (oci_run("a", 1), {}, None),
        (oci_run("a", 1), {"job_ids": {"job-0", "job-1"}}, None),
        (None, {}, "was not found, or may not be read"),
        (oci_run("a", 1), {"compartment_id": "c2"}, "is in compartment c1, not the TrainingJob's c2"),
        (
            oci_run("a", 1),
            {"job_ids": {"job-9"}},
            "is a run of OCI job job-1, not of this TrainingJob's jobs",
        ),
        (oci_run("a", 1), {"namespace": "other"}, "was not made for namespace other"),
        (oci_run("a", 1, uid="uid-elsewhere"), {}, "was not made by a TrainingJobSchedule of namespace ml"),
        (oci_run("a", 1), {"schedules": {}}, "was not made by a TrainingJobSchedule of namespace ml"),
        (
            oci_run("a", 1, created_by="ocid1.user.mallory"),
            {},
            f"was made by ocid1.user.mallory, not by TrainingJobSchedule nightly's OCI Schedule "
            f"{SCHEDULE_ID} (its tags claim so",
        ),
        (
            oci_run("a", 1),
            {"schedules": {"uid-s": ("nightly", None)}},
            "not by TrainingJobSchedule nightly's OCI Schedule None",
        ),
        (
            oci_run("a", 1),
            {"name": name(2)},
            f"belongs to TrainingJobSchedule nightly's run of that time, not to {name(2)}",
        ),
    ],
)
def test_a_run_is_followed_only_when_every_check_holds(
    run: RunView | None, overrides: dict[str, Any], expected: str | None
) -> None:
    found = refusal(run, **overrides)
    if expected is None:
        assert found is None
    else:
        assert found is not None and expected in found and "annotation ocids.io/job-run-id" in found
