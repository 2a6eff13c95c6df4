"""TrainingJob reconcile and finalize: the I/O around the pure plan in `core/job_plan`.

Each function returns an `Outcome` (status fields, events, an optional requeue) and raises
`ReconcileError` / OCI exceptions for the handler to classify. No kopf here either.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ..api import TrainingJobSpec
from ..core import conditions as cond
from ..core import model
from ..core.errors import retry, stalled
from ..core.job_plan import DesiredJob, JobAction, JobPlan, JobRecord, ObservedJob, plan_job
from ..core.phases import CANCELABLE_RUN_STATES, JobState
from ..core.run_plan import active_run_ids
from ..core.status import deleting_status, job_status
from ..runtime import Runtime
from .crash_point import crash_after
from .inputs import object_ref, parse_spec, resolve_artifact, resolve_env
from .outcome import Outcome

MAX_STEPS = 5
ADOPTED_DIFFERS = "adopted-template-differs"


async def reconcile(rt: Runtime, body: Mapping[str, Any]) -> Outcome:
    spec: TrainingJobSpec = parse_spec(TrainingJobSpec, body.get("spec") or {})
    ref = object_ref(body, rt.settings.cluster_name)
    status = dict(body.get("status") or {})
    generation = body["metadata"].get("generation")

    user_env = await resolve_env(rt.kube, ref.namespace, spec.env)
    artifact = await resolve_artifact(
        rt.kube,
        ref.namespace,
        spec.artifact,
        max_bytes=rt.settings.artifact_max_bytes,
        timeout_seconds=rt.settings.artifact_url_timeout_seconds,
        object_storage=rt.objects,
    )
    desired = DesiredJob(spec, ref, model.desired_template(spec, user_env), artifact.digest)
    state = JobRecord(status.get("jobId"), int(status.get("revision") or 0))
    retired = [job_id for job_id in status.get("retiredJobIds") or [] if job_id]
    events: list[tuple[str, str, str]] = []
    # The Ready condition's reason names the last thing done (Created, UpdatedInPlace, NewRevision,
    # JobRecreated, Adopted), so drift repairs stay visible in the conditions, not only in Events.
    reason = "Active"
    active = False

    for _ in range(MAX_STEPS):
        observed = await _observe(rt, desired, state)
        plan = plan_job(desired, state, observed)
        if plan.action is JobAction.NOOP:
            active = True
            break
        if plan.action is JobAction.STALL:
            raise stalled(plan.reason, plan.message)
        if plan.action in (JobAction.CREATE, JobAction.RECREATE, JobAction.NEW_REVISION):
            job_id = await _ensure_job(rt, desired, plan, user_env)
            await _ensure_artifact(rt, job_id, artifact)
            if plan.retire_job_id and plan.retire_job_id not in retired:
                retired.append(plan.retire_job_id)
            events.append(_event_for(plan, job_id))
            reason = events[-1][1]
            state = JobRecord(job_id, plan.revision)
        elif plan.action is JobAction.ADOPT:
            assert observed is not None
            hash_tag = ADOPTED_DIFFERS if plan.changes else desired.template_hash
            await rt.oci.update_job(observed.id, model.JobUpdate(spec, ref, 1, hash_tag), observed.etag)
            events.append(("Normal", "Adopted", f"adopted OCI job {observed.id} (revision 1)"))
            if plan.changes:
                events.append(("Warning", "AdoptedTemplateDiffers", plan.message))
            reason = events[-1][1]
            state = JobRecord(observed.id, 1)
        elif plan.action is JobAction.FINISH_CREATE:
            assert observed is not None
            await _ensure_artifact(rt, observed.id, artifact)
            job = await rt.oci.get_job(observed.id)
            if job is None or job.lifecycle_state == JobState.CREATING:
                break  # not active yet: look again after a poll interval
        elif plan.action is JobAction.UPDATE:
            assert observed is not None
            update = model.JobUpdate(spec, ref, state.revision, desired.template_hash)
            await rt.oci.update_job(observed.id, update, observed.etag)
            events.append(("Normal", "UpdatedInPlace", plan.message))
            reason = "UpdatedInPlace"
    else:
        raise retry("StillConverging", f"the OCI job did not converge in {MAX_STEPS} steps; retrying")

    assert state.job_id is not None
    if active:  # earlier revisions are only retired once this one is usable
        retired = await retire_jobs(rt, spec, retired, events)
    elif reason == "Active":
        reason = "Creating"
    result = job_status(
        spec=spec,
        job_id=state.job_id,
        revision=state.revision,
        retired_job_ids=retired,
        artifact=artifact,
        region=rt.region,
        active=active,
        reason=reason,
        previous=status,
        generation=generation,
        now=cond.now_rfc3339(),
    )
    if active:
        return Outcome(result, events)
    return Outcome(
        result, events, requeue_after=rt.settings.poll_interval_seconds, requeue_reason=result["message"]
    )


async def _observe(rt: Runtime, desired: DesiredJob, state: JobRecord) -> ObservedJob | None:
    job_id = state.job_id or desired.spec.adopt_job_id
    if job_id is None:
        return None
    job = await rt.oci.get_job(job_id)
    if job is None or state.job_id is not None:
        return job
    # Adoption: compare the adopted job's artifact bytes with ours.
    digest = await rt.oci.job_artifact_digest(job.id, rt.settings.artifact_max_bytes)
    return dataclasses.replace(job, artifact_digest=digest)


async def _ensure_job(rt: Runtime, desired: DesiredJob, plan: JobPlan, user_env: Mapping[str, str]) -> str:
    """The job of this revision: found by its tags (a crash after create), else created."""
    spec, ref = desired.spec, desired.ref
    tags = {model.TAG_UID: ref.uid, model.TAG_REVISION: str(plan.revision)}
    display_name = spec.display_name or ref.default_display_name
    found = await rt.oci.find_job_ids(spec.compartment_id, spec.project_id, display_name, tags)
    if found:
        return found[0]
    job_id = await rt.oci.create_job(
        model.JobRequest(spec, ref, user_env, plan.revision, desired.template_hash)
    )
    crash_after(rt.settings, "create_job")
    return job_id


async def _ensure_artifact(rt: Runtime, job_id: str, artifact: model.ResolvedArtifact) -> None:
    if await rt.oci.job_artifact_exists(job_id):
        return
    await rt.oci.upload_job_artifact(job_id, artifact)


def _event_for(plan: JobPlan, job_id: str) -> tuple[str, str, str]:
    if plan.action is JobAction.RECREATE:
        return ("Warning", "JobRecreated", f"{plan.message}: {job_id}")
    if plan.action is JobAction.NEW_REVISION:
        return ("Normal", "NewRevision", f"{plan.message}: {job_id}")
    return ("Normal", "Created", f"created OCI job {job_id} (revision {plan.revision})")


async def retire_jobs(
    rt: Runtime, spec: TrainingJobSpec, retired: list[str], events: list[tuple[str, str, str]]
) -> list[str]:
    """Retire earlier revisions nobody runs any more; return those still in use."""
    still_used = []
    for job_id in retired:
        runs = await rt.oci.list_job_runs(spec.compartment_id, job_id=job_id)
        if active_run_ids(runs):
            still_used.append(job_id)
            continue
        if spec.deletion_policy == "Delete":
            await rt.oci.delete_job(job_id)
            events.append(("Normal", "RetiredJobDeleted", f"deleted retired OCI job {job_id}"))
        else:
            events.append(
                ("Normal", "RetiredJobRetained", f"retired OCI job {job_id} kept (deletionPolicy Retain)")
            )
    return still_used


async def finalize(rt: Runtime, body: Mapping[str, Any]) -> Outcome:
    """Deletion: Delete cancels active runs, then deletes the OCI jobs with their runs; Retain leaves them."""
    spec = body.get("spec") or {}
    status = dict(body.get("status") or {})
    compartment = spec.get("compartmentId")
    job_ids = [job_id for job_id in [status.get("jobId"), *(status.get("retiredJobIds") or [])] if job_id]
    if not job_ids or not compartment:
        return Outcome()
    if spec.get("deletionPolicy", "Delete") == "Retain":
        # Runs are left to their own TrainingJobRun's deletionPolicy (garbage collection deletes those).
        message = f"left OCI job(s) {', '.join(job_ids)} in place (deletionPolicy Retain)"
        return Outcome(events=[("Normal", "Retained", message)])
    active: list[str] = []
    for job_id in job_ids:
        runs = await rt.oci.list_job_runs(compartment, job_id=job_id)
        for run in runs:
            if run.state in CANCELABLE_RUN_STATES:
                await rt.oci.cancel_job_run(run.id)
        active += active_run_ids(runs)
    if active:
        message = f"waiting for {len(active)} active run(s) to be canceled before deleting the OCI job"
        return Outcome(
            deleting_status("CancelingRuns", message, status, cond.now_rfc3339()),
            requeue_after=rt.settings.poll_interval_seconds,
            requeue_reason=message,
        )
    events = []
    for job_id in job_ids:
        deleted = await rt.oci.delete_job(job_id)
        what = "deleted OCI job" if deleted else "OCI job already gone:"
        events.append(("Normal", "Deleted", f"{what} {job_id}"))
    return Outcome(events=events)
