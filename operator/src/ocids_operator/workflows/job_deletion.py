"""TrainingJob deletion with policy Delete: the I/O around the pure plan in `core/deletion_plan`.

Only this operator's runs that nobody asked to keep are canceled (each cancel's 404 proven, as for
deletes), waited for at most OCIDS_RUN_CANCEL_TIMEOUT_SECONDS from the first cancel sent (kept in
status.cancelRequestedAt), and a job is deleted (with its runs) only when none of its runs must
outlive it. Everything left in OCI is named in an Event.
"""

from __future__ import annotations

import datetime
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from ..core import conditions as cond
from ..core.deletion_plan import JobDeletionPlan, plan_job_deletion
from ..core.phases import CANCELABLE_RUN_STATES, RunState
from ..core.retry import attempt_run_ids
from ..core.run_plan import RunView, cancel_wait_over
from ..core.status import deleting_status, retired_fields
from ..core.times import parse_time
from ..runtime import Runtime
from .outcome import Outcome

Events = list[tuple[str, str, str]]
# (rt, job_id, compartment_id, events, reason, what) -> whether the job is gone
DeleteUntilGone = Callable[[Runtime, str, str, Events, str, str], Awaitable[bool]]


async def delete_jobs(
    rt: Runtime,
    body: Mapping[str, Any],
    job_ids: Sequence[str],
    compartment: str,
    delete_until_gone: DeleteUntilGone,
) -> Outcome:
    """`delete_until_gone`: training_job's (passed in: that module imports this one)."""
    meta = body["metadata"]
    status = dict(body.get("status") or {})
    # The objects are read before the runs: a Retain run whose object is gone by then was tagged
    # (by its finalizer, before it let go), and the list below shows the tag.
    retained = await retained_run_ids(rt, meta["namespace"])
    runs_by_job: dict[str, list[RunView]] = {}
    for job_id in job_ids:
        listed = await rt.oci.list_job_runs(compartment, job_id=job_id)
        runs_by_job[job_id] = [run for run in listed if run.state is not RunState.DELETED]
    plan = plan_job_deletion(runs_by_job, retained, meta["namespace"], rt.settings.cluster_name)

    left: list[RunView] = []
    if plan.stop:
        now = datetime.datetime.now(datetime.UTC)
        requested = parse_time(status.get("cancelRequestedAt"))
        if not cancel_wait_over(requested, now, rt.settings.run_cancel_timeout_seconds):
            return await _cancel(rt, plan, compartment, status, requested, now)
        left = plan.stop
    left_ids = {run.id for run in left}
    holding = [job_id for job_id, runs in runs_by_job.items() if any(run.id in left_ids for run in runs)]
    kept = set(holding) | {job_id for job_id in job_ids if plan.kept(job_id)}
    events: Events = []
    pending = [
        job_id
        for job_id in job_ids
        if job_id not in kept
        and not await delete_until_gone(rt, job_id, compartment, events, "Deleted", "deleting OCI job")
    ]
    if pending:
        message = f"waiting for OCI to delete job(s) {', '.join(pending)}"
        # The retired jobs still there (being deleted, or kept), as every other writer counts them.
        retired = [
            job_id for job_id in status.get("retiredJobIds") or [] if job_id in kept or job_id in pending
        ]
        return Outcome(
            deleting_status("DeletingJobs", message, status, cond.now_rfc3339()).with_fields(
                **retired_fields(retired)
            ),
            events,
            requeue_after=rt.settings.poll_interval_seconds,
            requeue_reason=message,
        )
    return Outcome(events=events + _left_in_oci(rt, plan, left, holding, job_ids))


async def retained_run_ids(rt: Runtime, namespace: str) -> set[str]:
    """The OCI runs of the namespace's TrainingJobRuns that say Retain (matched by run id): every
    attempt's, the earlier ones of a retried run too (and all of them while its retry waits, when
    no jobRunId is set)."""
    retained: set[str] = set()
    for run in await rt.kube.list_training_job_runs(namespace):
        if (run.get("spec") or {}).get("deletionPolicy") == "Retain":
            retained.update(attempt_run_ids(run.get("status")))
    return retained


async def _cancel(
    rt: Runtime,
    plan: JobDeletionPlan,
    compartment: str,
    status: Mapping[str, Any],
    requested: datetime.datetime | None,
    now: datetime.datetime,
) -> Outcome:
    for run in plan.stop:
        # The first round cancels every run (a CANCELING one too: the bound counts from it). A 404
        # is raised unless a read proves the run ended: a denied cancel blocks the deletion.
        if requested is None or run.state in CANCELABLE_RUN_STATES:
            await rt.oci.cancel_job_run(run.id, compartment)
    message = f"waiting for {len(plan.stop)} active run(s) to be canceled before deleting the OCI job"
    result = deleting_status("CancelingRuns", message, status, cond.now_rfc3339())
    if requested is None:
        result = result.with_fields(cancel_requested_at=now)
    return Outcome(result, requeue_after=rt.settings.poll_interval_seconds, requeue_reason=message)


def _left_in_oci(
    rt: Runtime,
    plan: JobDeletionPlan,
    left: Sequence[RunView],
    holding: Sequence[str],
    job_ids: Sequence[str],
) -> Events:
    events: Events = []
    if left:
        limit = rt.settings.run_cancel_timeout_seconds
        runs = ", ".join(f"{run.id} ({run.lifecycle_state})" for run in left)
        jobs = ", ".join(holding)
        events.append(
            (
                "Warning",
                "RunLeftInOCI",
                f"OCI job run(s) {runs} still not stopped {limit:g}s after they were asked to cancel "
                f"(OCIDS_RUN_CANCEL_TIMEOUT_SECONDS); the TrainingJob is let go and they are left in "
                f"OCI, with their job(s) {jobs} (OCI refuses to delete a job while a run is active)",
            )
        )
    for job_id in job_ids:
        if job_id in plan.retained:
            runs = ", ".join(plan.retained[job_id])
            events.append(
                (
                    "Normal",
                    "JobKept",
                    f"kept OCI job {job_id}: it holds run(s) {runs} of TrainingJobRuns with deletionPolicy "
                    "Retain (deleting the job would delete them); delete it in OCI when they are not needed",
                )
            )
        if job_id in plan.foreign:
            runs = ", ".join(plan.foreign[job_id])
            events.append(
                (
                    "Warning",
                    "JobKept",
                    f"kept OCI job {job_id}: it holds run(s) {runs} this operator did not create (an "
                    "adopted job's history), which it never cancels or deletes",
                )
            )
    return events
