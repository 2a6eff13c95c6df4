"""TrainingJob status.spend, summed from the run ledger (and its archive's records): Kubernetes data
only, so it is kept up to date by every resync of every TrainingJob, whatever OCI answers."""

from __future__ import annotations

import contextlib
import datetime
import logging
from collections.abc import Mapping
from typing import Any

from .. import metrics
from ..api.cost import JobSpend
from ..core.archive import archived_runs
from ..core.spend import job_spend, spend_changed
from ..runtime import Runtime

log = logging.getLogger(__name__)
WINDOWS = ("total", "month")


async def new_spend(rt: Runtime, body: Mapping[str, Any]) -> JobSpend | None:
    """status.spend when its figures changed, else None. Without the ledger (a handler that has not
    attached it yet) nothing is summed: the next resync does. Sets the spend gauges."""
    if not rt.ledger.attached:
        return None
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
        return None
    for window, value in (("total", spend.total), ("month", spend.month)):
        metrics.JOB_SPEND.labels(namespace, name, spend.currency or "", window).set(value or 0.0)
    return spend if spend_changed(status.get("spend"), spend) else None


async def spend_into(rt: Runtime, body: Mapping[str, Any], patch: Any) -> None:
    """Put status.spend into the handler's patch (kopf's: the TrainingJob's one status writer) when
    it changed. A failure (the archive unreadable) is logged: the next resync tries again."""
    meta = body["metadata"]
    try:
        spend = await new_spend(rt, body)
    except Exception as exc:
        log.warning(
            "spend of TrainingJob %s/%s: %s: %s", meta["namespace"], meta["name"], type(exc).__name__, exc
        )
        return
    if spend is not None:
        patch.status["spend"] = spend.model_dump(mode="json", by_alias=True, exclude_none=True)


def forget(namespace: str, name: str) -> None:
    """A deleted TrainingJob's spend gauges go with it."""
    samples = [sample for metric in metrics.JOB_SPEND.collect() for sample in metric.samples]
    for sample in samples:
        labels = sample.labels
        if labels.get("namespace") == namespace and labels.get("trainingjob") == name:
            with contextlib.suppress(KeyError):
                metrics.JOB_SPEND.remove(
                    namespace, name, labels.get("currency", ""), labels.get("window", "")
                )
