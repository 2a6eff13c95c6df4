"""TrainingJob reconcile and finalize: the I/O around the pure plan in `core/job_plan`.

Each function returns an `Outcome` (status fields, events, an optional requeue) and raises
`ReconcileError` / OCI exceptions for the handler to classify. No kopf here either.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

from ..api import TrainingJobSpec
from ..core import conditions as cond
from ..core import model
from ..core.driver_env import DriverContext, needs_driver
from ..core.errors import ErrorOutcome, ReconcileError, retry, stalled
from ..core.job_plan import DesiredJob, JobAction, JobPlan, JobRecord, ObservedJob, plan_job
from ..core.links import shown_url
from ..core.phases import JobState, RunState
from ..core.run_plan import RunView, active_run_ids
from ..core.status import job_status, recorded_job_status, retired_jobs_status
from ..runtime import Runtime
from . import orphans, run_caps, shape_gate, tenancy
from .crash_point import crash_after
from .driver_artifact import driver_context, known_code_file, resolve_driver_artifact
from .inputs import object_ref, parse_spec, resolve_artifact, resolve_env, source_url
from .job_deletion import delete_jobs
from .outcome import Outcome, ProgressMade

log = logging.getLogger(__name__)
MAX_STEPS = 5
ADOPTED_DIFFERS = "adopted-template-differs"
# The artifact digest of a job without one (a container job may have none): part of the template hash.
NO_ARTIFACT = ""
# Plan steps that send the job's shapes to OCI: each waits for the shape gate.
SENDS_SHAPES = frozenset(
    {JobAction.CREATE, JobAction.RECREATE, JobAction.NEW_REVISION, JobAction.ADOPT, JobAction.UPDATE}
)


async def reconcile(rt: Runtime, body: Mapping[str, Any]) -> Outcome:
    spec: TrainingJobSpec = parse_spec(TrainingJobSpec, body.get("spec") or {})
    ref = object_ref(body, rt.settings.cluster_name)
    status = dict(body.get("status") or {})
    generation = body["metadata"].get("generation")
    await tenancy.admit_job(rt, ref.namespace, spec, status)  # before any input is read or OCI written
    run_caps.require_job_maximum_runtime(rt, spec)  # OCIDS_REQUIRE_MAXIMUM_RUNTIME
    # After the tenancy gate: a compartment the namespace was not granted is never asked for shapes.
    spec, fast_launch_config = await shape_gate.with_fast_launch(rt, spec, status, generation)

    user_env = await resolve_env(rt.kube, ref.namespace, spec.env)
    source = await _artifact_source(rt, spec, ref.namespace, status)
    driver = driver_context(rt.settings, spec, source.code_file)
    desired = DesiredJob(spec, ref, model.desired_template(spec, user_env, driver), source.digest)
    progress = Progress(JobRecord(status.get("jobId"), int(status.get("revision") or 0)))
    progress.retired = [job_id for job_id in status.get("retiredJobIds") or [] if job_id]
    initial = progress.state
    try:
        active = await _converge(rt, desired, source, user_env, progress, driver)
        if active:  # earlier revisions are only retired once this one is usable
            progress.retired = await retire_jobs(
                rt, spec.compartment_id, spec.deletion_policy, progress.retired, progress.events
            )
    except Exception as exc:
        if progress.state == initial:
            raise
        # CreateJob (or adoption) went through: record the job before reporting the error, so a
        # deletion or a later edit finds it instead of leaving it orphaned in OCI.
        recorded = recorded_job_status(progress.state.job_id, progress.state.revision, progress.retired)
        raise ProgressMade(exc, recorded) from exc
    state, retired, events, reason = progress.state, progress.retired, progress.events, progress.reason
    assert state.job_id is not None
    if not active and reason == "Active":
        reason = "Creating"
    if source.problem and not _source_problem_reported(status, source.problem):
        events.append(("Warning", source.problem.reason, source.problem.message))
    result = job_status(
        spec=spec,
        job_id=state.job_id,
        revision=state.revision,
        retired_job_ids=retired,
        artifact=source.artifact,
        source_problem=None if source.problem is None else (source.problem.reason, source.problem.message),
        region=rt.region,
        active=active,
        reason=reason,
        previous=status,
        generation=generation,
        now=cond.now_rfc3339(),
        fast_launch_config=fast_launch_config,
    )
    if active:
        return Outcome(result, events)
    return Outcome(
        result, events, requeue_after=rt.settings.poll_interval_seconds, requeue_reason=result["message"]
    )


@dataclasses.dataclass
class Progress:
    """What a reconcile has done so far (kept when a later step fails)."""

    state: JobRecord
    retired: list[str] = dataclasses.field(default_factory=list)
    events: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)
    # The Ready condition's reason names the last thing done (Created, UpdatedInPlace, NewRevision,
    # JobRecreated, Adopted), so drift repairs stay visible in the conditions, not only in Events.
    reason: str = "Active"
    # The spec's shapes passed the shape gate in this reconcile (checked once, before the first write).
    shapes_checked: bool = False


async def _converge(
    rt: Runtime,
    desired: DesiredJob,
    source: ArtifactSource,
    user_env: Mapping[str, str],
    progress: Progress,
    driver: DriverContext | None = None,
) -> bool:
    """Apply plan steps until the job matches the spec; False while it is still CREATING."""
    spec, ref, events = desired.spec, desired.ref, progress.events
    for _ in range(MAX_STEPS):
        state = progress.state
        observed = await _observe(rt, desired, state)
        plan = plan_job(desired, state, observed)
        if plan.action is JobAction.NOOP:
            return True
        if plan.action is JobAction.STALL:
            raise stalled(plan.reason, plan.message)
        if plan.action is JobAction.RECREATE and observed is None and await _listed(rt, desired, state):
            # GetJob answers 404 for a while after CreateJob (eventual consistency), while ListJobs
            # already shows the job: not gone, so not re-created (which would orphan it).
            return False
        if plan.action in SENDS_SHAPES and not progress.shapes_checked:
            await shape_gate.check_job(rt, spec)
            progress.shapes_checked = True
        if plan.action in (JobAction.CREATE, JobAction.RECREATE, JobAction.NEW_REVISION):
            source.content()  # never a job that could not get its artifact
            job_id = await _ensure_job(rt, desired, plan, user_env, driver)
            if plan.retire_job_id and plan.retire_job_id not in progress.retired:
                progress.retired.append(plan.retire_job_id)
            progress.state = JobRecord(job_id, plan.revision)
            await _ensure_artifact(rt, job_id, source)
            events.append(_event_for(plan, job_id))
            progress.reason = events[-1][1]
        elif plan.action is JobAction.ADOPT:
            assert observed is not None
            hash_tag = ADOPTED_DIFFERS if plan.changes else desired.template_hash
            await rt.oci.update_job(observed.id, model.JobUpdate(spec, ref, 1, hash_tag), observed.etag)
            progress.state = JobRecord(observed.id, 1)
            events.append(("Normal", "Adopted", f"adopted OCI job {observed.id} (revision 1)"))
            if plan.changes:
                events.append(("Warning", "AdoptedTemplateDiffers", plan.message))
            progress.reason = events[-1][1]
        elif plan.action is JobAction.FINISH_CREATE:
            assert observed is not None
            await _ensure_artifact(rt, observed.id, source)
            job = await rt.oci.get_job(observed.id)
            if job is None or job.lifecycle_state == JobState.CREATING:
                return False  # not active yet: look again after a poll interval
        elif plan.action is JobAction.UPDATE:
            assert observed is not None
            update = model.JobUpdate(spec, ref, state.revision, desired.template_hash)
            await rt.oci.update_job(observed.id, update, observed.etag)
            events.append(("Normal", "UpdatedInPlace", plan.message))
            progress.reason = "UpdatedInPlace"
    raise retry("StillConverging", f"the OCI job did not converge in {MAX_STEPS} steps; retrying")


async def _observe(rt: Runtime, desired: DesiredJob, state: JobRecord) -> ObservedJob | None:
    job_id = state.job_id or desired.spec.adopt_job_id
    if job_id is None:
        return None
    job = await rt.oci.get_job(job_id)
    if job is None or state.job_id is not None:
        return job
    if desired.spec.artifact is None:  # nothing of ours to compare an adopted artifact with
        return dataclasses.replace(job, artifact_digest=NO_ARTIFACT)
    # Adoption: compare the adopted job's artifact bytes with ours.
    digest = await rt.oci.job_artifact_digest(job.id, rt.settings.artifact_max_bytes)
    return dataclasses.replace(job, artifact_digest=digest)


async def _listed(rt: Runtime, desired: DesiredJob, state: JobRecord) -> bool:
    tags = {model.TAG_UID: desired.ref.uid, model.TAG_REVISION: str(state.revision)}
    return state.job_id in await rt.oci.find_job_ids(
        desired.spec.compartment_id, desired.spec.project_id, tags
    )


async def _ensure_job(
    rt: Runtime,
    desired: DesiredJob,
    plan: JobPlan,
    user_env: Mapping[str, str],
    driver: DriverContext | None = None,
) -> str:
    """The job of this revision: found by its tags (a crash after create), else created."""
    spec, ref = desired.spec, desired.ref
    tags = {model.TAG_UID: ref.uid, model.TAG_REVISION: str(plan.revision)}
    found = await rt.oci.find_job_ids(spec.compartment_id, spec.project_id, tags)
    if found:
        return found[0]
    job_id = await rt.oci.create_job(
        model.JobRequest(spec, ref, user_env, plan.revision, desired.template_hash, driver=driver)
    )
    crash_after(rt.settings, "create_job")
    return job_id


async def _ensure_artifact(rt: Runtime, job_id: str, source: ArtifactSource) -> None:
    if source.none:  # a container job without an artifact: OCI makes it ACTIVE without one
        return
    if await rt.oci.job_artifact_exists(job_id):
        return
    content = source.content()
    assert content is not None
    await rt.oci.upload_job_artifact(job_id, content)


# The source is gone or no longer readable (an expired PAR, an object removed by a lifecycle rule).
SOURCE_GONE = frozenset({"ArtifactNotFound", "ArtifactNotFetchable"})


@dataclasses.dataclass(frozen=True)
class ArtifactSource:
    """The artifact as far as a reconcile knows it: its bytes, or only the digest the current OCI
    job was made with while its source cannot be read (`problem`)."""

    artifact: model.ResolvedArtifact | None
    digest: str
    problem: ErrorOutcome | None = None
    none: bool = False  # the spec has no artifact (a container job)
    # A driver job's code as one file (a urlFrom URL's name: the driver runs it without entrypoint).
    code_file: str | None = None

    def content(self) -> model.ResolvedArtifact | None:
        if self.none:
            return None
        if self.artifact is None:
            assert self.problem is not None
            raise ReconcileError(self.problem)
        return self.artifact


async def _artifact_source(
    rt: Runtime, spec: TrainingJobSpec, namespace: str, status: Mapping[str, Any]
) -> ArtifactSource:
    """The spec's artifact. Once an OCI job holds it, a source that went away does not stall the
    job: the job still works, so it stays Active and resynced on the digest it was made with, and
    only what needs the bytes (a new revision) waits for the source."""
    if spec.artifact is None and not needs_driver(spec):
        return ArtifactSource(None, NO_ARTIFACT, none=True)
    code_file = None
    try:
        if needs_driver(spec):
            artifact, code_file = await resolve_driver_artifact(
                rt.kube, namespace, spec, rt.settings, object_storage=rt.objects, fetcher=rt.artifacts
            )
        else:
            assert spec.artifact is not None
            artifact = await resolve_artifact(
                rt.kube,
                namespace,
                spec.artifact,
                max_bytes=rt.settings.artifact_max_bytes,
                timeout_seconds=rt.settings.artifact_url_timeout_seconds,
                object_storage=rt.objects,
                fetcher=rt.artifacts,
            )
    except ReconcileError as exc:
        if exc.outcome.reason not in SOURCE_GONE or not status.get("jobId"):
            raise
        if not await _same_source(rt, spec, namespace, status.get("artifact") or {}):
            raise
        digest = str((status.get("artifact") or {}).get("digest"))
        # The file a urlFrom job runs is named by the URL status shows: the template stays the same.
        return ArtifactSource(None, digest, exc.outcome, code_file=known_code_file(spec, status))
    return ArtifactSource(artifact, artifact.digest, code_file=code_file)


async def _same_source(rt: Runtime, spec: TrainingJobSpec, namespace: str, known: Mapping[str, Any]) -> bool:
    """Whether status.artifact is of the spec's source (a gone source keeps the job it made)."""
    if spec.artifact is None:
        return False
    git = spec.artifact.git
    if git is not None:
        shown = (known.get("url"), known.get("ref"))
        return known.get("source") == "git" and shown == (shown_url(git.url), git.ref)
    # Status shows an https:// URL without its secrets, an oci:// one as written.
    url = await source_url(rt.kube, namespace, spec.artifact)
    return url is not None and known.get("url") in (url, shown_url(url))


def _source_problem_reported(status: Mapping[str, Any], problem: ErrorOutcome) -> bool:
    for condition in status.get("conditions") or []:
        if condition.get("type") == cond.ARTIFACT_SOURCE_AVAILABLE:
            return condition.get("status") == "False" and condition.get("message") == problem.message
    return False


def gone(run: RunView) -> bool:
    return run.state is RunState.DELETED


def _event_for(plan: JobPlan, job_id: str) -> tuple[str, str, str]:
    if plan.action is JobAction.RECREATE:
        return ("Warning", "JobRecreated", f"{plan.message}: {job_id}")
    if plan.action is JobAction.NEW_REVISION:
        return ("Normal", "NewRevision", f"{plan.message}: {job_id}")
    return ("Normal", "Created", f"created OCI job {job_id} (revision {plan.revision})")


async def resync(rt: Runtime, body: Mapping[str, Any], *, settled: bool) -> Outcome:
    """The resync timer's step. A `settled` TrainingJob (its spec handled, its OCI job there, not
    stalled) is reconciled whole: drift put back, its retired jobs drained once its job is usable.
    Any other, and one whose reconcile fails, still has its retired jobs drained: the runs that kept
    them go without an edit of the TrainingJob (history limits, TTL, a user), and nothing else would
    look again. Draining is cleanup, like the finalizer: not behind the tenancy gate, and its own
    errors are only logged (the next resync tries again), never written over the object's
    conditions."""
    if not settled:
        return await _drain_quietly(rt, body) or Outcome()
    try:
        return await reconcile(rt, body)
    except ProgressMade:
        raise  # the reconcile changed OCI: its own record goes first; the next resync drains
    except Exception as exc:
        drained = await _drain_quietly(rt, body)
        if drained is None or not (drained.status or drained.events):
            raise
        raise ProgressMade(exc, drained.status, drained.events) from exc


def drain_due(body: Mapping[str, Any]) -> bool:
    """Whether the resync timer has retired jobs to look at (a TrainingJob being deleted has its
    finalizer for that)."""
    if (body.get("metadata") or {}).get("deletionTimestamp"):
        return False
    status = body.get("status") or {}
    return bool(status.get("retiredJobIds") or status.get("retiredJobCount"))


async def drain_retired(rt: Runtime, body: Mapping[str, Any]) -> Outcome:
    """The retired jobs no run keeps any more deleted (deletionPolicy Delete) or let go (Retain), by
    `retire_jobs`' rule; status.retiredJobIds and retiredJobCount written when that changes them.
    One ListJobRuns per retired job, no OCI call without any."""
    if not drain_due(body):
        return Outcome()
    spec, status = body.get("spec") or {}, body.get("status") or {}
    retired = [job_id for job_id in status.get("retiredJobIds") or [] if job_id]
    events: list[tuple[str, str, str]] = []
    remaining = retired
    if retired:
        policy = spec.get("deletionPolicy") or "Delete"
        remaining = await retire_jobs(rt, spec["compartmentId"], policy, retired, events)
    if remaining == retired and status.get("retiredJobCount") == len(retired):
        return Outcome(events=events)
    return Outcome(retired_jobs_status(remaining), events)


async def _drain_quietly(rt: Runtime, body: Mapping[str, Any]) -> Outcome | None:
    try:
        return await drain_retired(rt, body)
    except Exception as exc:
        meta = body.get("metadata") or {}
        log.warning(
            "retired OCI jobs of TrainingJob %s/%s: %s: %s; looked at again at the next resync",
            meta.get("namespace"),
            meta.get("name"),
            type(exc).__name__,
            exc,
        )
        return None


async def retire_jobs(
    rt: Runtime,
    compartment_id: str,
    deletion_policy: str,
    retired: list[str],
    events: list[tuple[str, str, str]],
) -> list[str]:
    """Retire earlier revisions nobody needs any more; return those still needed.

    A retired job is deleted only once it has no runs left in OCI: a TrainingJobRun deletes its
    OCI run when it goes (policy Delete), so a run still there belongs to an existing
    TrainingJobRun, to one that asked for Retain, or to an adopted job's history. DeleteJob would
    take all of those with it.
    """
    still_needed = []
    for job_id in retired:
        runs = [run for run in await rt.oci.list_job_runs(compartment_id, job_id=job_id) if not gone(run)]
        if active_run_ids(runs) or (runs and deletion_policy == "Delete"):
            still_needed.append(job_id)
        elif deletion_policy != "Delete":
            await orphans.mark_retained_jobs(rt, [job_id])
            events.append(
                ("Normal", "RetiredJobRetained", f"retired OCI job {job_id} kept (deletionPolicy Retain)")
            )
        elif not await delete_until_gone(
            rt, job_id, compartment_id, events, "RetiredJobDeleted", "deleting retired OCI job"
        ):
            still_needed.append(job_id)
    return still_needed


async def delete_until_gone(
    rt: Runtime,
    job_id: str,
    compartment_id: str,
    events: list[tuple[str, str, str]],
    reason: str,
    what: str,
) -> bool:
    """Delete a job (with its runs); True once it is gone. DeleteJob's 202 is only a start: its work
    request may still fail and bring the job back, so the job is only let go once OCI shows it
    gone, and a job back from a failed deletion is deleted again. A GetJob 404 is no proof (IAM
    denies with the same 404): DeleteJob is still asked, and decides with a list of the compartment."""
    job = await rt.oci.get_job(job_id)
    if job is not None and job.lifecycle_state == JobState.DELETED:
        return True
    if job is not None and job.lifecycle_state == JobState.DELETING:
        return False
    if not await rt.oci.delete_job(job_id, compartment_id):
        return True
    events.append(("Normal", reason, f"{what} {job_id}"))
    job = await rt.oci.get_job(job_id)
    return job is None or job.lifecycle_state == JobState.DELETED


async def finalize(rt: Runtime, body: Mapping[str, Any]) -> Outcome:
    """Deletion: Delete cancels this operator's runs (not those a TrainingJobRun retains, nor an adopted
    job's own), then deletes the OCI jobs no kept run lives in; Retain leaves them (job_deletion)."""
    spec = body.get("spec") or {}
    status = dict(body.get("status") or {})
    compartment = spec.get("compartmentId")
    job_ids = [job_id for job_id in [status.get("jobId"), *(status.get("retiredJobIds") or [])] if job_id]
    if not compartment:
        return Outcome()
    if spec.get("deletionPolicy", "Delete") == "Retain":
        if not job_ids:
            return Outcome()
        # Runs are left to their own TrainingJobRun's deletionPolicy (garbage collection deletes those).
        await orphans.mark_retained_jobs(rt, job_ids)
        message = f"left OCI job(s) {', '.join(job_ids)} in place (deletionPolicy Retain)"
        return Outcome(events=[("Normal", "Retained", message)])
    if spec.get("projectId"):
        # Jobs this object created but never recorded (an error or a crash right after CreateJob).
        uid = {model.TAG_UID: body["metadata"]["uid"]}
        for job_id in await rt.oci.find_job_ids(compartment, spec["projectId"], uid):
            if job_id not in job_ids:
                job_ids.append(job_id)
    if not job_ids:
        return Outcome()
    return await delete_jobs(rt, body, job_ids, compartment, delete_until_gone)
