"""What "converged" and "crash safe" mean, checked on both sides: Kubernetes and OCI.

`problems()` lists what is not (yet) as the workload model says it must end: the test waits for an
empty list. `irreversible()` lists what no amount of waiting can undo (a second OCI job for one
revision, a second OCI run for one TrainingJobRun, a Retain resource deleted): waiting stops at
the first. `permanent_violations()` adds the end state of each run's one OCI run. OCI resources are
mapped back to their objects through the freeform tags the operator puts on them.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

import oci
from crash_workload import JobModel, RunModel, Workload
from ocids_operator.core.model import TAG_NAME, TAG_REVISION, TAG_UID
from operator_harness import JOBS, RUNS, Scenario

GONE = ("DELETED", "DELETING")
FINISHED_RUN_STATES = {"Succeeded": "SUCCEEDED", "Failed": "FAILED"}


@dataclasses.dataclass
class World:
    """One look at both sides."""

    jobs: dict[str, dict[str, Any]]  # TrainingJobs by name
    runs: dict[str, dict[str, Any]]  # TrainingJobRuns by name
    oci_jobs: list[Any]  # every OCI job of the compartment, DELETED ones included
    oci_runs: list[Any]  # every OCI run of the compartment, DELETED ones included
    # Full GetJob answers (lists hold summaries) for the jobs the TrainingJobs' status names.
    current: dict[str, Any] = dataclasses.field(default_factory=dict)


def look(world: Scenario) -> World:
    ds, compartment = world.oci.ds, world.compartment_id

    def every(method: Any) -> list[Any]:
        # Lists leave DELETED items out unless asked for by state.
        items = oci.pagination.list_call_get_all_results(method, compartment_id=compartment).data
        gone = oci.pagination.list_call_get_all_results(
            method, compartment_id=compartment, lifecycle_state="DELETED"
        ).data
        return list({item.id: item for item in [*items, *gone]}.values())

    now = World(
        jobs={o["metadata"]["name"]: o for o in world.kube.list_objects(JOBS, world.namespace)},
        runs={o["metadata"]["name"]: o for o in world.kube.list_objects(RUNS, world.namespace)},
        oci_jobs=every(ds.list_jobs),
        oci_runs=every(ds.list_job_runs),
    )
    for obj in now.jobs.values():
        job_id = (obj.get("status") or {}).get("jobId")
        if job_id and (job := world.oci.get_job(job_id)) is not None:
            now.current[job_id] = job
    return now


def _tag(resource: Any, key: str) -> str | None:
    return (resource.freeform_tags or {}).get(key)


def _ready_now(obj: dict[str, Any]) -> bool:
    generation = obj["metadata"].get("generation")
    return any(
        c.get("type") == "Ready" and c.get("status") == "True" and c.get("observedGeneration") == generation
        for c in (obj.get("status") or {}).get("conditions") or []
    )


def problems(model: Workload, now: World) -> list[str]:
    found: list[str] = []
    live_jobs = {j.name: j for j in model.live_jobs}
    live_runs = {r.name: r for r in model.live_runs}
    if extra := sorted(set(now.jobs) - set(live_jobs)):
        found.append(f"TrainingJobs still there after deletion: {extra}")
    if missing := sorted(set(live_jobs) - set(now.jobs)):
        found.append(f"TrainingJobs missing: {missing}")
    if extra := sorted(set(now.runs) - set(live_runs)):
        found.append(f"TrainingJobRuns still there after deletion: {extra}")
    if missing := sorted(set(live_runs) - set(now.runs)):
        found.append(f"TrainingJobRuns missing: {missing}")
    for name, job in live_jobs.items():
        if name in now.jobs:
            found += _job_problems(job, now.jobs[name], now.current, now.oci_runs)
    for name, run in live_runs.items():
        obj = now.runs.get(name)
        phase = ((obj or {}).get("status") or {}).get("phase")
        if obj is not None and phase != run.phase:
            found.append(f"{name}: phase {phase}, want {run.phase} ({_brief(obj)})")
    found += _orphans(model, now)
    return found


def _job_problems(
    job: JobModel, obj: dict[str, Any], current_jobs: dict[str, Any], oci_runs: list[Any]
) -> list[str]:
    status = obj.get("status") or {}
    if status.get("phase") != "Active" or not _ready_now(obj):
        return [
            f"{job.name}: not Active and Ready for generation {obj['metadata'].get('generation')} "
            f"({_brief(obj)})"
        ]
    found = []
    current = current_jobs.get(status.get("jobId") or "")
    if current is None or current.lifecycle_state != "ACTIVE":
        found.append(f"{job.name}: status.jobId {status.get('jobId')} is not an ACTIVE OCI job")
    else:
        infra = current.job_infrastructure_configuration_details
        shape = (infra.shape_name, infra.job_shape_config_details.ocpus)
        if shape != (job.shape, job.ocpus):
            found.append(f"{job.name}: OCI job shape {shape}, spec says {(job.shape, job.ocpus)}")
        env = current.job_configuration_details.environment_variables or {}
        if env.get("GEN") != str(job.gen):
            found.append(f"{job.name}: OCI job has GEN={env.get('GEN')}, spec says {job.gen}")
        if _tag(current, TAG_REVISION) != str(status.get("revision")):
            found.append(f"{job.name}: OCI job revision tag {_tag(current, TAG_REVISION)} != status")
    if not job.retain:
        for retired in status.get("retiredJobIds") or []:
            if not any(r.job_id == retired and r.lifecycle_state != "DELETED" for r in oci_runs):
                found.append(f"{job.name}: retired OCI job {retired} has no runs left but is not deleted")
    return found


def _orphans(model: Workload, now: World) -> list[str]:
    """Live OCI jobs and runs no object accounts for, unless their object asked for Retain."""
    found = []
    for oci_job in now.oci_jobs:
        if oci_job.lifecycle_state == "DELETED":
            continue
        name = _tag(oci_job, TAG_NAME) or "?"
        job: JobModel | None = model.jobs.get(name)
        obj = now.jobs.get(name)
        status = (obj or {}).get("status") or {}
        known = [status.get("jobId"), *(status.get("retiredJobIds") or [])]
        if oci_job.lifecycle_state == "DELETING":
            found.append(f"OCI job {oci_job.id} of {name} still DELETING")
        elif obj is not None and oci_job.id in known:
            continue
        elif (job is None or not job.retain) and not _holds_retained_run(model, now, oci_job.id):
            found.append(f"OCI job {oci_job.id} ({name}, {oci_job.lifecycle_state}) has no TrainingJob")
    for oci_run in now.oci_runs:
        if oci_run.lifecycle_state == "DELETED":
            continue
        name = _tag(oci_run, TAG_NAME) or "?"
        run: RunModel | None = model.runs.get(name)
        obj = now.runs.get(name)
        if obj is not None and (obj.get("status") or {}).get("jobRunId") == oci_run.id:
            continue
        if run is None or not run.retain:
            found.append(f"OCI run {oci_run.id} ({name}, {oci_run.lifecycle_state}) has no TrainingJobRun")
    return found


def _holds_retained_run(model: Workload, now: World, job_id: str) -> bool:
    """A job deleted with its TrainingJob (policy Delete) is kept while it holds the live OCI run of
    a TrainingJobRun that says Retain: DeleteJob would take that run along."""
    for oci_run in now.oci_runs:
        run = model.runs.get(_tag(oci_run, TAG_NAME) or "")
        if (
            oci_run.job_id == job_id
            and oci_run.lifecycle_state != "DELETED"
            and run is not None
            and run.retain
        ):
            return True
    return False


def irreversible(model: Workload, now: World) -> list[str]:
    """What no waiting undoes: a second create (DELETED ones count), a Retain resource deleted."""
    found = []
    revisions = Counter((_tag(j, TAG_UID), _tag(j, TAG_REVISION)) for j in now.oci_jobs)
    for (uid, revision), n in revisions.items():
        if n > 1:
            names = {_tag(j, TAG_NAME) for j in now.oci_jobs if _tag(j, TAG_UID) == uid}
            found.append(f"{n} OCI jobs for revision {revision} of TrainingJob {names} (uid {uid})")
    per_run = Counter(_tag(r, TAG_UID) for r in now.oci_runs)
    for uid, n in per_run.items():
        if n > 1:
            names = {_tag(r, TAG_NAME) for r in now.oci_runs if _tag(r, TAG_UID) == uid}
            found.append(f"{n} OCI runs for TrainingJobRun {names} (uid {uid}): started more than once")
    return found + _retain_broken(model, now)


def permanent_violations(model: Workload, now: World) -> list[str]:
    """`irreversible`, and each live TrainingJobRun's one OCI run ended as its phase says."""
    found = irreversible(model, now)
    for run in model.live_runs:
        obj = now.runs.get(run.name)
        if obj is None:
            continue
        uid, status = obj["metadata"]["uid"], obj.get("status") or {}
        mine = [r for r in now.oci_runs if _tag(r, TAG_UID) == uid]
        if [r.id for r in mine] != [status.get("jobRunId")]:
            found.append(
                f"{run.name}: status.jobRunId {status.get('jobRunId')}, OCI runs {[r.id for r in mine]}"
            )
            continue
        want = FINISHED_RUN_STATES[run.phase]
        if mine[0].lifecycle_state != want or mine[0].time_started is None:
            found.append(f"{run.name}: OCI run {mine[0].id} is {mine[0].lifecycle_state}, want {want} once")
    return found


def _retain_broken(model: Workload, now: World) -> list[str]:
    """Retain means kept: a Retain TrainingJob's OCI jobs are never deleted (retired revisions
    included), nor a Retain run's OCI run, even when its TrainingJob is deleted with policy Delete."""
    found = []
    for job in model.jobs.values():
        gone = [j.id for j in now.oci_jobs if _tag(j, TAG_NAME) == job.name and j.lifecycle_state in GONE]
        if job.retain and gone:
            found.append(f"{job.name} has deletionPolicy Retain, yet its OCI job(s) {gone} were deleted")
    for run in model.runs.values():
        if not run.retain:
            continue
        gone = [
            r.id for r in now.oci_runs if _tag(r, TAG_NAME) == run.name and r.lifecycle_state == "DELETED"
        ]
        if gone:
            found.append(f"{run.name} has deletionPolicy Retain, yet its OCI run {gone} was deleted")
    return found


def artifact_mismatches(model: Workload, world: Scenario, now: World) -> list[str]:
    """The code each live TrainingJob's OCI job runs is the spec's last version."""
    found = []
    for job in model.live_jobs:
        job_id = ((now.jobs.get(job.name) or {}).get("status") or {}).get("jobId")
        content = world.oci.ds.get_job_artifact_content(job_id).data.content.decode()
        if content != job.script():
            found.append(f"{job.name}: OCI job {job_id} runs {content!r}, spec says {job.script()!r}")
    return found


def _brief(obj: dict[str, Any]) -> str:
    status = obj.get("status") or {}
    conditions = [(c.get("type"), c.get("status"), c.get("reason")) for c in status.get("conditions") or []]
    return f"phase={status.get('phase')} message={status.get('message')!r} conditions={conditions}"
