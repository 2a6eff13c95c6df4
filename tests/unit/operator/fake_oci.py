"""An in-memory OCI Data Science behind the `DataScience` Protocol, for the workflow scenario tables.

It builds the SDK request bodies with the real mapping (so recorded requests are what OCI would
receive) and answers the way the service does: a created job is CREATING until its artifact is
uploaded, UpdateJob checks if-match, DeleteJob takes the job's runs with it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import oci
from oci.data_science import models as ds
from oci_wire import to_wire
from ocids_operator.adapters import oci_mapping as mapping
from ocids_operator.core.job_plan import ObservedJob
from ocids_operator.core.model import (
    TAG_CLUSTER,
    TAG_NAMESPACE,
    TAG_UID,
    JobRequest,
    JobUpdate,
    ResolvedArtifact,
    RunRequest,
    content_digest,
)
from ocids_operator.core.phases import GONE_JOB_STATES
from ocids_operator.core.run_plan import RunView
from ocids_operator.core.shape_choice import FastLaunchConfig
from ocids_operator.shapes import SHAPE_NAMES

REGION = "us-ashburn-1"


@dataclasses.dataclass
class StoredJob:
    job: ds.Job
    artifact: bytes | None = None
    etag: int = 1
    run_states: list[str] = dataclasses.field(default_factory=list)


class FakeDataScience:
    region = REGION

    def __init__(self) -> None:
        self.jobs: dict[str, StoredJob] = {}
        self.calls: list[str] = []
        self.requests: dict[str, list[Any]] = {}
        # operation -> the exception it raises (after being recorded), as OCI's errors would arrive
        self.failures: dict[str, Exception] = {}
        # Eventual consistency: a created job answers this many GetJobs with 404 (lists show it).
        self.not_found_after_create = 0
        self._unseen: dict[str, int] = {}
        # DeleteJob answers 202, but this many deletions fail later (the job returns to ACTIVE).
        self.failing_deletes = 0
        # Jobs IAM no longer lets the operator read or delete: GetJob and DeleteJob answer 404
        # NotAuthorizedOrNotFound, as for a missing job (deny ListJobs too with `failures`).
        self.denied: set[str] = set()
        # Where referenced projects, log groups and subnets live (tenancy isolation); missing: 404.
        self.compartments: dict[str, str] = {}
        # What ListJobShapes / ListFastLaunchJobConfigs answer (default: the offline table's shapes).
        # The gateway caches these per compartment (one read per OCIDS_SHAPE_CACHE_SECONDS), so they
        # are recorded apart, in `catalog_calls`: `calls` stays what each reconcile costs.
        self.job_shapes: list[str] = list(SHAPE_NAMES)
        self.fast_launch_configs: list[FastLaunchConfig] = []
        self.catalog_calls: list[tuple[str, str, bool]] = []

    # Setting up the OCI side -------------------------------------------------------------------
    def add_job(
        self,
        request: JobRequest,
        job_id: str,
        state: str = "ACTIVE",
        artifact: bytes | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        job = self._job_from(mapping.create_job_details(request), job_id, state)
        if tags is not None:
            job.freeform_tags = tags
        self.jobs[job_id] = StoredJob(job, artifact)

    @staticmethod
    def _job_from(details: ds.CreateJobDetails, job_id: str, state: str) -> ds.Job:
        job = ds.Job(id=job_id, lifecycle_state=state)
        for attr in details.attribute_map:
            setattr(job, attr, getattr(details, attr))
        return job

    def _record(self, operation: str, request: Any = None) -> None:
        self.calls.append(operation)
        if request is not None:
            self.requests.setdefault(operation, []).append(to_wire(request))
        if operation in self.failures:
            raise self.failures[operation]

    def _live(self, job_id: str) -> StoredJob | None:
        stored = self.jobs.get(job_id)
        return None if stored is None or stored.job.lifecycle_state == "DELETED" else stored

    # The Protocol ------------------------------------------------------------------------------
    async def get_job(self, job_id: str) -> ObservedJob | None:
        self._record("get_job")
        stored = self.jobs.get(job_id)
        if job_id in self.denied:
            return None
        if self._unseen.get(job_id):
            self._unseen[job_id] -= 1
            return None
        if stored is None:
            return None
        return mapping.observe_job(stored.job, etag=str(stored.etag))

    async def compartment_of(self, ocid: str) -> str | None:
        kind = ocid.split(".")[1]
        operation = {"datascienceproject": "project", "datasciencejob": "job", "loggroup": "log_group"}.get(
            kind, kind
        )
        self._record(f"get_{operation}")
        stored = self.jobs.get(ocid)
        return str(stored.job.compartment_id) if stored is not None else self.compartments.get(ocid)

    async def job_artifact_digest(self, job_id: str, max_bytes: int) -> str | None:
        self._record("get_job_artifact_content")
        stored = self._live(job_id)
        if stored is None or stored.artifact is None:
            return None
        return content_digest(stored.artifact)

    async def find_job_ids(self, compartment_id: str, project_id: str, tags: dict[str, str]) -> list[str]:
        self._record("list_jobs")
        return [
            job_id
            for job_id, stored in self.jobs.items()
            if stored.job.lifecycle_state not in ("DELETING", "DELETED")
            and stored.job.project_id == project_id
            and all((stored.job.freeform_tags or {}).get(k) == v for k, v in tags.items())
        ]

    async def list_job_shapes(self, compartment_id: str, fresh: bool = False) -> list[str]:
        self.catalog_calls.append(("list_job_shapes", compartment_id, fresh))
        return list(self.job_shapes)

    async def list_fast_launch_job_configs(
        self, compartment_id: str, fresh: bool = False
    ) -> list[FastLaunchConfig]:
        self.catalog_calls.append(("list_fast_launch_job_configs", compartment_id, fresh))
        return list(self.fast_launch_configs)

    async def create_job(self, request: JobRequest) -> str:
        details = mapping.create_job_details(request)
        self._record("create_job", details)
        job_id = f"ocid1.datasciencejob.oc1..new{len(self.jobs) + 1}"
        # A container job without an artifact is ACTIVE at once (nothing to wait for), as in OCI.
        state = "ACTIVE" if request.spec.artifact is None else "CREATING"
        self.jobs[job_id] = StoredJob(self._job_from(details, job_id, state))
        self._unseen[job_id] = self.not_found_after_create
        return job_id

    async def job_artifact_exists(self, job_id: str) -> bool:
        self._record("head_job_artifact")
        stored = self._live(job_id)
        return stored is not None and stored.artifact is not None

    async def upload_job_artifact(self, job_id: str, artifact: ResolvedArtifact) -> None:
        self._record("create_job_artifact")
        stored = self.jobs[job_id]
        if artifact.spooled is not None:
            with open(artifact.spooled.path, "rb") as spooled:
                stored.artifact = spooled.read()
        else:
            stored.artifact = artifact.content
        if stored.job.lifecycle_state == "CREATING":
            stored.job.lifecycle_state = "ACTIVE"

    async def update_job(self, job_id: str, update: JobUpdate, etag: str | None) -> None:
        details = mapping.update_job_details(update)
        self._record("update_job", details)
        stored = self.jobs[job_id]
        assert etag == str(stored.etag), "UpdateJob without the current etag would answer 412"
        for attr in details.attribute_map:
            setattr(stored.job, attr, getattr(details, attr))
        stored.etag += 1

    async def delete_job(self, job_id: str, compartment_id: str) -> bool:
        self._record("delete_job")
        stored = self._live(job_id)
        if job_id in self.denied or stored is None:
            # A 404, as OciGateway proves it: gone only if the compartment's ListJobs (filtered by id)
            # answers without it; a ListJobs denied too raises, as does a job it still shows.
            self._record("list_jobs")
            if stored is not None and stored.job.lifecycle_state not in GONE_JOB_STATES:
                raise not_authorized_or_not_found("delete_job")
            return False
        if self.failing_deletes:
            self.failing_deletes -= 1
            return True
        stored.job.lifecycle_state = "DELETED"
        stored.run_states = []
        return True

    async def list_job_runs(self, compartment_id: str, **filters: str) -> list[RunView]:
        self._record("list_job_runs")
        stored = self.jobs.get(filters.get("job_id", ""))
        if stored is None:
            return []
        # Made by TrainingJobRuns of the job's namespace and cluster: this operator's runs.
        job_tags = stored.job.freeform_tags or {}
        owner = {key: job_tags[key] for key in (TAG_NAMESPACE, TAG_CLUSTER) if key in job_tags}
        return [
            RunView(
                f"ocid1.datasciencejobrun.oc1..{index}",
                filters.get("job_id"),
                compartment_id,
                state,
                tags={TAG_UID: f"uid-run-{index}", **owner},
            )
            for index, state in enumerate(stored.run_states)
        ]

    async def cancel_job_run(self, job_run_id: str, compartment_id: str) -> bool:
        self._record("cancel_job_run")
        return True

    async def tag_job_run(self, job_run_id: str, freeform_tags: dict[str, str]) -> None:
        raise NotImplementedError("job scenarios tag no runs")

    async def create_job_run(self, request: RunRequest) -> RunView:
        raise NotImplementedError("job scenarios create no runs")

    async def get_job_run(self, job_run_id: str) -> RunView | None:
        raise NotImplementedError("job scenarios read no runs")

    async def delete_job_run(self, job_run_id: str, compartment_id: str) -> bool:
        raise NotImplementedError("job scenarios delete no runs")


def not_authorized_or_not_found(operation: str) -> oci.exceptions.ServiceError:
    """OCI's answer to a denied call and to a missing resource alike."""
    message = "Authorization failed or requested resource not found."
    return oci.exceptions.ServiceError(404, "NotAuthorizedOrNotFound", {}, message, operation_name=operation)
