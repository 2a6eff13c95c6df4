"""TrainingJob status as the operator writes it (camelCase dicts for `patch.status`). Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from . import conditions as cond
from . import links, shapes
from .api import TrainingJobSpec
from .errors import ErrorOutcome, OutcomeKind
from .oci_requests import ResolvedArtifact


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
    template_hash: str,
    region: str,
    active: bool,
    reason: str,
    message: str,
    previous: Mapping[str, Any] | None,
    generation: int | None,
    now: str,
) -> dict[str, Any]:
    """Status once an OCI job exists: Active (Ready) or still Creating (Reconciling)."""
    health = cond.Health.READY if active else cond.Health.PROGRESSING
    return {
        # A first job is Creating; a later revision (or a re-created job) is Updating.
        "phase": "Active" if active else ("Creating" if revision <= 1 else "Updating"),
        "jobId": job_id,
        "revision": revision,
        "retiredJobIds": list(retired_job_ids),
        "artifact": artifact_provenance(artifact),
        "shape": shape_summary(spec),
        "consoleUrl": links.job_console_url(job_id, region),
        "templateHash": template_hash,
        "observedGeneration": generation,
        "message": message,
        "conditions": cond.merge_conditions(
            (previous or {}).get("conditions"),
            cond.health_conditions(health, reason, message),
            generation,
            now,
        ),
    }


def error_status(
    outcome: ErrorOutcome,
    previous: Mapping[str, Any] | None,
    generation: int | None,
    now: str,
    id_key: str = "jobId",
) -> dict[str, Any]:
    """Status after an error: Stalled for permanent ones, Reconciling (retrying) for the rest.

    observedGeneration is written for stalled errors only: kstatus then reads "Failed" for this
    generation, while a retrying resource stays "InProgress".
    """
    before = previous or {}
    stalled = outcome.kind in (OutcomeKind.STALLED, OutcomeKind.CREDENTIALS, OutcomeKind.LIMIT)
    health = cond.Health.STALLED if stalled else cond.Health.PROGRESSING
    result: dict[str, Any] = {
        "message": outcome.message,
        "conditions": cond.merge_conditions(
            before.get("conditions"),
            cond.health_conditions(health, outcome.reason, outcome.message),
            generation,
            now,
        ),
    }
    if stalled:
        result["observedGeneration"] = generation
        # Nothing was created in OCI: the resource failed as a whole (for runs: never to be retried).
        if outcome.kind is OutcomeKind.STALLED and not before.get(id_key):
            result["phase"] = "Failed"
        elif outcome.kind is OutcomeKind.LIMIT and not before.get(id_key):
            result["phase"] = "Pending"  # it never ran: waiting for capacity is not a failure
    return result


def deleting_status(
    reason: str, message: str, previous: Mapping[str, Any] | None, now: str
) -> dict[str, Any]:
    before = previous or {}
    return {
        "phase": "Deleting",
        "message": message,
        "conditions": cond.merge_conditions(
            before.get("conditions"),
            cond.health_conditions(cond.Health.PROGRESSING, reason, message),
            before.get("observedGeneration"),
            now,
        ),
    }
