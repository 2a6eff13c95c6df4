"""Prometheus metrics. `ocids_oci_calls_total` / `ocids_runs_created_total` gives OCI calls per run."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

RECONCILES = Counter(
    "ocids_reconciles_total", "Handler invocations by kind and outcome.", ["kind", "outcome"]
)
OCI_CALLS = Counter(
    "ocids_oci_calls_total",
    "OCI API calls by operation and outcome (ok or HTTP status).",
    ["operation", "outcome"],
)
RUNS_CREATED = Counter("ocids_runs_created_total", "OCI job runs created by the operator.")
RUNS_BY_PHASE = Gauge("ocids_runs_by_phase", "Tracked TrainingJobRuns by phase (last seen).", ["phase"])
RUN_DURATION = Histogram(
    "ocids_run_duration_seconds",
    "Time from start to finish of job runs that reached a terminal phase.",
    ["phase"],
    buckets=(30, 60, 300, 600, 1800, 3600, 7200, 14400, 43200, 86400, float("inf")),
)
POLL_CYCLES = Counter("ocids_poll_cycles_total", "Run poller cycles by compartment outcome.", ["outcome"])
TRACKED_RUNS = Gauge("ocids_tracked_runs", "Non-terminal runs the poller tracks.")


def serve(port: int, address: str) -> None:
    """Start the /metrics endpoint on its own thread; port 0 disables it."""
    if port:
        start_http_server(port, addr=address)


RUNS_DROPPED = Counter(
    "ocids_runs_untracked_total", "Runs the poller stopped following after repeated failures of their own."
)

LEADER = Gauge(
    "ocids_leader",
    "1 while this replica reconciles and polls (the leader, or the only replica without leader "
    "election), 0 while it waits as a standby.",
)
