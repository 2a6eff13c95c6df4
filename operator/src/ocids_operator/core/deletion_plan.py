"""What a TrainingJob's deletion (policy Delete) may stop and delete in OCI. Pure: no I/O.

DeleteJob takes every run of the job with it, so a job is deleted only when nothing under it must
outlive the TrainingJob: a run whose TrainingJobRun says Retain, or a run this operator never made
(an adopted job's history). Those jobs are kept, and only this operator's other runs are canceled.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence

from .model import TAG_CLUSTER, TAG_NAMESPACE, TAG_UID
from .phases import ACTIVE_RUN_STATES, RunState
from .run_plan import RunView

# Written on an OCI run by its TrainingJobRun's finalizer (policy Retain) before it lets go: once the
# object is gone, this tag is what tells its TrainingJob's deletion to keep the run.
TAG_RETAINED = "ocids.io/deletion-policy"
RETAINED = "Retain"


@dataclasses.dataclass(frozen=True)
class JobDeletionPlan:
    stop: list[RunView]  # this operator's active runs nobody asked to keep: canceled first
    retained: dict[str, list[str]]  # job id -> its runs a TrainingJobRun asked to keep
    foreign: dict[str, list[str]]  # job id -> its runs this operator did not create

    def kept(self, job_id: str) -> bool:
        return job_id in self.retained or job_id in self.foreign


def ours(run: RunView, namespace: str, cluster: str) -> bool:
    """A run a TrainingJobRun of this namespace (and cluster) created: it carries that object's uid."""
    tags = run.tags
    return (
        bool(tags.get(TAG_UID)) and tags.get(TAG_NAMESPACE) == namespace and tags.get(TAG_CLUSTER) == cluster
    )


def is_retained(run: RunView, retained_ids: Collection[str]) -> bool:
    return run.id in retained_ids or run.tags.get(TAG_RETAINED) == RETAINED


def plan_job_deletion(
    runs_by_job: Mapping[str, Sequence[RunView]], retained_ids: Collection[str], namespace: str, cluster: str
) -> JobDeletionPlan:
    """`runs_by_job`: each job's runs not yet DELETED; `retained_ids`: the OCI runs of the
    TrainingJobRuns (still present) whose deletionPolicy is Retain."""
    stop: list[RunView] = []
    retained: dict[str, list[str]] = {}
    foreign: dict[str, list[str]] = {}
    for job_id, runs in runs_by_job.items():
        for run in runs:
            if run.state is RunState.DELETED:
                continue
            if not ours(run, namespace, cluster):
                foreign.setdefault(job_id, []).append(run.id)
            elif is_retained(run, retained_ids):
                retained.setdefault(job_id, []).append(run.id)
            elif run.state in ACTIVE_RUN_STATES:
                stop.append(run)
    return JobDeletionPlan(stop, retained, foreign)
