"""TrainingJob: desired spec + observed OCI job -> one step to take. Pure: no I/O, no kopf.

A reconcile applies steps until the plan says NOOP (or waits): create, adopt, finish a
creation (upload the artifact / wait for ACTIVE), update in place, or a new revision.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Mapping
from typing import Any

from ..api import Infrastructure, TrainingJobSpec
from .errors import ADOPTION_NOT_ALLOWED
from .model import (
    TAG_CLUSTER,
    TAG_NAME,
    TAG_NAMESPACE,
    TAG_TEMPLATE,
    TAG_UID,
    ObjectRef,
    Template,
    changed_fields,
    job_tags,
    template_hash,
)
from .phases import GONE_JOB_STATES, LIVE_JOB_STATES, JobState
from .tenancy import adoption_refusal


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
        return changed_fields(self, other)


@dataclasses.dataclass(frozen=True)
class ObservedJob:
    id: str
    lifecycle_state: str
    in_place: InPlace
    template: Template
    tags: Mapping[str, str]
    artifact_digest: str | None = None  # only known when fetched (adoption)
    etag: str | None = None  # UpdateJob's if-match
    compartment_id: str | None = None

    @property
    def template_hash(self) -> str | None:
        return self.tags.get(TAG_TEMPLATE)


@dataclasses.dataclass(frozen=True)
class DesiredJob:
    spec: TrainingJobSpec
    ref: ObjectRef
    template: Template
    artifact_digest: str

    @property
    def template_hash(self) -> str:
        return template_hash(self.template, self.artifact_digest)

    def in_place(self, revision: int) -> InPlace:
        spec = self.spec
        return InPlace(
            display_name=spec.display_name or self.ref.default_display_name,
            description=spec.description,
            infrastructure=desired_infrastructure_key(spec.infrastructure),
            storage_mounts=mounts_key(mount.model_dump() for mount in spec.storage_mounts),
            freeform_tags=tuple(sorted(job_tags(spec, self.ref, revision, self.template_hash).items())),
        )


@dataclasses.dataclass(frozen=True)
class JobRecord:
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


def infrastructure_key(
    infrastructure_type: str | None,
    shape: str | None,
    ocpus: float | None,
    memory_in_gbs: float | None,
    block_storage_size_in_gbs: int | None,
    subnet_id: str | None,
) -> tuple[Any, ...]:
    """The infrastructure as compared: the same tuple from a spec and from an OCI job."""
    return (
        infrastructure_type,
        shape,
        _num(ocpus),
        _num(memory_in_gbs),
        block_storage_size_in_gbs,
        subnet_id,
    )


def infrastructure_type(infra: Infrastructure) -> str:
    """OCI's networking mode: a subnet of the user's (STANDALONE) or the managed egress one."""
    return "STANDALONE" if infra.subnet_id else "ME_STANDALONE"


def desired_infrastructure_key(infra: Infrastructure) -> tuple[Any, ...]:
    return infrastructure_key(
        infrastructure_type(infra),
        infra.shape,
        infra.ocpus,
        infra.memory_in_gbs,
        infra.block_storage_size_in_gbs,
        infra.subnet_id,
    )


MOUNT_FIELDS = (
    "storage_type",
    "destination_directory_name",
    "destination_path",
    "namespace",
    "bucket",
    "prefix",
    "mount_target_id",
    "export_id",
)


def mounts_key(mounts: Iterable[Mapping[str, Any]]) -> tuple[Any, ...]:
    """Storage mounts as compared (order-free); `mounts` are snake_case field maps."""
    return tuple(sorted(tuple(str(mount.get(key) or "") for key in MOUNT_FIELDS) for mount in mounts))


DESTINATION_PATH = MOUNT_FIELDS.index("destination_path")


def defaults_as_observed(desired: InPlace, observed: InPlace) -> InPlace:
    """`desired` with the mount destinationPath the spec leaves out taken from OCI, which fills in a
    default there: comparing it would update the job forever. (Flex memory cannot be left out.)"""
    mounts = []
    for mount in desired.storage_mounts:
        if mount[DESTINATION_PATH] == "":
            mount = next(
                (
                    theirs
                    for theirs in observed.storage_mounts
                    if _without_path(theirs) == _without_path(mount)
                ),
                mount,
            )
        mounts.append(mount)
    return dataclasses.replace(desired, storage_mounts=tuple(sorted(mounts)))


def _without_path(mount: tuple[Any, ...]) -> tuple[Any, ...]:
    return mount[:DESTINATION_PATH] + mount[DESTINATION_PATH + 1 :]


def adoption_differences(desired: DesiredJob, observed: ObservedJob) -> list[str]:
    """Template fields (names only) where an adopted job differs from the spec."""
    diffs = desired.template.differences(observed.template)
    if observed.artifact_digest != desired.artifact_digest:
        diffs.insert(0, "artifact")
    return diffs


def plan_job(desired: DesiredJob, state: JobRecord, observed: ObservedJob | None) -> JobPlan:
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
            owner = observed.tags.get(TAG_UID)
            if owner and owner != desired.ref.uid:
                return JobPlan(
                    JobAction.STALL,
                    state.revision,
                    "AdoptTargetOwned",
                    f"adoptJobId {spec.adopt_job_id} belongs to another TrainingJob "
                    f"({observed.tags.get(TAG_NAMESPACE, '?')}/{observed.tags.get(TAG_NAME, '?')}, "
                    f"uid {owner}, cluster {observed.tags.get(TAG_CLUSTER, '?')}); it is not taken over",
                )
            # Consent is asked once: a job already tagged as ours was adopted before a crash (our
            # UpdateJob replaced its tags), and finishing that adoption needs no new consent.
            refusal = None if owner else adoption_refusal(desired.ref.namespace, observed.id, observed.tags)
            if refusal is not None:
                return JobPlan(JobAction.STALL, state.revision, ADOPTION_NOT_ALLOWED, refusal)
            if observed.lifecycle_state not in LIVE_JOB_STATES:
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

    if observed is None or observed.lifecycle_state not in LIVE_JOB_STATES:
        revision = state.revision + 1
        gone = observed is None or observed.lifecycle_state in GONE_JOB_STATES
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

    if observed.lifecycle_state == JobState.CREATING:
        return JobPlan(
            JobAction.FINISH_CREATE, state.revision, "Creating", f"OCI job {observed.id} is CREATING"
        )

    changes = tuple(
        defaults_as_observed(desired.in_place(state.revision), observed.in_place).differences(
            observed.in_place
        )
    )
    if changes:
        return JobPlan(
            JobAction.UPDATE,
            state.revision,
            "UpdatingInPlace",
            f"updating {', '.join(changes)} of OCI job {observed.id} in place",
            changes,
        )
    return JobPlan(JobAction.NOOP, state.revision, "Active", f"OCI job {observed.id} matches the spec")
