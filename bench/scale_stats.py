"""The pure figures of the scale benchmark: percentiles, status lag, and API server write counts.

No processes and no I/O here, so tests/unit/test_bench_scale.py covers all of it.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

WRITE_VERBS = frozenset({"POST", "PUT", "PATCH", "DELETE", "DELETECOLLECTION", "APPLY"})
# What the benchmark counts as the operator's Kubernetes writes (Events are counted apart).
OBJECT_RESOURCES = frozenset(
    {
        "trainingjobruns",
        "trainingjobs",
        "trainingjobsweeps",
        # The gates (bench/gates_bench.py): budgets, and the Workloads and queues Kueue writes too.
        "trainingbudgets",
        "workloads",
        "clusterqueues",
        "localqueues",
    }
)
EVENT_RESOURCES = frozenset({"events"})

# (verb, resource, subresource, code)
WriteKey = tuple[str, str, str, str]


def percentile(values: Iterable[float], q: float) -> float | None:
    """The q-th percentile (0..100) by linear interpolation between closest ranks; None when empty."""
    ordered = sorted(values)
    if not ordered:
        return None
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def parse_rfc3339(value: str) -> float:
    """Seconds since the epoch of an RFC 3339 time as OCI (and the emulator) write it."""
    parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return parsed.timestamp()


def status_lags(seen: Mapping[str, float], finished: Mapping[str, float]) -> dict[str, float]:
    """Per run: when its status first showed the end (seen) minus when OCI finished it, in seconds.

    Runs missing from either side are left out (the caller reports how many made it).
    """
    return {name: seen[name] - finished[name] for name in seen.keys() & finished.keys()}


def lag_summary(lags: Mapping[str, float]) -> dict[str, float | int | None]:
    values = list(lags.values())
    return {
        "count": len(values),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "max": max(values) if values else None,
    }


def lag_histogram(lags: Iterable[float], bucket_s: float = 1.0) -> dict[str, int]:
    """Runs per `bucket_s`-wide bucket of status lag, keyed by the bucket's lower edge in seconds
    ("3" holds the lags in [3, 4) s), every bucket from the lowest to the highest with the empty ones
    as 0, so it plots as it is; {} when there are no lags."""
    edges = [math.floor(lag / bucket_s) for lag in lags]
    if not edges:
        return {}
    counts = dict.fromkeys(range(min(edges), max(edges) + 1), 0)
    for edge in edges:
        counts[edge] += 1
    return {f"{edge * bucket_s:g}": count for edge, count in counts.items()}


def ideal_poll_lag_p50(interval_s: float) -> float:
    """The median status lag of polling alone: an end at a random moment waits for the next poll,
    uniformly 0..interval away, so half an interval (the read and the write apart). A measured p50
    well below it needs events, or run ends lined up with the polls (fixed run lengths can)."""
    return interval_s / 2


@dataclass(frozen=True)
class RunSeconds:
    """--run-seconds: `LO:HI` (each run's length drawn uniformly from LO..HI by the emulator, seeded
    by --seed and the run's id) or one number (every run that long)."""

    low: float
    high: float | None = None

    @classmethod
    def parse(cls, text: str) -> RunSeconds:
        low, sep, high = str(text).strip().partition(":")
        try:
            value = cls(float(low), float(high) if sep else None)
        except ValueError:
            raise ValueError(f"expects SECONDS or LO:HI (e.g. 120:240), got {text!r}") from None
        bounds = [value.low] if value.high is None else [value.low, value.high]
        if not all(math.isfinite(b) and b >= 0 for b in bounds):
            raise ValueError(f"seconds must be finite and >= 0, got {text!r}")
        if value.high is not None and value.high < value.low:
            raise ValueError(f"LO must not exceed HI, got {text!r}")
        return value

    @property
    def longest(self) -> float:
        return self.low if self.high is None else self.high

    def text(self) -> str:
        """As given on the command line (and kept in the JSON): "120:240" or "180"."""
        return f"{self.low:g}" if self.high is None else f"{self.low:g}:{self.high:g}"

    def simulated(self) -> str:
        """The emulator's --simulated (exit code 0): "120..240:0" or "180:0"."""
        span = f"{self.low:g}" if self.high is None else f"{self.low:g}..{self.high:g}"
        return f"{span}:0"

    def describe(self, seed: int) -> str:
        if self.high is None:
            return f"fixed {self.low:g} s"
        return f"{self.low:g}-{self.high:g} s (uniform, seed {seed})"


def round_robin(items: list[str], slots: list[str]) -> dict[str, str]:
    """Each item to a slot in turn (TrainingJobs over compartments: the i-th in slot i mod K)."""
    return {item: slots[i % len(slots)] for i, item in enumerate(items)}


def counter_by_label(metrics_text: str, family_name: str, label: str) -> dict[str, float]:
    """A counter family's samples summed by one label ("" when it has none), from /metrics text."""
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(metrics_text):
        if family.name != family_name:
            continue
        for sample in family.samples:
            if sample.name == f"{family_name}_total":
                key = sample.labels.get(label, "")
                out[key] = out.get(key, 0.0) + float(sample.value)
    return out


def apiserver_writes(metrics_text: str) -> dict[WriteKey, float]:
    """apiserver_request_total of the write verbs, by verb, resource, subresource and code."""
    counts: dict[WriteKey, float] = {}
    for family in text_string_to_metric_families(metrics_text):
        if family.name != "apiserver_request":
            continue
        for sample in family.samples:
            if sample.name != "apiserver_request_total":
                continue
            labels = sample.labels
            verb = labels.get("verb", "")
            if verb not in WRITE_VERBS:
                continue
            key = (verb, labels.get("resource", ""), labels.get("subresource", ""), labels.get("code", ""))
            counts[key] = counts.get(key, 0.0) + float(sample.value)
    return counts


def delta(before: Mapping[WriteKey, float], after: Mapping[WriteKey, float]) -> dict[WriteKey, float]:
    """What happened between two scrapes (counters only grow; a key new in `after` started at 0)."""
    out = {key: value - before.get(key, 0.0) for key, value in after.items()}
    return {key: value for key, value in out.items() if value}


def label(key: WriteKey) -> str:
    verb, resource, subresource, code = key
    what = f"{resource}/{subresource}" if subresource else resource
    return f"{verb} {what} {code}".strip()


def writes_per_run(
    writes: Mapping[WriteKey, float],
    runs: int,
    applied_by_bench: int,
    applied_resource: str = "trainingjobruns",
) -> dict[str, float | dict[str, float]]:
    """The operator's writes per run, by verb and resource, and Events apart.

    The benchmark's own creates of the N TrainingJobRuns (or of the sweeps that make them:
    `applied_resource`) are the API server's POSTs too: they are taken off (`applied_by_bench`), so
    what is left is what the operator (and kopf) wrote.
    """
    objects: dict[str, float] = {}
    events: dict[str, float] = {}
    for key, value in sorted(writes.items()):
        resource = key[1]
        if resource in OBJECT_RESOURCES:
            if key[0] == "POST" and resource == applied_resource and not key[2] and key[3] == "201":
                value -= applied_by_bench
                applied_by_bench = 0
            if value:
                objects[label(key)] = value / runs
        elif resource in EVENT_RESOURCES:
            events[label(key)] = value / runs
    return {
        "total": sum(objects.values()),
        "by_verb_resource": objects,
        "events": sum(events.values()),
        "events_by_verb": events,
    }


def calls_delta(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    """Per-operation counters between two reads (e.g. the emulator's answered requests)."""
    out = {op: after.get(op, 0.0) - before.get(op, 0.0) for op in after}
    return {op: value for op, value in sorted(out.items()) if value}


def ratio(ours: float | None, baseline: float | None) -> float | None:
    """baseline / ours: how many times worse the naive mode is (None when it cannot be said)."""
    if ours is None or baseline is None or ours == 0:
        return None
    return baseline / ours


def _since_creation(item: Mapping[str, Any], then: str | float | None) -> tuple[str, float] | None:
    meta = item.get("metadata") or {}
    created = meta.get("creationTimestamp")
    if not created or then is None:
        return None
    at = parse_rfc3339(then) if isinstance(then, str) else float(then)
    return str(meta.get("name")), at - parse_rfc3339(str(created))


def start_delays(items: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """Per run: creationTimestamp -> status.createAttemptedAt (the stamp written right before
    CreateJobRun, after every gate), in seconds. Runs never attempted are left out.

    creationTimestamp has whole seconds (floored), createAttemptedAt microseconds: each figure is up
    to 1 s longer than the real delay, never shorter.
    """
    out = {}
    for item in items:
        found = _since_creation(item, (item.get("status") or {}).get("createAttemptedAt"))
        if found is not None:
            out[found[0]] = found[1]
    return out


def create_delays(items: Iterable[Mapping[str, Any]], accepted: Mapping[str, float]) -> dict[str, float]:
    """Per run: creationTimestamp -> the OCI run's timeAccepted (`accepted`: by run name)."""
    out = {}
    for item in items:
        name = str((item.get("metadata") or {}).get("name"))
        found = _since_creation(item, accepted.get(name))
        if found is not None:
            out[found[0]] = found[1]
    return out


def events_by_reason(items: Iterable[Mapping[str, Any]], runs: int) -> dict[str, float]:
    """Events per run by who posted them and why ("component reason"), counting repeats an Event
    aggregates (its `count`): what the apiserver's POST count alone cannot tell apart."""
    out: dict[str, float] = {}
    for item in items:
        source = item.get("source") or {}
        who = item.get("reportingComponent") or source.get("component") or "?"
        key = f"{who} {item.get('reason') or '?'}"
        out[key] = out.get(key, 0.0) + float(item.get("count") or 1) / runs
    return dict(sorted(out.items()))


def _condition_time(obj: Mapping[str, Any], kind: str) -> float | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind and cond.get("status") == "True" and cond.get("lastTransitionTime"):
            return parse_rfc3339(str(cond["lastTransitionTime"]))
    return None


def workload_steps(
    runs: Iterable[Mapping[str, Any]], workloads: Iterable[Mapping[str, Any]]
) -> dict[str, dict[str, float]]:
    """Where a Kueue run's start delay goes, per run (its Workload: the one it owns): `gate` run
    created -> its Workload created (the operator's gate reaching it), `admission` -> Kueue's
    Admitted condition, `wakeup` Admitted -> createAttemptedAt (the operator seeing it). Kueue's
    times have whole seconds: each step is +-1 s."""
    by_owner = {
        str(ref.get("uid")): wl
        for wl in workloads
        for ref in (wl.get("metadata") or {}).get("ownerReferences") or []
        if ref.get("controller")
    }
    steps: dict[str, dict[str, float]] = {"gate": {}, "admission": {}, "wakeup": {}}
    for run in runs:
        meta = run.get("metadata") or {}
        workload = by_owner.get(str(meta.get("uid")))
        attempted = (run.get("status") or {}).get("createAttemptedAt")
        if workload is None or not meta.get("creationTimestamp"):
            continue
        name, created = str(meta.get("name")), parse_rfc3339(str(meta["creationTimestamp"]))
        made = parse_rfc3339(str(workload["metadata"]["creationTimestamp"]))
        admitted = _condition_time(workload, "Admitted")
        steps["gate"][name] = made - created
        if admitted is not None:
            steps["admission"][name] = admitted - made
            if attempted:
                steps["wakeup"][name] = parse_rfc3339(str(attempted)) - admitted
    return steps
