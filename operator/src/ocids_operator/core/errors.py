"""What to do about an error: retry with backoff, stall until the spec changes, or fix credentials.

Pure: no kopf here. The handlers turn an `ErrorOutcome` into a condition plus a kopf
TemporaryError / PermanentError.
"""

from __future__ import annotations

import dataclasses
import enum

import oci


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


def classify_status(status: int | None, code: str | None, message: str, operation: str) -> ErrorOutcome:
    """Classify an OCI service error by HTTP status and OCI error code."""
    what = f"OCI {operation} failed" if operation else "OCI call failed"
    detail = f"{what}: {status} {code}: {message}".strip()
    if status == 401:
        return ErrorOutcome(
            OutcomeKind.CREDENTIALS, "CredentialsRejected", f"{detail}; {CREDENTIALS_HINT}", status, code
        )
    if status is None or status in (409, 412, 429) or status >= 500:
        return ErrorOutcome(OutcomeKind.RETRY, "OCIRetryableError", detail, status, code)
    if status == 404:
        return ErrorOutcome(OutcomeKind.STALLED, "OCINotFound", detail, status, code)
    if code in ("LimitExceeded", "QuotaExceeded"):
        return ErrorOutcome(OutcomeKind.LIMIT, "OCILimitExceeded", detail, status, code)
    if status in (400, 403, 405, 413, 422):
        return ErrorOutcome(OutcomeKind.STALLED, "OCIRejectedRequest", detail, status, code)
    return ErrorOutcome(OutcomeKind.RETRY, "OCIRetryableError", detail, status, code)


def classify(exc: BaseException, operation: str = "") -> ErrorOutcome:
    """Classify any exception raised while talking to OCI."""
    if isinstance(exc, ReconcileError):
        return exc.outcome
    if isinstance(exc, oci.exceptions.ServiceError):
        return classify_status(exc.status, exc.code, str(exc.message), exc.operation_name or operation)
    if isinstance(
        exc,
        oci.exceptions.ConfigFileNotFound
        | oci.exceptions.InvalidConfig
        | oci.exceptions.InvalidPrivateKey
        | oci.exceptions.MissingPrivateKeyPassphrase,
    ):
        return ErrorOutcome(
            OutcomeKind.CREDENTIALS,
            "CredentialsInvalid",
            f"the operator's OCI configuration is invalid ({type(exc).__name__}: {exc}); {CREDENTIALS_HINT}",
        )
    if isinstance(exc, oci.exceptions.RequestException | ConnectionError | TimeoutError | OSError):
        name = type(exc).__name__
        return ErrorOutcome(
            OutcomeKind.RETRY, "OCIUnreachable", f"OCI {operation} did not answer: {name}: {exc}"
        )
    return ErrorOutcome(OutcomeKind.RETRY, "UnexpectedError", f"{type(exc).__name__}: {exc}")


def backoff_delay(retry: int, base: float, cap: float) -> float:
    """Delay before kopf retries a handler: doubles per attempt, capped. `retry` counts from 0."""
    return float(min(cap, base * (2 ** max(0, min(retry, 20)))))


def is_not_found(exc: BaseException) -> bool:
    return isinstance(exc, oci.exceptions.ServiceError) and exc.status == 404
