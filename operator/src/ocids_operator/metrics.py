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
POLL_WAIT = Gauge(
    "ocids_poll_wait_seconds",
    "The longest wait a compartment poller sleeps right now before its next cycle (0: none sleeps); "
    "with healthy events, the fallback interval.",
)
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

# The orphan report's periodic check (workflows/orphan_check.py): OCI resources this cluster tagged
# that no object owns (retained and kept ones not counted), and what those runs cost so far.
ORPHAN_RUNS = Gauge("ocids_orphan_runs", "OCI job runs tagged by this cluster that no TrainingJobRun owns.")
ORPHAN_JOBS = Gauge("ocids_orphan_jobs", "OCI jobs tagged by this cluster that no TrainingJob owns.")
ORPHAN_COST = Gauge(
    "ocids_orphan_cost",
    "List-price cost so far of the orphan runs (those the price table prices).",
    ["currency"],
)

# TrainingBudgets (issue 18), set by each budget's status step: its period's figures, in its currency.
BUDGET_SPENT = Gauge(
    "ocids_budget_spent",
    "What a TrainingBudget's period has spent so far (actual where known, else the estimate).",
    ["namespace", "budget", "currency"],
)
BUDGET_LIMIT = Gauge(
    "ocids_budget_limit", "A TrainingBudget's limit per period.", ["namespace", "budget", "currency"]
)
BUDGET_COMMITTED = Gauge(
    "ocids_budget_committed",
    "The worst case of a TrainingBudget's active runs (price times maximumRuntimeInMinutes).",
    ["namespace", "budget", "currency"],
)
# Runs a gate holds Pending, by the gate's reason (core/admission.HoldReason). `budget` names the
# TrainingBudget for its reasons (BudgetExceeded, NoMaximumRuntime, NoPrice) and is "" for the others
# (ActiveRunLimit, WaitingForQuota), whose gates set their own series.
RUNS_HELD = Gauge(
    "ocids_runs_held", "TrainingJobRuns held Pending by a gate.", ["namespace", "budget", "reason"]
)

# What runs cost (issue 18): the price table's estimate of each run that ended, OCI's actual cost
# once final (Usage API), the Usage API reads, and each TrainingJob's spend as its status says.
RUN_COST_ESTIMATE = Counter(
    "ocids_run_cost_estimate_total",
    "Price-table estimate of the runs that ended (list prices), by namespace and currency.",
    ["namespace", "currency"],
)
RUN_COST_ACTUAL = Counter(
    "ocids_run_cost_actual_total",
    "OCI's actual cost (Usage API) of runs, counted when it became final, by namespace and currency.",
    ["namespace", "currency"],
)
COST_READS = Counter(
    "ocids_cost_reads_total",
    "Usage API reads of the actual cost of runs, by outcome (ok, error).",
    ["outcome"],
)
JOB_SPEND = Gauge(
    "ocids_trainingjob_spend",
    "A TrainingJob's status.spend: `total` over its runs, `month` over those that ended this UTC month.",
    ["namespace", "trainingjob", "currency", "window"],
)

# Run status pushed by OCI Events (issue 19): the events' health (1 for the state it is in), the
# events taken by source and what became of them, the OCI reads hints cost, and the ends polling
# found that no event announced within OCIDS_EVENTS_SILENCE_SECONDS.
EVENTS_STATE = Gauge(
    "ocids_events_state",
    "1 for the events' state (Off, Starting, Healthy, Silent, Failing, Stopped).",
    ["state"],
)
EVENTS_RECEIVED = Counter(
    "ocids_events_received_total",
    "OCI events taken, by source (stream, notifications) and outcome (Hint, Duplicate, ...).",
    ["source", "outcome"],
)
EVENTS_CONFIRM_READS = Counter(
    "ocids_events_confirm_reads_total", "OCI reads (GETs and list pages) made to confirm events' hints."
)
EVENTS_MISSED_ENDS = Counter(
    "ocids_events_missed_ends_total",
    "Run ends polling found that no event announced (while events were configured).",
)
