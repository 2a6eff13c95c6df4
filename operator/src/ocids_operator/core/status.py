"""TrainingJob status as the operator writes it, and the status of either kind after an error. Pure."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic.alias_generators import to_camel

from .. import shapes
from ..api import ArtifactProvenance, InfrastructureOverride, StatusModel, TrainingJobSpec, TrainingJobStatus
from . import conditions as cond
from . import links
from .cost import ended_cost
from .errors import RECHECKED_WHILE_STALLED, ErrorOutcome, OutcomeKind
from .kinds import TRAINING_JOB_KIND, TRAINING_JOB_RUN_KIND, Kind
from .model import ResolvedArtifact
from .phases import JobPhase, RunPhase
from .retry_end import retry_ended_fields
from .status_patch import StatusPatch
from .times import parse_time


def artifact_provenance(artifact: ResolvedArtifact) -> ArtifactProvenance:
    provenance = ArtifactProvenance(
        source=artifact.source,  # type: ignore[arg-type]
        file_name=artifact.file_name,
        digest=artifact.digest,
        size_bytes=artifact.size_bytes,
    )
    extra = {
        key: value
        for key, value in (
            ("url", artifact.url),
            ("ref", artifact.ref),
            ("commit", artifact.commit),
            ("driver_version", artifact.driver_version),
        )
        if value
    }
    return provenance.model_copy(update=extra) if extra else provenance


def shape_summary(spec: TrainingJobSpec) -> str | None:
    """The shape the job runs on (a fastLaunch spec arrives with its config's shape filled in); a
    multi-node job shows its default shape; a compute target's nodes have none of their own."""
    infra = spec.infrastructure
    if not infra.shape:
        return None
    return shapes.describe(infra.shape, infra.ocpus, infra.memory_in_gbs)


class InfrastructureType(enum.StrEnum):
    """OCI's jobInfrastructureType of what the spec asks for."""

    STANDALONE = "STANDALONE"
    ME_STANDALONE = "ME_STANDALONE"
    MULTI_NODE = "MULTI_NODE"
    MANAGED_COMPUTE_CLUSTER = "MANAGED_COMPUTE_CLUSTER"


def infrastructure_type(
    spec: TrainingJobSpec, run_infrastructure: InfrastructureOverride | None = None
) -> InfrastructureType:
    """What the job (or a run with its own infrastructure override) runs on: the override is taken as
    the request to OCI takes it (`Infrastructure.with_override`: a run's shape leaves the job's compute
    target and fast launch behind)."""
    if spec.nodes is not None:
        return InfrastructureType.MULTI_NODE
    infrastructure = spec.infrastructure.with_override(run_infrastructure)
    if infrastructure.compute_target_id:
        return InfrastructureType.MANAGED_COMPUTE_CLUSTER
    if infrastructure.subnet_id:
        return InfrastructureType.STANDALONE
    return InfrastructureType.ME_STANDALONE


def job_node_count(spec: TrainingJobSpec) -> int | None:
    return None if spec.nodes is None else sum(group.replicas for group in spec.nodes.groups)


def job_status(
    *,
    spec: TrainingJobSpec,
    job_id: str,
    revision: int,
    retired_job_ids: Sequence[str],
    artifact: ResolvedArtifact | None,
    region: str,
    active: bool,
    reason: str,
    previous: Mapping[str, Any] | None,
    generation: int | None,
    now: str,
    source_problem: tuple[str, str] | None = None,
    fast_launch_config: str | None = None,
) -> StatusPatch[TrainingJobStatus]:
    """Status once an OCI job exists: Active (Ready) or still Creating (Reconciling).

    `reason` names the last thing done (Created, UpdatedInPlace, ...); the message always says
    where the OCI job is now, so a Ready condition never reads like work still in flight.
    `artifact` None: its source could not be read (`source_problem`: reason, message), so the
    provenance stays as it was and the ArtifactSourceAvailable condition says why (or the spec has
    none). `fast_launch_config`: the config a fastLaunch spec was given its shape by.
    """
    health = cond.Health.READY if active else cond.Health.PROGRESSING
    message = job_state_message(job_id, revision, active)
    # A first job is Creating; a later revision (or a re-created job) is Updating.
    phase = JobPhase.ACTIVE if active else (JobPhase.CREATING if revision <= 1 else JobPhase.UPDATING)
    conditions = cond.with_health(previous, health, reason, message, generation, now)
    if source_problem is not None:
        source = cond.Cond(cond.ARTIFACT_SOURCE_AVAILABLE, False, *source_problem)
        conditions = cond.merge_conditions(conditions, [source], generation, now)
    elif any(c.get("type") == cond.ARTIFACT_SOURCE_AVAILABLE for c in conditions):
        source = cond.Cond(
            cond.ARTIFACT_SOURCE_AVAILABLE, True, "Fetched", "the artifact's source is readable"
        )
        conditions = cond.merge_conditions(conditions, [source], generation, now)
    fields: dict[str, Any] = {} if artifact is None else {"artifact": artifact_provenance(artifact)}
    for name, value in (
        ("fast_launch_config", fast_launch_config),
        ("compute_target_id", spec.infrastructure.compute_target_id),
        ("node_count", job_node_count(spec)),
    ):
        # None clears what an earlier spec set (e.g. fastLaunch turned off).
        if value is not None or to_camel(name) in (previous or {}):
            fields[name] = value
    return StatusPatch(
        TrainingJobStatus(
            phase=phase.value,
            job_id=job_id,
            revision=revision,
            **retired_fields(retired_job_ids),
            shape=shape_summary(spec),
            infrastructure_type=infrastructure_type(spec).value,
            console_url=links.job_console_url(job_id, region),
            observed_generation=generation,
            message=message,
            conditions=conditions,  # type: ignore[arg-type]
            **fields,
        )
    )


def recorded_job_status(
    job_id: str | None, revision: int, retired_job_ids: Sequence[str]
) -> StatusPatch[TrainingJobStatus]:
    """The OCI job a reconcile got to before an error: recorded along with the error's conditions."""
    phase = JobPhase.CREATING if revision <= 1 else JobPhase.UPDATING
    return StatusPatch(
        TrainingJobStatus(
            phase=phase.value, job_id=job_id, revision=revision, **retired_fields(retired_job_ids)
        )
    )


def retired_fields(retired_job_ids: Sequence[str]) -> dict[str, Any]:
    """status.retiredJobIds and retiredJobCount, always written together (every path that writes the
    list), so the count never tells of jobs already gone."""
    return {"retired_job_ids": list(retired_job_ids), "retired_job_count": len(retired_job_ids)}


def retired_jobs_status(retired_job_ids: Sequence[str]) -> StatusPatch[TrainingJobStatus]:
    """Only the retired jobs that remain: what draining them (the resync timer) writes."""
    return StatusPatch(TrainingJobStatus(**retired_fields(retired_job_ids)))


def ready_for_generation(job: Mapping[str, Any] | None) -> bool:
    """Whether a TrainingJob (raw object) has applied its current spec and its OCI job is usable.

    The one signal runs wait for: Ready=True observed at the object's generation. After a rejected
    edit the status still names the old job (phase Active) and observedGeneration is current (so
    kstatus reads Failed), but Ready is False: a run must not start on the job the edit replaces.
    """
    if not job:
        return False
    generation = (job.get("metadata") or {}).get("generation")
    status = job.get("status") or {}
    for condition in status.get("conditions") or []:
        if condition.get("type") == cond.READY:
            return condition.get("status") == "True" and condition.get("observedGeneration") == generation
    return False


def job_state_message(job_id: str, revision: int, active: bool) -> str:
    if active:
        return f"OCI job {job_id} revision {revision} is ACTIVE"
    return f"OCI job {job_id} revision {revision} is CREATING; waiting for ACTIVE"


# Both kinds spell these two phases alike.
FAILED = JobPhase.FAILED.value
PENDING = JobPhase.PENDING.value
assert RunPhase.FAILED.value == FAILED and RunPhase.PENDING.value == PENDING


def error_status(
    outcome: ErrorOutcome,
    previous: Mapping[str, Any] | None,
    generation: int | None,
    now: str,
    kind: Kind = TRAINING_JOB_KIND,
) -> StatusPatch[StatusModel]:
    """Status after an error: Stalled for permanent ones, Reconciling (retrying) for the rest.

    The phase is left as it was once an OCI resource exists; before that it is Failed for a
    permanent error and Pending otherwise (never empty).

    observedGeneration is written for stalled errors only: kstatus then reads "Failed" for this
    generation, while a retrying resource stays "InProgress".
    """
    before = previous or {}
    stalled = outcome.kind in (OutcomeKind.STALLED, OutcomeKind.CREDENTIALS, OutcomeKind.LIMIT)
    health = cond.Health.STALLED if stalled else cond.Health.PROGRESSING
    fields: dict[str, Any] = {
        "message": outcome.message,
        "conditions": cond.with_health(before, health, outcome.reason, outcome.message, generation, now),
    }
    if stalled:
        fields["observed_generation"] = generation
    if not before.get(kind.oci_id_field):
        # Once an OCI resource exists the phase tracks it (the poller may have moved it on meanwhile).
        if outcome.kind is OutcomeKind.STALLED and outcome.reason not in RECHECKED_WHILE_STALLED:
            # Nothing was created in OCI: the resource failed as a whole (for runs: never to be retried).
            # What is fixed outside the spec (a grant, a consent tag) leaves it Pending: it heals.
            fields["phase"] = FAILED
            if kind is TRAINING_JOB_RUN_KIND:
                # A retry whose create is refused for good: the run is finished, not waiting.
                ended = retry_ended_fields(before, f"its retry could not be created: {outcome.message}")
                fields.update(ended)
                # What its earlier attempts cost (OCI billed them): counted once the run ends.
                if ended and (cost := ended_cost(before, {}, parse_time(now))) is not None:
                    fields["cost"] = cost
        elif outcome.kind is OutcomeKind.LIMIT or not before.get("phase"):
            # It never reached OCI: waiting (for capacity, credentials or a retry) is not a failure, and
            # `kubectl get` must never show an empty PHASE.
            fields["phase"] = PENDING
    return StatusPatch(kind.status_model(**fields))


def deleting_status(
    reason: str, message: str, previous: Mapping[str, Any] | None, now: str
) -> StatusPatch[TrainingJobStatus]:
    before = previous or {}
    conditions = cond.with_health(
        before, cond.Health.PROGRESSING, reason, message, before.get("observedGeneration"), now
    )
    return StatusPatch(
        TrainingJobStatus(phase=JobPhase.DELETING.value, message=message, conditions=conditions)  # type: ignore[arg-type]
    )
