"""ocids_run_cost_estimate_total: the estimate of every run that ends, whichever path ended it (the
poller, a cancel, a refused or lost retry, a run found ended), counted once when the run is seen
finished (handlers/run_cleanup.py). Runs that ended before this process started are not counted
again: a restart must not add the whole history to the counter."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from .. import metrics
from ..core.history import finished_at

STARTED = datetime.datetime.now(datetime.UTC)


def count_ended(namespace: str, status: Mapping[str, Any], since: datetime.datetime = STARTED) -> bool:
    """Count the run's estimate if it ended while this process ran; whether it was counted."""
    estimate = (status.get("cost") or {}).get("estimate") or {}
    amount, ended = estimate.get("amount"), finished_at(status)
    if not amount or ended is None or ended < since.replace(microsecond=0):
        return False
    metrics.RUN_COST_ESTIMATE.labels(namespace, estimate.get("currency") or "").inc(float(amount))
    return True
