"""Ending a pending retry for good (its next attempt canceled, or never to be made). Pure; apart
from core/retry.py so that core/status.py's error path can use it without an import cycle."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..api.run_policies import RunAttempt


def retry_ended_fields(previous: Mapping[str, Any], reason: str) -> dict[str, Any]:
    """TrainingJobRunStatus fields (snake_case) that end a pending retry: nothing waits any more,
    and the last attempt says it was not retried, and why. Empty when no retry was pending."""
    if not previous.get("nextAttemptAt"):
        return {}
    # The ended attempt is the last one recorded: status.attempt may already name the next one
    # (stamped with createAttemptedAt before its create).
    records = [RunAttempt.model_validate(item) for item in previous.get("attempts") or []]
    last = max((record.attempt for record in records), default=int(previous.get("attempt") or 1))
    attempts = [
        record.model_copy(update={"retried": False, "reason": reason})
        if record.attempt == last and record.retried
        else record
        for record in records
    ]
    return {"next_attempt_at": None, "attempts": attempts, "attempt": last}
