"""TrainingJob status.spend, summed by its resync from the run ledger (and its archive's records)."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from .. import metrics
from ..api import TrainingJobStatus
from ..core.archive import archived_runs
from ..core.spend import job_spend, spend_changed
from ..core.status_patch import StatusPatch
from ..runtime import Runtime
from .outcome import Outcome


async def with_spend(rt: Runtime, body: Mapping[str, Any], outcome: Outcome) -> Outcome:
    """`outcome` with status.spend when its figures changed. Without the ledger (a handler that has
    not attached it yet) nothing is summed: the next resync does."""
    if not rt.ledger.attached:
        return outcome
    meta, status = body["metadata"], body.get("status") or {}
    namespace, name = str(meta["namespace"]), str(meta["name"])
    runs = [
        entry
        for entry in rt.ledger.entries(namespace)
        if ((entry.get("spec") or {}).get("jobRef") or {}).get("name") == name
    ]
    archived: list[dict[str, Any]] = []
    archive = status.get("archive") or {}
    if archive.get("count") and archive.get("configMap"):
        config_map = await rt.kube.get_config_map(namespace, str(archive["configMap"]))
        live = {str((entry.get("metadata") or {}).get("name")) for entry in runs}
        # A run is archived just before it is deleted: counted once, as the run, meanwhile.
        archived = [
            r for r in archived_runs((config_map or {}).get("data") or {}) if r.get("name") not in live
        ]
    spend = job_spend(
        [entry.get("status") or {} for entry in runs], archived, datetime.datetime.now(datetime.UTC)
    )
    if spend is None:
        return outcome
    for window, value in (("total", spend.total), ("month", spend.month)):
        metrics.JOB_SPEND.labels(namespace, name, spend.currency or "", window).set(value or 0.0)
    if not spend_changed(status.get("spend"), spend):
        return outcome
    if outcome.status.model is None:
        outcome.status = StatusPatch(TrainingJobStatus(spend=spend))
    else:
        outcome.status = outcome.status.with_fields(spend=spend)
    return outcome
