"""Polling helper shared by every integration test: wait for a condition instead of sleeping."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """Raised when a condition did not hold in time; an AssertionError so pytest reports it plainly."""


def wait_until(
    predicate: Callable[[], T],
    timeout: float = 30.0,
    interval: float = 0.2,
    message: str | Callable[[], str] = "condition",
) -> T:
    """Call `predicate` until it returns a truthy value and return that value.

    Exceptions from the predicate count as "not yet" (the object may not exist yet); the last one
    is chained to the timeout error so a failure shows why the condition never held. `message` may
    be a callable so it can describe the state observed at the moment of failure.
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    last_value: object = None
    while True:
        try:
            value = predicate()
            if value:
                return value
            last_value = value
            last_error = None
        except Exception as exc:
            last_error = exc
        if time.monotonic() >= deadline:
            text = message() if callable(message) else message
            detail = f"last error: {last_error!r}" if last_error else f"last value: {last_value!r}"
            raise WaitTimeout(f"timed out after {timeout:.0f}s waiting for {text} ({detail})") from last_error
        time.sleep(interval)
