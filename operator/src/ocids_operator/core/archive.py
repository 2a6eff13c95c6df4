"""The compact record a TrainingJobRun leaves when history limits or its TTL remove it (pure).

Records live in one ConfigMap per TrainingJob, `<trainingjob>-runs-archive`, one key per run
(`<run>.json`), so archiving is an upsert by run name: done twice (a crash between archiving and
deleting), it leaves one record. The ConfigMap is bounded (OCIDS_ARCHIVE_MAX_RECORDS records and
~900 KB, under etcd's 1.5 MiB object limit); the oldest records are dropped first.

No secrets: env values from valueFrom are never resolved (the record names the reference), and
URLs in literal values lose their secret parts (query, user:password@, PAR token).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from .cost import recorded_cost
from .history import finished_at
from .links import without_url_secrets
from .times import parse_time

ARCHIVE_SUFFIX = "-runs-archive"
RECORD_SUFFIX = ".json"
MAX_ARCHIVE_BYTES = 900 * 1024
MAX_NAME = 253  # an object name and a ConfigMap key alike
SWEEP_LABEL = "ocids.io/sweep"
TRIAL_LABEL = "ocids.io/trial"
SCHEDULE_LABEL = "ocids.io/schedule"
SCHEDULED_TIME_LABEL = "ocids.io/scheduled-time"
_LABELS = {
    SWEEP_LABEL: "sweep",
    TRIAL_LABEL: "trial",
    SCHEDULE_LABEL: "schedule",
    SCHEDULED_TIME_LABEL: "scheduledTime",
}


def _bounded_name(name: str, suffix: str) -> str:
    """`name + suffix`, shortened with a hash of the whole when longer than a name may be."""
    whole = name + suffix
    if len(whole) <= MAX_NAME:
        return whole
    digest = hashlib.sha256(name.encode()).hexdigest()[:10]
    return f"{name[: MAX_NAME - len(suffix) - 11]}-{digest}{suffix}"


def archive_config_map_name(job_name: str) -> str:
    return _bounded_name(job_name, ARCHIVE_SUFFIX)


def record_key(run_name: str) -> str:
    return _bounded_name(run_name, RECORD_SUFFIX)


def _env_value(var: Mapping[str, Any]) -> str:
    if "value" in var:
        return without_url_secrets(str(var["value"]))
    source = var.get("valueFrom") or {}
    for kind, label in (("secretKeyRef", "secret"), ("configMapKeyRef", "configmap")):
        ref = source.get(kind)
        if isinstance(ref, Mapping):
            return f"<{label} {ref.get('name')}/{ref.get('key')}>"
    vault = source.get("vaultSecretRef")
    if isinstance(vault, Mapping):
        return f"<vault {vault.get('secretId')}>"
    return "<reference>"


def _parameters(spec: Mapping[str, Any]) -> dict[str, Any]:
    """What the run set itself (its overrides of the TrainingJob): env vars and args."""
    params: dict[str, Any] = {}
    env = spec.get("env") or []
    if env:
        params["env"] = {str(var.get("name")): _env_value(var) for var in env}
    if spec.get("args") is not None:
        params["args"] = [without_url_secrets(str(arg)) for arg in spec["args"]]
    return params


def _attempts(status: Mapping[str, Any]) -> int:
    ended = {a.get("attempt") for a in status.get("attempts") or []}
    if status.get("attempt"):
        ended.add(status["attempt"])
    return len(ended) or (1 if status.get("jobRunId") else 0)


def _attempt_runs(status: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every attempt's OCI run (status.attempts, then the current one when it is not listed yet):
    a retried run's earlier OCIDs are what a user needs to find their logs in OCI."""
    runs: dict[Any, dict[str, Any]] = {}
    for attempt in status.get("attempts") or []:
        entry = {
            "attempt": attempt.get("attempt"),
            "jobRunId": attempt.get("jobRunId"),
            "phase": attempt.get("phase"),
            "exitCode": attempt.get("exitCode"),
            "lifecycleDetails": attempt.get("lifecycleDetails"),
        }
        runs[attempt.get("attempt")] = {key: value for key, value in entry.items() if value is not None}
    current = status.get("attempt") or (1 if status.get("jobRunId") else None)
    if current is not None and current not in runs and status.get("jobRunId"):
        entry = {
            "attempt": current,
            "jobRunId": status.get("jobRunId"),
            "phase": status.get("phase"),
            "exitCode": status.get("exitCode"),
        }
        runs[current] = {key: value for key, value in entry.items() if value is not None}
    return [runs[key] for key in sorted(runs, key=lambda k: (k is None, k or 0))]


def archive_record(run_body: Mapping[str, Any], archived_at: str | None = None) -> dict[str, Any]:
    """The run as a compact JSON-ready record (fields without a value are left out). The run's
    own jobRunId/exitCode fall back to its last attempt's (a retry clears them while it waits)."""
    meta, spec = run_body.get("metadata") or {}, run_body.get("spec") or {}
    status = run_body.get("status") or {}
    labels = meta.get("labels") or {}
    finished = finished_at(status)
    job_runs = _attempt_runs(status)
    last = job_runs[-1] if job_runs else {}
    record: dict[str, Any] = {
        "name": meta.get("name"),
        "job": (spec.get("jobRef") or {}).get("name"),
        "phase": status.get("phase"),
        "exitCode": status.get("exitCode") if status.get("exitCode") is not None else last.get("exitCode"),
        "lifecycleDetails": status.get("lifecycleDetails") or last.get("lifecycleDetails"),
        "parameters": _parameters(spec) or None,
        "metrics": {m["name"]: m.get("value") for m in status.get("metrics") or [] if m.get("name")} or None,
        "jobRunId": status.get("jobRunId") or last.get("jobRunId"),
        "jobRuns": job_runs if len(job_runs) > 1 else None,  # a retried run: every attempt's
        "jobId": status.get("jobId"),
        "attempts": _attempts(status) or None,
        "logUrl": (status.get("logs") or {}).get("url"),
        "consoleUrl": status.get("consoleUrl"),
        "timeCreated": meta.get("creationTimestamp"),
        "timeStarted": status.get("timeStarted"),
        "timeFinished": status.get("timeFinished")
        or (finished.strftime("%Y-%m-%dT%H:%M:%SZ") if finished else None),
        "duration": status.get("duration"),
        "cost": _cost(status),
        **{field: labels.get(label) for label, field in _LABELS.items()},
        "archivedAt": archived_at,
    }
    return {key: value for key, value in record.items() if value is not None}


def _cost(status: Mapping[str, Any]) -> dict[str, Any] | None:
    """What the run cost, as cost.recorded_cost counts it (TrainingJob status.spend keeps counting
    it after the run is gone)."""
    found = recorded_cost(status)
    if found is None:
        return None
    amount, currency, actual = found
    return {
        key: value
        for key, value in {"amount": amount, "currency": currency, "actual": actual}.items()
        if value is not None
    }


def encode(record: Mapping[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":"))


def decode(text: str) -> dict[str, Any] | None:
    """A stored record; None for a value that is not one (a key someone added by hand)."""
    try:
        record = json.loads(text)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def _age(key: str, text: str) -> tuple[str, str]:
    record = decode(text) or {}
    stamp = parse_time(record.get("timeFinished")) or parse_time(record.get("timeCreated"))
    return (stamp.isoformat() if stamp else "", key)


def merged_records(
    existing: Mapping[str, str],
    records: Iterable[Mapping[str, Any]],
    max_records: int,
    max_bytes: int = MAX_ARCHIVE_BYTES,
) -> dict[str, str]:
    """The ConfigMap's data with these records upserted (by run name), the oldest dropped beyond
    `max_records` records or `max_bytes` bytes of keys and values."""
    data = dict(existing)
    for record in records:
        data[record_key(str(record["name"]))] = encode(record)
    oldest_first = sorted(data, key=lambda key: _age(key, data[key]))
    size = sum(len(key.encode()) + len(value.encode()) for key, value in data.items())
    for key in oldest_first:
        if len(data) <= max_records and size <= max_bytes:
            break
        size -= len(key.encode()) + len(data.pop(key).encode())
    return data


def archived_runs(data: Mapping[str, str]) -> list[dict[str, Any]]:
    """The records of an archive ConfigMap's data, oldest first."""
    keyed = [(key, decode(text)) for key, text in data.items() if key.endswith(RECORD_SUFFIX)]
    return [record for key, record in sorted(keyed, key=lambda kr: _age(kr[0], data[kr[0]])) if record]
