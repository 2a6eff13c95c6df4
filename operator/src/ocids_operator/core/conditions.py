"""kstatus-compatible conditions: Ready, Reconciling, Stalled (plus Succeeded/Failed on runs).

kstatus reads a resource as Current when Ready=True and observedGeneration matches, as
InProgress while Reconciling=True, and as Failed when Stalled=True. Flux and Argo CD then
need no custom health code. Conditions are plain camelCase dicts, ready for `patch.status`.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

READY = "Ready"
RECONCILING = "Reconciling"
STALLED = "Stalled"
SUCCEEDED = "Succeeded"
FAILED = "Failed"
# TrainingJob: whether the artifact's source (URL, object) can still be read; its OCI job works either way.
ARTIFACT_SOURCE_AVAILABLE = "ArtifactSourceAvailable"


class Health(enum.StrEnum):
    READY = "ready"  # done, nothing in flight
    PROGRESSING = "progressing"  # working towards the spec (or waiting on OCI)
    STALLED = "stalled"  # cannot progress until something changes


@dataclasses.dataclass(frozen=True)
class Cond:
    type: str
    status: bool
    reason: str
    message: str = ""


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def health_conditions(health: Health, reason: str, message: str = "") -> list[Cond]:
    """The three kstatus conditions for one health state; all share the reason and message."""
    return [
        Cond(READY, health is Health.READY, reason, message),
        Cond(RECONCILING, health is Health.PROGRESSING, reason, message),
        Cond(STALLED, health is Health.STALLED, reason, message),
    ]


# The CRD's limit of a condition message (api/common.py): OCI's messages can be longer.
MAX_MESSAGE = 4096


def bounded(message: str) -> str:
    """A message cut to the condition limit, marked with an ellipsis."""
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 1] + "…"


def merge_conditions(
    previous: Iterable[Mapping[str, Any]] | None,
    desired: Sequence[Cond],
    generation: int | None,
    now: str,
) -> list[dict[str, Any]]:
    """Desired conditions as dicts, keeping lastTransitionTime where the status did not change.

    Conditions not in `desired` are kept as they were (a run keeps Succeeded once set).
    """
    before = {str(item.get("type")): dict(item) for item in (previous or [])}
    result: dict[str, dict[str, Any]] = dict(before)
    for cond in desired:
        status = "True" if cond.status else "False"
        old = before.get(cond.type)
        transition = old.get("lastTransitionTime") if old and old.get("status") == status else None
        entry: dict[str, Any] = {
            "type": cond.type,
            "status": status,
            "reason": cond.reason,
            "message": bounded(cond.message),
            "lastTransitionTime": transition or now,
        }
        if generation is not None:
            entry["observedGeneration"] = generation
        result[cond.type] = entry
    order = [READY, RECONCILING, STALLED, SUCCEEDED, FAILED]
    return sorted(
        result.values(), key=lambda c: (order.index(c["type"]) if c["type"] in order else 99, c["type"])
    )


def with_health(
    previous_status: Mapping[str, Any] | None,
    health: Health,
    reason: str,
    message: str,
    generation: int | None,
    now: str,
) -> list[dict[str, Any]]:
    """The conditions of a status now in `health`, merged over those of the previous status."""
    return merge_conditions(
        (previous_status or {}).get("conditions"), health_conditions(health, reason, message), generation, now
    )
