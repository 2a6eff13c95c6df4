"""TrainingJob: desired spec + observed OCI job -> one step to take. Pure: no I/O, no kopf.

A reconcile applies steps until the plan says NOOP (or waits): create, adopt, finish a
creation (upload the artifact / wait for ACTIVE), update in place, or a new revision.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from typing import Any

from oci.data_science import models as ds

from ..adapters import oci_mapping as rq
from ..api import TrainingJobSpec

LIVE_STATES = ("CREATING", "ACTIVE")


class JobAction(enum.StrEnum):
    CREATE = "Create"  # no OCI job yet: create revision 1 (after a lookup by tags)
    ADOPT = "Adopt"  # take over spec.adoptJobId: tag it, bring in-place fields to the spec
    FINISH_CREATE = "FinishCreate"  # job is CREATING: upload the artifact if missing, wait for ACTIVE
    UPDATE = "Update"  # in-place fields differ: UpdateJob with if-match
    NEW_REVISION = "NewRevision"  # template differs: create a new OCI job, retire the current one
    RECREATE = "Recreate"  # the OCI job was deleted (or failed) outside Kubernetes
    STALL = "Stall"  # cannot proceed until the spec changes
    NOOP = "NoOp"


@dataclasses.dataclass(frozen=True)
class InPlace:
    """The fields UpdateJob can change, normalized for comparison."""

    display_name: str | None
    description: str | None
    infrastructure: tuple[Any, ...]
    storage_mounts: tuple[Any, ...]
    freeform_tags: tuple[tuple[str, str], ...]

    def differences(self, other: InPlace) -> list[str]:
        return rq.changed_fields(self, other)


@dataclasses.dataclass(frozen=True)
class ObservedJob:
    id: str
    lifecycle_state: str
    in_place: InPlace
    template: rq.Template
    tags: Mapping[str, str]
    artifact_digest: str | None = None  # only known when fetched (adoption)

    @property
    def template_hash(self) -> str | None:
        return self.tags.get(rq.TAG_TEMPLATE)


@dataclasses.dataclass(frozen=True)
class DesiredJob:
    spec: TrainingJobSpec
    ref: rq.ObjectRef
    template: rq.Template
    artifact_digest: str

    @property
    def template_hash(self) -> str:
        return rq.template_hash(self.template, self.artifact_digest)

    def in_place(self, revision: int) -> InPlace:
        spec = self.spec
        return InPlace(
            display_name=spec.display_name or self.ref.default_display_name,
            description=spec.description,
            infrastructure=_infra_tuple(rq.infrastructure_details(spec.infrastructure)),
            storage_mounts=_mounts_tuple(rq.storage_mount_details(spec.storage_mounts)),
            freeform_tags=tuple(sorted(rq.job_tags(spec, self.ref, revision, self.template_hash).items())),
        )


@dataclasses.dataclass(frozen=True)
class JobState:
    """What the status says about the OCI side."""

    job_id: str | None = None
    revision: int = 0


@dataclasses.dataclass(frozen=True)
class JobPlan:
    action: JobAction
    revision: int
    reason: str
    message: str
    changes: tuple[str, ...] = ()
    retire_job_id: str | None = None


def _num(value: float | None) -> float | None:
    return None if value is None else float(value)


def _infra_tuple(infra: Any) -> tuple[Any, ...]:
    if infra is None:
        return ()
    shape_config = getattr(infra, "job_shape_config_details", None)
    return (
        getattr(infra, "job_infrastructure_type", None),
        getattr(infra, "shape_name", None),
        _num(getattr(shape_config, "ocpus", None)),
        _num(getattr(shape_config, "memory_in_gbs", None)),
        getattr(infra, "block_storage_size_in_gbs", None),
        getattr(infra, "subnet_id", None),
    )


def _mounts_tuple(mounts: Any) -> tuple[Any, ...]:
    keys = (
        "storage_type",
        "destination_directory_name",
        "destination_path",
        "namespace",
        "bucket",
        "prefix",
        "mount_target_id",
        "export_id",
    )
    return tuple(sorted(tuple(str(getattr(m, key, None) or "") for key in keys) for m in mounts or ()))


def observe_job(job: ds.Job, artifact_digest: str | None = None) -> ObservedJob:
    return ObservedJob(
        id=job.id,
        lifecycle_state=str(job.lifecycle_state),
        in_place=InPlace(
            display_name=job.display_name,
            description=job.description,
            infrastructure=_infra_tuple(job.job_infrastructure_configuration_details),
            storage_mounts=_mounts_tuple(job.job_storage_mount_configuration_details_list),
            freeform_tags=tuple(sorted((job.freeform_tags or {}).items())),
        ),
        template=rq.observed_template(job),
        tags=dict(job.freeform_tags or {}),
        artifact_digest=artifact_digest,
    )


def adoption_differences(desired: DesiredJob, observed: ObservedJob) -> list[str]:
    """Template fields (names only) where an adopted job differs from the spec."""
    diffs = desired.template.differences(observed.template)
    if observed.artifact_digest != desired.artifact_digest:
        diffs.insert(0, "artifact")
    return diffs


def plan_job(desired: DesiredJob, state: JobState, observed: ObservedJob | None) -> JobPlan:
    """The next step. `observed` is the OCI job named by state.job_id (or spec.adoptJobId before adoption)."""
    spec = desired.spec
    if state.job_id is None:
        if spec.adopt_job_id:
            if observed is None:
                return JobPlan(
                    JobAction.STALL,
                    state.revision,
                    "AdoptTargetNotFound",
                    f"adoptJobId {spec.adopt_job_id} was not found in OCI (or the operator may not read it)",
                )
            if observed.lifecycle_state not in LIVE_STATES:
                return JobPlan(
                    JobAction.STALL,
                    state.revision,
                    "AdoptTargetNotLive",
                    f"adoptJobId {spec.adopt_job_id} is {observed.lifecycle_state}; "
                    "only an ACTIVE job can be adopted",
                )
            diffs = adoption_differences(desired, observed)
            message = f"adopting OCI job {observed.id}"
            if diffs:
                message += (
                    f"; its template differs from the spec ({', '.join(diffs)}), so a new revision follows"
                )
            return JobPlan(JobAction.ADOPT, 1, "Adopting", message, tuple(diffs))
        revision = state.revision + 1
        return JobPlan(JobAction.CREATE, revision, "Creating", f"creating OCI job revision {revision}")

    if observed is None or observed.lifecycle_state not in LIVE_STATES:
        revision = state.revision + 1
        gone = observed is None or observed.lifecycle_state in ("DELETING", "DELETED")
        what = (
            "was deleted outside Kubernetes" if gone or observed is None else f"is {observed.lifecycle_state}"
        )
        return JobPlan(
            JobAction.RECREATE,
            revision,
            "JobMissingInOCI",
            f"OCI job {state.job_id} {what}; creating revision {revision}",
            retire_job_id=None if gone else state.job_id,
        )

    if observed.template_hash != desired.template_hash:
        revision = state.revision + 1
        changes = tuple(desired.template.differences(observed.template)) or ("artifact",)
        return JobPlan(
            JobAction.NEW_REVISION,
            revision,
            "NewRevision",
            f"{', '.join(changes)} cannot change on an existing OCI job; creating revision {revision}",
            changes,
            retire_job_id=observed.id,
        )

    if observed.lifecycle_state == "CREATING":
        return JobPlan(
            JobAction.FINISH_CREATE, state.revision, "Creating", f"OCI job {observed.id} is CREATING"
        )

    changes = tuple(desired.in_place(state.revision).differences(observed.in_place))
    if changes:
        return JobPlan(
            JobAction.UPDATE,
            state.revision,
            "UpdatingInPlace",
            f"updating {', '.join(changes)} of OCI job {observed.id} in place",
            changes,
        )
    return JobPlan(JobAction.NOOP, state.revision, "Active", f"OCI job {observed.id} matches the spec")
