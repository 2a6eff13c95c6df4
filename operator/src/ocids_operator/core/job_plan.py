"""TrainingJob: desired spec + observed OCI job -> one step to take. Pure: no I/O, no kopf.

A reconcile applies steps until the plan says NOOP (or waits): create, adopt, finish a
creation (upload the artifact / wait for ACTIVE), update in place, or a new revision.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from ..api import ComputeResources, Infrastructure, TrainingJobSpec
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
    num,
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
    defined_tags: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()

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
    artifact_digest: str | None  # None: a container job without an artifact

    @property
    def template_hash(self) -> str:
        return template_hash(self.template, self.artifact_digest)

    def in_place(self, revision: int) -> InPlace:
        spec = self.spec
        return InPlace(
            display_name=spec.display_name or self.ref.default_display_name,
            description=spec.description,
            # A multi-node job's compute is in its node configuration: nothing to update in place.
            infrastructure=() if spec.nodes else desired_infrastructure_key(spec.infrastructure),
            storage_mounts=mounts_key(mount.model_dump() for mount in spec.storage_mounts),
            freeform_tags=tuple(sorted(job_tags(spec, self.ref, revision, self.template_hash).items())),
            defined_tags=defined_tags_key(spec.defined_tags),
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


class InfrastructureKey(NamedTuple):
    """The job-level infrastructure as compared: the same tuple from a spec and from an OCI job."""

    type: str | None
    shape: str | None
    ocpus: float | None
    memory_in_gbs: float | None
    block_storage_size_in_gbs: int | None
    subnet_id: str | None
    capacity_reservation_id: str | None = None
    cpu_baseline: str | None = None
    compute_target_id: str | None = None
    # (requests ocpus, memory, gpus, limits ocpus, memory) of a compute target; None: none set
    resources: tuple[Any, ...] | None = None


def infrastructure_key(
    infrastructure_type: str | None,
    shape: str | None,
    ocpus: float | None,
    memory_in_gbs: float | None,
    block_storage_size_in_gbs: int | None,
    subnet_id: str | None,
    capacity_reservation_id: str | None = None,
    cpu_baseline: str | None = None,
    compute_target_id: str | None = None,
    resources: tuple[Any, ...] | None = None,
) -> InfrastructureKey:
    return InfrastructureKey(
        infrastructure_type,
        shape,
        num(ocpus),
        num(memory_in_gbs),
        block_storage_size_in_gbs,
        subnet_id,
        capacity_reservation_id,
        cpu_baseline,
        compute_target_id,
        resources if resources is None or any(value is not None for value in resources) else None,
    )


MANAGED_COMPUTE_CLUSTER = "MANAGED_COMPUTE_CLUSTER"


def infrastructure_type(infra: Infrastructure) -> str:
    """OCI's infrastructure type of a single-node job: a compute target's, a subnet of the user's
    (STANDALONE), or the managed egress network (ME_STANDALONE)."""
    if infra.compute_target_id:
        return MANAGED_COMPUTE_CLUSTER
    return "STANDALONE" if infra.subnet_id else "ME_STANDALONE"


def resources_key(resources: ComputeResources | None) -> tuple[Any, ...] | None:
    requests = resources.requests if resources else None
    limits = resources.limits if resources else None
    return (
        num(requests.ocpus) if requests else None,
        num(requests.memory_in_gbs) if requests else None,
        requests.gpus if requests else None,
        num(limits.ocpus) if limits else None,
        num(limits.memory_in_gbs) if limits else None,
    )


def desired_infrastructure_key(infra: Infrastructure) -> InfrastructureKey:
    """`infra` must name a shape unless it has a compute target (fast launch is resolved before)."""
    if infra.compute_target_id:
        # The compute target provides the compute: no shape, block storage or network is sent.
        return infrastructure_key(
            MANAGED_COMPUTE_CLUSTER,
            None,
            None,
            None,
            None,
            None,
            compute_target_id=infra.compute_target_id,
            resources=resources_key(infra.resources),
        )
    return infrastructure_key(
        infrastructure_type(infra),
        infra.shape,
        infra.ocpus,
        infra.memory_in_gbs,
        infra.block_storage_size_in_gbs,
        infra.subnet_id,
        infra.capacity_reservation_id,
        infra.cpu_baseline,
    )


# OCI's automatic tag defaults (CreatedBy, CreatedOn) land here: not the user's, never compared.
ORACLE_TAGS_NAMESPACE = "Oracle-Tags"


def defined_tags_key(
    tags: Mapping[str, Mapping[str, Any]] | None,
) -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
    return tuple(
        sorted(
            (namespace, tuple(sorted((key, str(value)) for key, value in (values or {}).items())))
            for namespace, values in (tags or {}).items()
            if namespace != ORACLE_TAGS_NAMESPACE
        )
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
    """`desired` with what the spec leaves out and OCI fills in taken from OCI: comparing it would
    update the job forever. A mount's destinationPath (OCI's default /mnt); a flex shape's memory
    when only ocpus were sent (fast-launch configs may give only ocpus); a cpuBaseline of
    BASELINE_1_1 (every OCPU: the same as none); a compute target's unset requests or limits; and
    the defined tags when the spec sets none (UpdateJob leaves them as they are then)."""
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
    return dataclasses.replace(
        desired,
        infrastructure=_infrastructure_as_observed(desired.infrastructure, observed.infrastructure),
        storage_mounts=tuple(sorted(mounts)),
        defined_tags=desired.defined_tags or observed.defined_tags,
    )


def _infrastructure_as_observed(desired: tuple[Any, ...], observed: tuple[Any, ...]) -> tuple[Any, ...]:
    if not isinstance(desired, InfrastructureKey) or not isinstance(observed, InfrastructureKey):
        return desired
    if (desired.type, desired.shape) != (observed.type, observed.shape):
        return desired
    filled = desired
    if filled.memory_in_gbs is None and filled.ocpus is not None:
        filled = filled._replace(memory_in_gbs=observed.memory_in_gbs)
    if filled.cpu_baseline is None and observed.cpu_baseline == "BASELINE_1_1":
        filled = filled._replace(cpu_baseline=observed.cpu_baseline)
    if observed.resources is not None:
        ours = filled.resources or (None,) * len(observed.resources)
        filled = filled._replace(
            resources=tuple(
                theirs if mine is None else mine
                for mine, theirs in zip(ours, observed.resources, strict=True)
            )
        )
    return filled


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
