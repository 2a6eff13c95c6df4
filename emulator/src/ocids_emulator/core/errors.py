"""OCI-shaped API errors: every failure leaves the server as ``{"code", "message"}`` with a status."""

from __future__ import annotations

from collections.abc import Callable


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _error(status: int, code: str) -> Callable[[str], ApiError]:
    """A maker of one kind of error; the caller's message names the field or resource."""

    def make(message: str) -> ApiError:
        return ApiError(status, code, message)

    return make


invalid = _error(400, "InvalidParameter")
cannot_parse = _error(400, "CannotParseRequest")
limit_exceeded = _error(400, "LimitExceeded")
not_authenticated = _error(401, "NotAuthenticated")
incorrect_state = _error(409, "IncorrectState")
conflict = _error(409, "Conflict")
invalidated_retry_token = _error(409, "InvalidatedRetryToken")


def missing(field: str) -> ApiError:
    return ApiError(400, "MissingParameter", f"Missing required parameter: {field}")


def not_found(what: str) -> ApiError:
    return ApiError(
        404, "NotAuthorizedOrNotFound", f"Authorization failed or requested resource not found: {what}"
    )


def no_etag_match(resource_id: str) -> ApiError:
    return ApiError(412, "NoEtagMatch", f"The if-match etag does not match the current etag of {resource_id}")


# Codes the fault injector answers with; 429/500 codes are the common OCI ones (unverified).
FAULT_CODES = {
    429: ("TooManyRequests", "Too many requests (injected by the emulator)"),
    500: ("InternalServerError", "Internal server error (injected by the emulator)"),
    503: ("ServiceUnavailable", "Service unavailable (injected by the emulator)"),
}
