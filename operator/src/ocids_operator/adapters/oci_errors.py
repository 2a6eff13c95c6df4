"""The SDK's exceptions -> the core's `ErrorOutcome` (the core itself never sees the SDK)."""

from __future__ import annotations

import oci

from ..core.errors import (
    CREDENTIALS_HINT,
    CREDENTIALS_INVALID,
    ErrorOutcome,
    OutcomeKind,
    ReconcileError,
    classify_status,
)


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
            CREDENTIALS_INVALID,
            f"the operator's OCI configuration is invalid ({type(exc).__name__}: {exc}); {CREDENTIALS_HINT}",
        )
    if isinstance(exc, oci.exceptions.RequestException | ConnectionError | TimeoutError | OSError):
        name = type(exc).__name__
        return ErrorOutcome(
            OutcomeKind.RETRY, "OCIUnreachable", f"OCI {operation} did not answer: {name}: {exc}"
        )
    return ErrorOutcome(OutcomeKind.RETRY, "UnexpectedError", f"{type(exc).__name__}: {exc}")


def is_not_found(exc: BaseException) -> bool:
    return isinstance(exc, oci.exceptions.ServiceError) and exc.status == 404
