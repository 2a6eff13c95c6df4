"""What to do about an error: retry with backoff, stall until the spec changes, or fix credentials.

Pure: no kopf and no SDK here (`adapters/oci_errors.py` classifies the SDK's exceptions). The
handlers turn an `ErrorOutcome` into a condition plus a kopf TemporaryError / PermanentError.
"""

from __future__ import annotations

import dataclasses
import enum


class OutcomeKind(enum.StrEnum):
    # Retry later with growing delay (409, 412, 429, 5xx, timeouts, connection errors).
    RETRY = "retry"
    # Stop until the spec changes (400, 404 on a call that names a resource from the spec).
    STALLED = "stalled"
    # The operator's OCI credentials are wrong: stalled, re-checked slowly.
    CREDENTIALS = "credentials"
    # A service limit or quota is reached: stalled (with OCI's message), but retried with growing
    # delay, since capacity frees up without any change to the spec.
    LIMIT = "limit"


@dataclasses.dataclass(frozen=True)
class ErrorOutcome:
    kind: OutcomeKind
    reason: str
    message: str
    status: int | None = None
    code: str | None = None


class ReconcileError(Exception):
    """A domain-level failure the handlers report as-is (already classified)."""

    def __init__(self, outcome: ErrorOutcome) -> None:
        super().__init__(outcome.message)
        self.outcome = outcome


def stalled(reason: str, message: str) -> ReconcileError:
    return ReconcileError(ErrorOutcome(OutcomeKind.STALLED, reason, message))


def retry(reason: str, message: str) -> ReconcileError:
    return ReconcileError(ErrorOutcome(OutcomeKind.RETRY, reason, message))


CREDENTIALS_HINT = (
    "check the operator's OCI credentials (OCIDS_AUTH and, for api_key, the mounted config file, "
    "key file and OCIDS_OCI_PROFILE)"
)


CREDENTIALS_REJECTED = "CredentialsRejected"
CREDENTIALS_INVALID = "CredentialsInvalid"
OCI_LIMIT_EXCEEDED = "OCILimitExceeded"
# A permanent error met by a finalizer: deletion waits (retried slowly) instead of giving up.
DELETION_BLOCKED = "DeletionBlocked"
# OCI's answer to a call IAM does not allow (404 NotAuthorizedOrNotFound), or a refused token exchange.
NOT_AUTHORIZED = "NotAuthorized"
NOT_AUTHORIZED_CODE = "NotAuthorizedOrNotFound"
# A principal's token exchange (OKE proxymux, federation) failed for a reason other than a refusal
# (5xx, unreachable): retried with backoff.
TOKEN_EXCHANGE_FAILED = "TokenExchangeFailed"
# Stalled, but looked at again without a spec change: these get fixed outside the spec.
# A spec names a compartment its namespace was not granted (core/tenancy.py): an admin may grant it.
COMPARTMENT_NOT_ALLOWED = "CompartmentNotAllowed"
# A job to adopt lacks its owner's consent tag: someone with OCI rights may add it.
ADOPTION_NOT_ALLOWED = "AdoptionNotAllowed"
# A shape (or a fast launch config fitting the spec) the compartment's ListJobShapes /
# ListFastLaunchJobConfigs does not offer: the tenancy may gain it (a limit raised, a new region shape).
UNKNOWN_SHAPE = "UnknownShape"
NO_FAST_LAUNCH_CONFIG = "NoFastLaunchConfig"
# A run's override its TrainingJob cannot take (a container override without a container, a node
# group the job does not have): the run's spec is immutable, so it stays refused.
INVALID_OVERRIDE = "InvalidOverride"
# OCIDS_REQUIRE_MAXIMUM_RUNTIME and a run with none: fixed by setting it on its TrainingJob.
MAXIMUM_RUNTIME_REQUIRED = "MaximumRuntimeRequired"
RECHECKED_WHILE_STALLED = frozenset(
    {
        MAXIMUM_RUNTIME_REQUIRED,
        CREDENTIALS_REJECTED,
        CREDENTIALS_INVALID,
        OCI_LIMIT_EXCEEDED,
        NOT_AUTHORIZED,
        COMPARTMENT_NOT_ALLOWED,
        ADOPTION_NOT_ALLOWED,
        UNKNOWN_SHAPE,
        NO_FAST_LAUNCH_CONFIG,
    }
)


@dataclasses.dataclass(frozen=True)
class Principal:
    """Who the operator is to OCI, for messages that say which IAM policy to write.

    `subject`: the start of a policy statement ("Allow group ..." / "Allow any-user"); `where`: its
    condition, if any (without the compartment).
    """

    description: str
    subject: str
    where: str = ""

    def policy(
        self, compartment_id: str | None, verb: str = "manage", family: str = "data-science-family"
    ) -> str:
        where = f" where {self.where}" if self.where else ""
        place = (
            f"compartment id {compartment_id}"
            if compartment_id
            else "compartment <the resource's compartment>"
        )
        return f"{self.subject} to {verb} {family} in {place}{where}"


def as_not_authorized(outcome: ErrorOutcome, keyless: bool = False) -> ErrorOutcome | None:
    """OCI's 404 NotAuthorizedOrNotFound met by a handler (calls that expect a missing resource
    handle it themselves): `NotAuthorized`, stalled but looked at again slowly, since policies change
    outside the spec. With a keyless principal (`keyless`), a 401 on an ordinary call too: the SDK
    has already refreshed the session token and retried once, so the new token was refused as well.
    None for any other outcome."""
    if outcome.status == 404 and outcome.code == NOT_AUTHORIZED_CODE:
        return dataclasses.replace(outcome, kind=OutcomeKind.CREDENTIALS, reason=NOT_AUTHORIZED)
    if keyless and outcome.status == 401 and outcome.reason == CREDENTIALS_REJECTED:
        return dataclasses.replace(outcome, kind=OutcomeKind.CREDENTIALS, reason=NOT_AUTHORIZED)
    return None


def session_refused_message(detail: str, principal: Principal, what_to_check: str) -> str:
    """A keyless principal's session token refused after the SDK's refresh: who, and what to check."""
    return (
        f"{detail.removesuffix(f'; {CREDENTIALS_HINT}')}; the operator runs as {principal.description} "
        f"and OCI refused its session token even after a refresh; {what_to_check}"
    )


def not_authorized_message(detail: str, principal: Principal, compartment_id: str | None) -> str:
    """OCI's answer, who was refused, and the policy statements that let it through."""
    return (
        f"{detail}; the operator runs as {principal.description}; OCI answers a denial and a missing "
        f"resource alike: if the resource exists, grant it e.g. '{principal.policy(compartment_id)}' "
        f"(and for logs: '{principal.policy(compartment_id, 'use', 'log-content')}'); a subnet, log "
        "group, container image or published conda pack needs more, for the operator, the job runs and "
        "the Data Science service: `ocids-operator iam-policy` prints them (docs/iam.md)"
    )


def classify_status(status: int | None, code: str | None, message: str, operation: str) -> ErrorOutcome:
    """Classify an OCI service error by HTTP status and OCI error code."""
    what = f"OCI {operation} failed" if operation else "OCI call failed"
    detail = f"{what}: {status} {code}: {message}".strip()
    if status == 401:
        return ErrorOutcome(
            OutcomeKind.CREDENTIALS, CREDENTIALS_REJECTED, f"{detail}; {CREDENTIALS_HINT}", status, code
        )
    if status == 501:
        # The endpoint does not exist in this region or realm (the SDK does not retry it either):
        # repeating the call cannot help, so the object says so and waits for a change.
        return ErrorOutcome(OutcomeKind.STALLED, "OCINotImplemented", detail, status, code)
    if status is None or status in (409, 412, 429) or status >= 500:
        return ErrorOutcome(OutcomeKind.RETRY, "OCIRetryableError", detail, status, code)
    if status == 404:
        return ErrorOutcome(OutcomeKind.STALLED, "OCINotFound", detail, status, code)
    if code in ("LimitExceeded", "QuotaExceeded"):
        return ErrorOutcome(OutcomeKind.LIMIT, OCI_LIMIT_EXCEEDED, detail, status, code)
    if status in (400, 403, 405, 413, 422):
        return ErrorOutcome(OutcomeKind.STALLED, "OCIRejectedRequest", detail, status, code)
    return ErrorOutcome(OutcomeKind.RETRY, "OCIRetryableError", detail, status, code)


def backoff_delay(retry: int, base: float, cap: float) -> float:
    """Delay before kopf retries a handler: doubles per attempt, capped. `retry` counts from 0."""
    return float(min(cap, base * (2 ** max(0, min(retry, 20)))))
