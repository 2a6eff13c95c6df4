"""Tenancy rules: which OCI compartments a namespace may use, and which OCI jobs it may adopt. Pure.

A namespace's admins (who own Namespace objects) grant compartments with an annotation; its users
(who own TrainingJobs) can only name what was granted. Adoption also needs consent on the OCI side:
a tag on the job, set by someone with OCI rights over it.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Mapping

from ..api import TrainingJobRunSpec, TrainingJobSpec
from .errors import (
    COMPARTMENT_NOT_ALLOWED,
    NOT_AUTHORIZED,
    NOT_AUTHORIZED_CODE,
    ErrorOutcome,
    OutcomeKind,
    ReconcileError,
    stalled,
)

ALLOWED_COMPARTMENTS_ANNOTATION = "ocids.io/allowed-compartments"
ADOPTABLE_BY_TAG = "ocids.io/adoptable-by"
POLICY_SETTING = "OCIDS_COMPARTMENT_POLICY"
DEFAULT_SETTING = "OCIDS_DEFAULT_ALLOWED_COMPARTMENTS"


class CompartmentPolicy(enum.StrEnum):
    """What a namespace without the annotation may use."""

    ANNOTATED = "annotated"  # nothing (or OCIDS_DEFAULT_ALLOWED_COMPARTMENTS, when set)
    OPEN = "open"  # any compartment the operator's principal reaches (before tenancy isolation)


def parse_compartments(value: str) -> frozenset[str]:
    """A comma-separated list of compartment OCIDs (blanks ignored)."""
    return frozenset(item.strip() for item in value.split(",") if item.strip())


@dataclasses.dataclass(frozen=True)
class Allowance:
    """The compartments a namespace may use. `compartments` None: any."""

    namespace: str
    compartments: frozenset[str] | None
    # Why a compartment is refused (where the list comes from), for messages that say what to change.
    source: str

    def allows(self, compartment_id: str) -> bool:
        return self.compartments is None or compartment_id in self.compartments


def allowance(
    namespace: str,
    annotations: Mapping[str, str],
    policy: CompartmentPolicy,
    default: Iterable[str] = (),
) -> Allowance:
    """The namespace's annotation when it has one (even an empty one: nothing), else the operator's
    default list, else what the policy says."""
    if ALLOWED_COMPARTMENTS_ANNOTATION in annotations:
        listed = parse_compartments(annotations[ALLOWED_COMPARTMENTS_ANNOTATION])
        where = f"not listed in its annotation {ALLOWED_COMPARTMENTS_ANNOTATION}"
        return Allowance(namespace, listed, where)
    default = frozenset(default)
    if default:
        where = f"not in {DEFAULT_SETTING}; it has no {ALLOWED_COMPARTMENTS_ANNOTATION} annotation"
        return Allowance(namespace, default, where)
    if policy is CompartmentPolicy.OPEN:
        return Allowance(namespace, None, f"{POLICY_SETTING}=open")
    where = f"it has no {ALLOWED_COMPARTMENTS_ANNOTATION} annotation, and {POLICY_SETTING}=annotated"
    return Allowance(namespace, frozenset(), where)


@dataclasses.dataclass(frozen=True)
class Reference:
    """An OCI resource a spec names, by the field that names it."""

    field: str
    ocid: str


def job_references(spec: TrainingJobSpec) -> list[Reference]:
    """What a TrainingJob's OCI job lives in or uses, compartment first (it needs no OCI read)."""
    refs = [Reference("compartmentId", spec.compartment_id), Reference("projectId", spec.project_id)]
    if spec.logging is not None and spec.logging.enabled and spec.logging.log_group_id:
        refs.append(Reference("logging.logGroupId", spec.logging.log_group_id))
    if spec.infrastructure.subnet_id:
        refs.append(Reference("infrastructure.subnetId", spec.infrastructure.subnet_id))
    return refs


def run_references(spec: TrainingJobRunSpec, job: TrainingJobSpec) -> list[Reference]:
    """A run's: its TrainingJob's (the run is made in that job's compartment) and its own overrides."""
    refs = [
        Reference(f"TrainingJob {spec.job_ref.name} {ref.field}", ref.ocid) for ref in job_references(job)
    ]
    if spec.logging is not None and spec.logging.enabled and spec.logging.log_group_id:
        refs.append(Reference("logging.logGroupId", spec.logging.log_group_id))
    if spec.infrastructure is not None and spec.infrastructure.subnet_id:
        refs.append(Reference("infrastructure.subnetId", spec.infrastructure.subnet_id))
    return refs


def is_compartment(ref: Reference) -> bool:
    return ref.ocid.startswith(("ocid1.compartment.", "ocid1.tenancy."))


def compartment_refusal(
    allow: Allowance, ref: Reference, compartment_id: str | None
) -> ReconcileError | None:
    """Stalled when `ref` lies in a compartment the namespace may not use. `compartment_id` is where
    OCI says `ref` lives (for a compartment: itself); None when OCI would not say (not found, or not
    readable by the operator), which is refused too: the rule cannot be checked."""
    if allow.compartments is None:
        return None
    if compartment_id is not None and allow.allows(compartment_id):
        return None
    grant = (
        f"not allowed for namespace {allow.namespace} ({allow.source}); a cluster admin grants "
        f"compartments with the namespace annotation {ALLOWED_COMPARTMENTS_ANNOTATION}"
    )
    if compartment_id is None:
        # OCI answers a read it denies with the same 404 as a missing resource: reported as any
        # such 404 is (NotAuthorized, naming the principal and the statement it needs).
        message = (
            f"{ref.field} {ref.ocid}: 404 {NOT_AUTHORIZED_CODE} when reading it to check its compartment "
            f"against those allowed for namespace {allow.namespace}: it does not exist, or the "
            "principal may not read it"
        )
        return ReconcileError(
            ErrorOutcome(OutcomeKind.STALLED, NOT_AUTHORIZED, message, status=404, code=NOT_AUTHORIZED_CODE)
        )
    if compartment_id == ref.ocid:
        message = f"compartment {compartment_id} ({ref.field}) is {grant}"
    else:
        message = f"{ref.field} {ref.ocid} is in compartment {compartment_id}, which is {grant}"
    return stalled(COMPARTMENT_NOT_ALLOWED, message)


def adoption_refusal(namespace: str, job_id: str, tags: Mapping[str, str]) -> str | None:
    """Why the OCI job may not be adopted into `namespace` (None: it may): its owner in OCI must
    consent with the freeform tag ocids.io/adoptable-by: <namespace>."""
    consent = tags.get(ADOPTABLE_BY_TAG)
    if consent == namespace:
        return None
    found = f"it carries {ADOPTABLE_BY_TAG}: {consent}" if consent else "it has no such tag"
    return (
        f"adoptJobId {job_id} is adopted only with the consent of its owner in OCI: the freeform tag "
        f"{ADOPTABLE_BY_TAG}: {namespace} on the job ({found}); nothing in OCI was changed"
    )
