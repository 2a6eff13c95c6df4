"""The orphan report: which OCI jobs and runs this cluster tagged no resource owns any more. Pure.

An OCI resource is this cluster's when it carries `ocids.io/cluster=<OCIDS_CLUSTER_NAME>` and an
`ocids.io/uid`; its owner is the TrainingJob (jobs, every revision), TrainingJobRun (runs, every
attempt) or TrainingJobSchedule (the runs its OCI Schedule fires) with that uid. Orphans come from
finalizers removed by hand, an operator uninstalled while objects were deleted, or a namespace
deleted without the operator. What was kept on purpose is never an orphan: a run whose
TrainingJobRun said deletionPolicy Retain (tagged so by its finalizer), a job tagged likewise by its
TrainingJob's finalizer, a run an OCI Schedule left in OCI fired, and a job that holds any run that
must outlive it (DeleteJob takes every run with it). A FAILED job without the Retain tag is kept
too unless asked (`include_failed`): OCI takes no tag on a FAILED job, so its TrainingJob's Retain
could not be recorded on it.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
from collections.abc import Collection, Iterable, Mapping, Sequence

from .deletion_plan import RETAINED, TAG_RETAINED
from .model import TAG_CLUSTER, TAG_NAME, TAG_NAMESPACE, TAG_UID
from .oci_schedule_plan import TAG_SCHEDULE_UID
from .phases import ACTIVE_RUN_STATES, GONE_JOB_STATES, JobState, RunState
from .run_plan import RunView


class ResourceKind(enum.StrEnum):
    JOB = "job"
    RUN = "run"


class Standing(enum.StrEnum):
    ORPHAN = "Orphan"  # nothing owns it: `orphans --delete` removes it
    RETAINED = "Retained"  # left in OCI on purpose (deletionPolicy Retain): reported, never deleted
    KEPT = "Kept"  # a job nothing owns that holds runs which must outlive it: reported, never deleted


@dataclasses.dataclass(frozen=True)
class OciJob:
    """The parts of an OCI JobSummary the report needs."""

    id: str
    compartment_id: str
    lifecycle_state: str
    tags: Mapping[str, str]
    display_name: str = ""
    time_created: datetime.datetime | None = None


@dataclasses.dataclass(frozen=True)
class Finding:
    """One OCI resource of this cluster that no object owns."""

    kind: ResourceKind
    id: str
    compartment_id: str
    standing: Standing
    state: str
    namespace: str  # of the object that made it (its tags)
    name: str
    uid: str
    why: str
    job_id: str | None = None  # a run's job
    time_started: datetime.datetime | None = None
    time_finished: datetime.datetime | None = None

    @property
    def active(self) -> bool:
        return self.kind is ResourceKind.RUN and RunState.of(self.state) in ACTIVE_RUN_STATES

    @property
    def owner(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace or self.name else "-"


@dataclasses.dataclass(frozen=True)
class OrphanReport:
    findings: tuple[Finding, ...]

    def of(self, kind: ResourceKind, standing: Standing = Standing.ORPHAN) -> list[Finding]:
        return [f for f in self.findings if f.kind is kind and f.standing is standing]

    @property
    def orphan_runs(self) -> list[Finding]:
        return self.of(ResourceKind.RUN)

    @property
    def orphan_jobs(self) -> list[Finding]:
        return self.of(ResourceKind.JOB)

    def runs_to_cancel(self) -> list[Finding]:
        """Active orphan runs: OCI deletes neither them nor the job that holds them until they end."""
        return [f for f in self.orphan_runs if f.active]

    def runs_to_delete(self) -> list[Finding]:
        """Orphan runs whose job stays (an owned job): deleted one by one; an orphan job's go with it."""
        doomed = {f.id for f in self.orphan_jobs}
        return [f for f in self.orphan_runs if f.job_id not in doomed]

    def deleted_with_job(self, job_id: str) -> list[Finding]:
        return [f for f in self.orphan_runs if f.job_id == job_id]


@dataclasses.dataclass(frozen=True)
class Scope:
    """Whose resources the report judges: this cluster's, of these namespaces (empty: all)."""

    cluster: str
    namespaces: frozenset[str] = frozenset()
    # FAILED jobs without the Retain tag are orphans too (`orphans --include-failed`).
    include_failed: bool = False

    def covers(self, tags: Mapping[str, str]) -> bool:
        if tags.get(TAG_CLUSTER) != self.cluster or not tags.get(TAG_UID):
            return False
        # An operator that watches some namespaces leaves the others' resources to their own operator.
        return not self.namespaces or tags.get(TAG_NAMESPACE, "") in self.namespaces


def classify(
    jobs: Iterable[OciJob], runs: Iterable[RunView], owner_uids: Collection[str], scope: Scope
) -> OrphanReport:
    """`jobs`, `runs`: what OCI listed in the compartments, read BEFORE `owner_uids` (the uids of
    every TrainingJob and TrainingJobRun in scope): an object created in between then owns its
    resources, instead of its first resources being taken for orphans."""
    live_runs = [run for run in runs if run.state is not RunState.DELETED]
    runs_by_job: dict[str, list[RunView]] = {}
    for run in live_runs:
        runs_by_job.setdefault(run.job_id or "", []).append(run)
    findings: list[Finding] = []
    for run in live_runs:
        standing = _run_standing(run, owner_uids, scope)
        if standing is not None:
            findings.append(_run_finding(run, *standing))
    for job in jobs:
        if job.lifecycle_state in GONE_JOB_STATES:
            continue
        standing = _job_standing(job, runs_by_job.get(job.id, ()), owner_uids, scope)
        if standing is not None:
            findings.append(_job_finding(job, *standing))
    order = {ResourceKind.JOB: 0, ResourceKind.RUN: 1}
    findings.sort(key=lambda f: (f.standing != Standing.ORPHAN, order[f.kind], f.owner, f.id))
    return OrphanReport(tuple(findings))


def _run_standing(run: RunView, owner_uids: Collection[str], scope: Scope) -> tuple[Standing, str] | None:
    tags = run.tags
    if not scope.covers(tags) or tags[TAG_UID] in owner_uids:
        return None
    if tags.get(TAG_RETAINED) == RETAINED:
        return Standing.RETAINED, "its TrainingJobRun was deleted with deletionPolicy Retain"
    if tags.get(TAG_SCHEDULE_UID):
        # Fired by an OCI Schedule whose TrainingJobSchedule is gone: with deletionPolicy Retain the
        # Schedule stays in OCI and goes on firing; its runs are the user's, as the Schedule is.
        return Standing.KEPT, "fired by an OCI Schedule left in OCI (its TrainingJobSchedule is gone)"
    return Standing.ORPHAN, "no TrainingJobRun (nor TrainingJobSchedule) has its uid"


def _job_standing(
    job: OciJob, runs: Sequence[RunView], owner_uids: Collection[str], scope: Scope
) -> tuple[Standing, str] | None:
    tags = job.tags
    if not scope.covers(tags) or tags[TAG_UID] in owner_uids:
        return None
    if tags.get(TAG_RETAINED) == RETAINED:
        return Standing.RETAINED, "its TrainingJob was deleted with deletionPolicy Retain"
    if job.lifecycle_state == JobState.FAILED and not scope.include_failed:
        return (
            Standing.KEPT,
            "no TrainingJob has its uid, but it is FAILED: OCI takes no tag on a FAILED job, so a "
            "deletionPolicy Retain could not be recorded on it (--include-failed deletes it)",
        )
    owned = [run.id for run in runs if scope.covers(run.tags) and run.tags[TAG_UID] in owner_uids]
    if owned:
        return (
            Standing.KEPT,
            f"no TrainingJob has its uid, but TrainingJobRuns own its run(s) {', '.join(owned)}",
        )
    retained = [run.id for run in runs if scope.covers(run.tags) and _kept_run(run.tags)]
    if retained:
        return Standing.KEPT, f"no TrainingJob has its uid; it holds retained run(s) {', '.join(retained)}"
    foreign = [run.id for run in runs if not scope.covers(run.tags)]
    if foreign:
        return (
            Standing.KEPT,
            f"no TrainingJob has its uid; it holds run(s) {', '.join(foreign)} this cluster did not make",
        )
    return Standing.ORPHAN, "no TrainingJob has its uid"


def _kept_run(tags: Mapping[str, str]) -> bool:
    return tags.get(TAG_RETAINED) == RETAINED or bool(tags.get(TAG_SCHEDULE_UID))


def _run_finding(run: RunView, standing: Standing, why: str) -> Finding:
    tags = run.tags
    return Finding(
        kind=ResourceKind.RUN,
        id=run.id,
        compartment_id=run.compartment_id or "",
        standing=standing,
        state=run.lifecycle_state,
        namespace=tags.get(TAG_NAMESPACE, ""),
        name=tags.get(TAG_NAME, ""),
        uid=tags.get(TAG_UID, ""),
        why=why,
        job_id=run.job_id,
        time_started=run.time_started,
        time_finished=run.time_finished,
    )


def _job_finding(job: OciJob, standing: Standing, why: str) -> Finding:
    tags = job.tags
    return Finding(
        kind=ResourceKind.JOB,
        id=job.id,
        compartment_id=job.compartment_id,
        standing=standing,
        state=job.lifecycle_state,
        namespace=tags.get(TAG_NAMESPACE, ""),
        name=tags.get(TAG_NAME, ""),
        uid=tags.get(TAG_UID, ""),
        why=why,
    )


def billed_hours(finding: Finding, now: datetime.datetime) -> float:
    """Hours a run has been billed so far: from its start to its end (or now, while it runs)."""
    if finding.kind is not ResourceKind.RUN or finding.time_started is None:
        return 0.0
    end = finding.time_finished or now
    return max(0.0, (end - finding.time_started).total_seconds() / 3600)


def cost_so_far(price_per_hour: float | None, finding: Finding, now: datetime.datetime) -> float | None:
    """A run's list-price cost so far; None when its price is not known."""
    if price_per_hour is None:
        return None
    return price_per_hour * billed_hours(finding, now)
