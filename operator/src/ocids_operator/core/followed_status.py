"""What the poller keeps of a followed run's status (workflows/run_poller.py TrackedRun.status):
only the fields its own writes read back, not the whole status with its URLs and messages.

Readers: run_status (phase, conditions), after_attempt and its attempt record (attempt, attempts,
lifecycleDetails, exitCode, jobRunId, timeStarted, timeFinished, conditions), ended_cost and the
billed time (cost, attempts, time*, conditions' times), the log tail and drain (logs.logGroupId,
logs.logId, and whether `logs` is there at all), metrics (metrics, metricsFinal, timeAccepted,
phase, timeFinished), the phase gauge (phase), multi-node registration (nodeCount)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .conditions import READY, RECONCILING, STALLED
from .shared_strings import shared

KEPT_FIELDS = (
    "phase",
    "jobRunId",
    "lifecycleDetails",
    "exitCode",
    "timeAccepted",
    "timeStarted",
    "timeFinished",
    "nodeCount",
    "metrics",
    "metricsFinal",
    "cost",
    "attempt",
    "attempts",
    "nextAttemptAt",
)
# The kstatus conditions every write of the poller sets anew (core/conditions.health_conditions):
# of the old ones merge_conditions reads only whether the status changed, and since when.
REWRITTEN_CONDITIONS = frozenset({READY, RECONCILING, STALLED})


def followed_status(status: Mapping[str, Any]) -> dict[str, Any]:
    kept = {key: status[key] for key in KEPT_FIELDS if status.get(key) is not None}
    if "logs" in status:  # its presence is read: a summary's write keeps the logs written before
        logs = status.get("logs") or {}
        kept["logs"] = {key: logs[key] for key in ("logGroupId", "logId") if logs.get(key)}
    conditions = [
        {key: c[key] for key in ("type", "status", "lastTransitionTime") if key in c}
        if c.get("type") in REWRITTEN_CONDITIONS
        else dict(c)
        for c in status.get("conditions") or []
    ]
    if conditions:
        kept["conditions"] = conditions
    return shared(kept)  # type: ignore[no-any-return]
