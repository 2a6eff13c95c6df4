"""Which finished TrainingJobRuns history limits remove, and when a run's TTL is up (pure).

Like a CronJob's successfulJobsHistoryLimit / failedJobsHistoryLimit: the newest finished runs of
each kind are kept, older ones go. A run still running, or waiting for a retry, is never pruned.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any

from .phases import RunPhase, run_settled
from .shared_strings import shared
from .times import parse_time

_EPOCH = datetime.datetime.min.replace(tzinfo=datetime.UTC)


def finished_at(status: Mapping[str, Any]) -> datetime.datetime | None:
    """When the run ended: OCI's timeFinished, else when its terminal condition was written (a run
    canceled before it was created, or whose OCI run was deleted, has no timeFinished)."""
    finished = parse_time(status.get("timeFinished"))
    if finished is not None:
        return finished
    stamps = [parse_time(c.get("lastTransitionTime")) for c in status.get("conditions") or []]
    known = [stamp for stamp in stamps if stamp is not None]
    return max(known, default=None)


def _age_key(run: Mapping[str, Any]) -> tuple[datetime.datetime, datetime.datetime, str]:
    meta, status = run.get("metadata") or {}, run.get("status") or {}
    created = parse_time(meta.get("creationTimestamp")) or _EPOCH
    return (finished_at(status) or created, created, str(meta.get("name", "")))


def runs_to_prune(
    runs: Sequence[Mapping[str, Any]], successful_limit: int | None, failed_limit: int | None
) -> list[Mapping[str, Any]]:
    """The finished runs beyond the limits, oldest first. Succeeded runs count against
    `successful_limit`, Failed/Canceled/Deleted ones against `failed_limit`; None keeps all of that
    kind. Runs already being deleted are neither kept nor pruned again."""
    succeeded: list[Mapping[str, Any]] = []
    failed: list[Mapping[str, Any]] = []
    for run in runs:
        status = run.get("status") or {}
        if (run.get("metadata") or {}).get("deletionTimestamp") or not run_settled(status):
            continue
        (succeeded if status.get("phase") == RunPhase.SUCCEEDED else failed).append(run)
    doomed: list[Mapping[str, Any]] = []
    for group, limit in ((succeeded, successful_limit), (failed, failed_limit)):
        if limit is None:
            continue
        newest_first = sorted(group, key=_age_key, reverse=True)
        doomed += newest_first[limit:]
    return sorted(doomed, key=_age_key)


def ttl_due(status: Mapping[str, Any], ttl_seconds: int | None) -> datetime.datetime | None:
    """When a run with ttlSecondsAfterFinished is to be deleted; None while it is not finished (or
    has no TTL)."""
    if ttl_seconds is None or not run_settled(status):
        return None
    finished = finished_at(status)
    if finished is None:
        return None
    return finished + datetime.timedelta(seconds=ttl_seconds)


def run_summary(run: Mapping[str, Any]) -> dict[str, Any]:
    """What history limits read of a run (the watch-fed index of runs per TrainingJob keeps only
    this): shaped like the run, so `runs_to_prune` reads both alike."""
    meta, status = run.get("metadata") or {}, run.get("status") or {}
    kept_meta = {
        key: meta[key]
        for key in ("name", "namespace", "uid", "creationTimestamp", "deletionTimestamp")
        if meta.get(key) is not None
    }
    kept_meta["labels"] = dict(meta.get("labels") or {})
    kept_meta["ownerReferences"] = [
        {key: ref.get(key) for key in ("kind", "name", "uid")} for ref in meta.get("ownerReferences") or []
    ]
    kept_status = {
        key: status[key]
        for key in ("phase", "timeFinished", "nextAttemptAt", "metricsFinal")
        if status.get(key) is not None
    }
    # finished_at reads only the latest condition time: one small dict, not one per condition.
    latest = finished_at({"conditions": status.get("conditions") or []})
    if latest is not None:
        stamp = next(
            c["lastTransitionTime"]
            for c in status.get("conditions") or []
            if parse_time(c.get("lastTransitionTime")) == latest
        )
        kept_status["conditions"] = [{"lastTransitionTime": stamp}]
    return shared(  # type: ignore[no-any-return]
        {
            "metadata": kept_meta,
            "spec": {"jobRef": {"name": ((run.get("spec") or {}).get("jobRef") or {}).get("name")}},
            "status": kept_status,
        }
    )
