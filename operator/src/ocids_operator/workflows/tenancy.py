"""The tenancy gate: before anything is written to OCI, the spec may only name what its namespace was
granted (core/tenancy.py has the rules).

Called first thing by the reconciles of both kinds, so every write they make (create, update in
place, new revision, re-creation, adoption, artifact upload, run creation) is behind it; the resync
timer reconciles through the same function. The finalizers are deliberately not gated: an object
created while its compartment was allowed must still be deletable (its OCI job canceled and
deleted) after an admin narrowed the list, or revoking a grant would leave work running in OCI.

A refused spec raises a stalled `ReconcileError` (CompartmentNotAllowed / AdoptionNotAllowed);
the compartment is checked before any OCI read, so a namespace granted nothing costs no OCI call.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..api import TrainingJobRunSpec, TrainingJobSpec
from ..core import tenancy
from ..core.errors import ADOPTION_NOT_ALLOWED, stalled
from ..core.tenancy import Allowance, Reference
from ..runtime import Runtime


async def allowance_for(rt: Runtime, namespace: str) -> Allowance:
    annotations = await rt.namespaces.annotations(namespace) if rt.namespaces is not None else {}
    return tenancy.allowance(
        namespace,
        annotations,
        rt.settings.compartment_policy,
        rt.settings.default_allowed_compartments,
    )


async def admit_job(rt: Runtime, namespace: str, spec: TrainingJobSpec, status: Mapping[str, Any]) -> None:
    """Raises a stalled ReconcileError unless the TrainingJob may be reconciled into OCI."""
    allow = await allowance_for(rt, namespace)
    await _check(rt, allow, tenancy.job_references(spec))
    if spec.adopt_job_id and not status.get("jobId") and allow.compartments is not None:
        # The job to adopt must live in a granted compartment too (its tag is checked by the plan).
        # A job OCI does not show is left to the plan, which says so (AdoptTargetNotFound).
        where = await rt.oci.compartment_of(spec.adopt_job_id)
        if where is not None and not allow.allows(where):
            raise stalled(
                ADOPTION_NOT_ALLOWED,
                f"adoptJobId {spec.adopt_job_id} is in compartment {where}, which is not allowed for "
                f"namespace {namespace} ({allow.source}); a cluster admin grants compartments with the "
                f"namespace annotation {tenancy.ALLOWED_COMPARTMENTS_ANNOTATION}; nothing in OCI was changed",
            )


async def admit_run(rt: Runtime, namespace: str, spec: TrainingJobRunSpec, job_spec: TrainingJobSpec) -> None:
    """Raises a stalled ReconcileError unless the run may be created: its TrainingJob's compartment,
    project, log group and subnet, and the run's own logging and infrastructure overrides."""
    allow = await allowance_for(rt, namespace)
    await _check(rt, allow, tenancy.run_references(spec, job_spec))


async def _check(rt: Runtime, allow: Allowance, refs: Iterable[Reference]) -> None:
    if allow.compartments is None:
        return
    # Compartments first: those are refused before any OCI read.
    for ref in sorted(refs, key=lambda ref: not tenancy.is_compartment(ref)):
        where = ref.ocid if tenancy.is_compartment(ref) else await rt.oci.compartment_of(ref.ocid)
        refusal = tenancy.compartment_refusal(allow, ref, where)
        if refusal is not None:
            raise refusal
