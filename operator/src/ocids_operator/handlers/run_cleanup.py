"""Finished TrainingJobRuns: deleted once ttlSecondsAfterFinished is up, and their TrainingJob's
history limits applied as soon as they finish (workflows/run_history.py does both)."""

from __future__ import annotations

import datetime
import logging
from collections.abc import Mapping
from typing import Any

import kopf

from ..core.history import run_summary, ttl_due
from ..core.kinds import TRAINING_JOB_RUN_KIND
from ..core.phases import run_settled
from ..settings import OperatorSettings
from ..workflows import cost_counts, run_history
from .outcome import runtime_of

KIND = TRAINING_JOB_RUN_KIND
log = logging.getLogger(__name__)
# The kopf index of TrainingJobRuns by (namespace, TrainingJob name); handlers get it by this name.
RUNS_INDEX = "runs_by_job"
# Remembered finished runs (by uid), so each one triggers its TrainingJob's pruning once.
MAX_REMEMBERED_RUNS = 100_000


def _finished(body: kopf.Body) -> bool:
    return not body["metadata"].get("deletionTimestamp") and run_settled(body.get("status"))


def _expires(body: kopf.Body, **_: Any) -> bool:
    return _finished(body) and (body.get("spec") or {}).get("ttlSecondsAfterFinished") is not None


def index_run(body: kopf.Body, **_: Any) -> dict[tuple[str, str], dict[str, Any]] | None:
    """A TrainingJobRun under (namespace, its TrainingJob's name), with what history limits read."""
    job_name = ((body.get("spec") or {}).get("jobRef") or {}).get("name")
    if not job_name:
        return None
    return {(str(body["metadata"]["namespace"]), str(job_name)): run_summary(body)}


def runs_in(index: Any, namespace: str, job_name: str) -> list[Mapping[str, Any]]:
    """The runs of one TrainingJob in the RUNS_INDEX index (a kopf.Index)."""
    return list(index.get((namespace, job_name), ()))


def register(registry: kopf.OperatorRegistry, settings: OperatorSettings) -> None:
    # Watch-fed: kopf fills it before any handler runs, so pruning never LISTs the namespace.
    kopf.index(*KIND.gvr, id=RUNS_INDEX, registry=registry)(index_run)
    indexes: list[Any] = []  # the index itself, as kopf hands it to handlers (below)
    seen: dict[str, None] = {}
    worker = run_history.HistoryWorker(
        lambda namespace, job: runs_in(indexes[0], namespace, job) if indexes else []
    )

    # A daemon, not a timer: it sleeps until its run is due, so thousands of finished runs waiting
    # for their TTL cost nothing in between (a timer would wake each one every interval). Runs of
    # one TrainingJob due together are archived in one write by the worker.
    # Cancelled at once when its filter stops matching (its own delete does that): safe, the
    # archive and delete run in the worker's task, not this one. A grace period here would hold the
    # deletion (kopf re-looks only once it is over).
    @kopf.daemon(*KIND.gvr, id="ttl", when=_expires, cancellation_timeout=5.0, registry=registry)
    async def expire_finished_run(body: kopf.Body, memo: Any, stopped: Any, **_: Any) -> None:
        rt = runtime_of(memo)
        while not stopped:
            ttl = (body.get("spec") or {}).get("ttlSecondsAfterFinished")
            due = ttl_due(body.get("status") or {}, ttl)
            if ttl is None or due is None:
                return
            wait = (due - datetime.datetime.now(datetime.UTC)).total_seconds()
            if wait > 0:
                await stopped.wait(wait)
                continue
            try:
                await worker.expire(rt, body)
                return
            except Exception as exc:  # the API server busy, the archive refused: try again later
                log.warning("TTL of %s/%s: %s", body["metadata"]["namespace"], body["metadata"]["name"], exc)
                await stopped.wait(settings.retry_max_seconds)

    @kopf.on.event(*KIND.gvr, id="finished", registry=registry)
    async def run_ended(body: kopf.Body, memo: Any, type: str | None, **kwargs: Any) -> None:
        if not indexes:
            indexes.append(kwargs[RUNS_INDEX])
        uid = body["metadata"]["uid"]
        if type == "DELETED" or body["metadata"].get("deletionTimestamp"):
            seen.pop(uid, None)
            return
        if uid in seen or not _finished(body):
            return
        seen[uid] = None
        while len(seen) > MAX_REMEMBERED_RUNS:
            seen.pop(next(iter(seen)))
        cost_counts.count_ended(body["metadata"]["namespace"], body.get("status") or {})
        job_name = ((body.get("spec") or {}).get("jobRef") or {}).get("name")
        if job_name:
            worker.run_finished(runtime_of(memo), body["metadata"]["namespace"], job_name)
