"""TrainingJob status as the operator writes it (camelCase dicts for `patch.status`). Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .. import shapes
from ..api import TrainingJobSpec
from . import conditions as cond
from . import links
from .errors import ErrorOutcome, OutcomeKind
from .model import ResolvedArtifact


def artifact_provenance(artifact: ResolvedArtifact) -> dict[str, Any]:
    result: dict[str, Any] = {
        "source": artifact.source,
        "fileName": artifact.file_name,
        "digest": artifact.digest,
        "sizeBytes": artifact.size_bytes,
    }
    if artifact.url:
        result["url"] = artifact.url
    return result


def shape_summary(spec: TrainingJobSpec) -> str:
    infra = spec.infrastructure
    return shapes.describe(infra.shape, infra.ocpus, infra.memory_in_gbs)


def job_status(
    *,
    spec: TrainingJobSpec,
    job_id: str,
    revision: int,
    retired_job_ids: Sequence[str],
    artifact: ResolvedArtifact,
    region: str,
    active: bool,
    reason: str,
    previous: Mapping[str, Any] | None,
    generation: int | None,
    now: str,
) -> dict[str, Any]:
    """Status once an OCI job exists: Active (Ready) or still Creating (Reconciling).

    `reason` names the last thing done (Created, UpdatedInPlace, ...); the message always says
    where the OCI job is now, so a Ready condition never reads like work still in flight.
    """
    health = cond.Health.READY if active else cond.Health.PROGRESSING
    message = job_state_message(job_id, revision, active)
    return {
        # A first job is Creating; a later revision (or a re-created job) is Updating.
        "phase": "Active" if active else ("Creating" if revision <= 1 else "Updating"),
        "jobId": job_id,
        "revision": revision,
        "retiredJobIds": list(retired_job_ids),
        "artifact": artifact_provenance(artifact),
        "shape": shape_summary(spec),
        "consoleUrl": links.job_console_url(job_id, region),
        "observedGeneration": generation,
        "message": message,
        "conditions": cond.with_health(previous, health, reason, message, generation, now),
    }


def job_state_message(job_id: str, revision: int, active: bool) -> str:
    if active:
        return f"OCI job {job_id} revision {revision} is ACTIVE"
    return f"OCI job {job_id} revision {revision} is CREATING; waiting for ACTIVE"


def error_status(
    outcome: ErrorOutcome,
    previous: Mapping[str, Any] | None,
    generation: int | None,
    now: str,
    id_key: str = "jobId",
) -> dict[str, Any]:
    """Status after an error: Stalled for permanent ones, Reconciling (retrying) for the rest.

    The phase is left as it was once an OCI resource exists; before that it is Failed for a
    permanent error and Pending otherwise (never empty).

    observedGeneration is written for stalled errors only: kstatus then reads "Failed" for this
    generation, while a retrying resource stays "InProgress".
    """
    before = previous or {}
    stalled = outcome.kind in (OutcomeKind.STALLED, OutcomeKind.CREDENTIALS, OutcomeKind.LIMIT)
    health = cond.Health.STALLED if stalled else cond.Health.PROGRESSING
    result: dict[str, Any] = {
        "message": outcome.message,
        "conditions": cond.with_health(before, health, outcome.reason, outcome.message, generation, now),
    }
    if stalled:
        result["observedGeneration"] = generation
    if before.get(id_key):
        return result  # the phase tracks the OCI resource; the poller may have moved it on meanwhile
    if outcome.kind is OutcomeKind.STALLED:
        # Nothing was created in OCI: the resource failed as a whole (for runs: never to be retried).
        result["phase"] = "Failed"
    elif outcome.kind is OutcomeKind.LIMIT or not before.get("phase"):
        # It never reached OCI: waiting (for capacity, credentials or a retry) is not a failure, and
        # `kubectl get` must never show an empty PHASE.
        result["phase"] = "Pending"
    return result


def deleting_status(
    reason: str, message: str, previous: Mapping[str, Any] | None, now: str
) -> dict[str, Any]:
    before = previous or {}
    return {
        "phase": "Deleting",
        "message": message,
        "conditions": cond.with_health(
            before, cond.Health.PROGRESSING, reason, message, before.get("observedGeneration"), now
        ),
    }
