"""OCI-shaped API errors: every failure leaves the server as ``{"code", "message"}`` with a status."""

from __future__ import annotations


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def invalid(message: str) -> ApiError:
    return ApiError(400, "InvalidParameter", message)


def missing(field: str) -> ApiError:
    return ApiError(400, "MissingParameter", f"Missing required parameter: {field}")


def cannot_parse(message: str) -> ApiError:
    return ApiError(400, "CannotParseRequest", message)


def limit_exceeded(message: str) -> ApiError:
    return ApiError(400, "LimitExceeded", message)


def not_authenticated(message: str) -> ApiError:
    return ApiError(401, "NotAuthenticated", message)


def not_found(what: str) -> ApiError:
    return ApiError(
        404, "NotAuthorizedOrNotFound", f"Authorization failed or requested resource not found: {what}"
    )


def incorrect_state(message: str) -> ApiError:
    return ApiError(409, "IncorrectState", message)


def conflict(message: str) -> ApiError:
    return ApiError(409, "Conflict", message)


def invalidated_retry_token(message: str) -> ApiError:
    return ApiError(409, "InvalidatedRetryToken", message)


def no_etag_match(resource_id: str) -> ApiError:
    return ApiError(412, "NoEtagMatch", f"The if-match etag does not match the current etag of {resource_id}")


# Codes the fault injector answers with; 429/500 codes are the common OCI ones (unverified).
FAULT_CODES = {
    429: ("TooManyRequests", "Too many requests (injected by the emulator)"),
    500: ("InternalServerError", "Internal server error (injected by the emulator)"),
    503: ("ServiceUnavailable", "Service unavailable (injected by the emulator)"),
}
