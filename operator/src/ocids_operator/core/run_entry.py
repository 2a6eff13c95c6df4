"""What the run ledger keeps of each TrainingJobRun (the watch-fed kopf index the caps, budgets
and Kueue gates read instead of listing runs): a small dict shaped like the run itself."""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any

from .phases import run_finished
from .shared_strings import shared
from .times import parse_time

# Status fields the gates read; the rest of status is not kept in memory.
KEPT_STATUS = (
    "phase",
    "jobRunId",
    "createAttemptedAt",
    "nextAttemptAt",
    "timeStarted",
    "timeFinished",
    "metricsFinal",
    "cost",
)
KEPT_SPEC = ("jobRef", "cancel", "maximumRuntimeInMinutes", "infrastructure", "nodeGroups")
# The TrainingJob's ServiceAccount recorded on the run (adapters/oci_identities.py
# RUN_SERVICE_ACCOUNT_ANNOTATION): under OKE workload identity, whose identity reads its cost.
KEPT_ANNOTATIONS = ("ocids.io/job-service-account",)


def run_entry(run: Mapping[str, Any]) -> dict[str, Any]:
    meta, spec, status = run.get("metadata") or {}, run.get("spec") or {}, run.get("status") or {}
    kept_meta = {
        key: meta[key]
        for key in ("name", "namespace", "uid", "creationTimestamp", "deletionTimestamp")
        if meta.get(key) is not None
    }
    kept_meta["labels"] = dict(meta.get("labels") or {})
    annotations = meta.get("annotations") or {}
    kept_annotations = {key: annotations[key] for key in KEPT_ANNOTATIONS if annotations.get(key)}
    if kept_annotations:
        kept_meta["annotations"] = kept_annotations
    kept_status = {key: status[key] for key in KEPT_STATUS if status.get(key) is not None}
    if status.get("attempts"):  # a retried run's OCI runs: the cost reader asks the Usage API of each
        kept_status["attempts"] = [
            {key: a[key] for key in ("jobRunId", "timeStarted", "timeFinished") if a.get(key)}
            for a in status["attempts"]
        ]
    conditions = kept_conditions(status.get("conditions") or [])
    if conditions:
        kept_status["conditions"] = conditions
    return shared(  # type: ignore[no-any-return]
        {
            "metadata": kept_meta,
            "spec": {key: spec[key] for key in KEPT_SPEC if spec.get(key) is not None},
            "status": kept_status,
        }
    )


def kept_conditions(conditions: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The Ready reason (a held run's gate reason) and the latest condition time (when a run with no
    timeFinished ended: core/history.finished_at reads the latest): one or two small dicts, not one
    per condition."""
    ready = next((c for c in conditions if c.get("type") == "Ready"), None)
    stamps = [c["lastTransitionTime"] for c in conditions if c.get("lastTransitionTime")]
    kept: list[dict[str, Any]] = []
    if ready is not None:
        kept.append({"type": "Ready", "reason": ready.get("reason")})
        if ready.get("lastTransitionTime"):
            kept[0]["lastTransitionTime"] = ready["lastTransitionTime"]
    latest = max(stamps, key=_stamp_key, default=None)
    if latest is not None and (ready is None or ready.get("lastTransitionTime") != latest):
        kept.append({"lastTransitionTime": latest})
    return kept


def _stamp_key(stamp: object) -> datetime.datetime:
    return parse_time(stamp) or datetime.datetime.min.replace(tzinfo=datetime.UTC)


def hold_reason(entry: Mapping[str, Any]) -> str | None:
    """The reason its Ready condition gives (a held run's gate reason)."""
    for condition in (entry.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return condition.get("reason")
    return None


def is_active(entry: Mapping[str, Any]) -> bool:
    """In OCI (or being created there) and not finished: it counts against caps and quotas. A
    failed attempt waiting for its retry is not (its next attempt is gated again)."""
    status = entry.get("status") or {}
    if not (status.get("jobRunId") or status.get("createAttemptedAt")):
        return False
    if status.get("nextAttemptAt") and not status.get("createAttemptedAt"):
        return False
    return not run_finished(status)


def is_waiting(entry: Mapping[str, Any]) -> bool:
    """Not created in OCI yet and not finished (nor being deleted): a gate may be holding it."""
    meta, status = entry.get("metadata") or {}, entry.get("status") or {}
    if meta.get("deletionTimestamp") or (entry.get("spec") or {}).get("cancel"):
        return False
    if status.get("jobRunId") or status.get("createAttemptedAt"):
        return False
    return not run_finished(status) and status.get("phase") in (None, "Pending")


def queue_order(entry: Mapping[str, Any]) -> tuple[str, str]:
    """Runs wait in the order they were made (then by name: a stable tie-break)."""
    meta = entry.get("metadata") or {}
    return (str(meta.get("creationTimestamp") or ""), str(meta.get("name") or ""))
