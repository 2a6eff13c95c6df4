"""TrainingJobSchedule handlers: reconcile on create/update/resume, a timer that makes due runs, delete.

Status is written through kopf's handler patch (the kind's one writer), by handlers and timer alike.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from typing import Any

import kopf

from ..core.kinds import TRAINING_JOB_RUN_KIND, TRAINING_JOB_SCHEDULE_KIND
from ..settings import OperatorSettings
from ..workflows import schedule as workflow
from .outcome import handle, register_finalizer

KIND = TRAINING_JOB_SCHEDULE_KIND
log = logging.getLogger(__name__)
# The kopf index of TrainingJobRuns by (namespace, owning schedule's uid); handlers get it by this name.
RUNS_INDEX = "runs_by_schedule"


def index_schedule_run(body: kopf.Body, **_: Any) -> dict[tuple[str, str], dict[str, Any]] | None:
    """A run under each TrainingJobSchedule among its owners (owners, not labels: labels are the
    user's to edit), with what the schedule reads of it."""
    keys = workflow.index_keys(body)
    if not keys:
        return None
    summary = workflow.run_summary_of(body)
    return {key: summary for key in keys}


def register(registry: kopf.OperatorRegistry, settings: OperatorSettings) -> None:
    # Watch-fed: a tick reads the schedule's runs from memory; a tick that changes nothing makes no
    # call at all (no LIST, no status write), however long a run lasts.
    kopf.index(*TRAINING_JOB_RUN_KIND.gvr, id=RUNS_INDEX, registry=registry)(index_schedule_run)
    memory: workflow.Memory = {}  # schedule uid -> what its steps did (workflow.Remembered)
    interval = settings.schedule_interval_seconds

    @kopf.on.resume(*KIND.gvr, id="reconcile", registry=registry)
    @kopf.on.create(*KIND.gvr, id="reconcile", registry=registry)
    @kopf.on.update(*KIND.gvr, id="reconcile", field="spec", registry=registry)
    async def reconcile_schedule(
        body: kopf.Body, patch: kopf.Patch, retry: int, memo: Any, **kwargs: Any
    ) -> None:
        index = kwargs.get(RUNS_INDEX)
        await handle(KIND, memo, body, patch, retry, lambda rt: workflow.reconcile(rt, body, index, memory))

    @kopf.timer(*KIND.gvr, id="tick", interval=interval, idle=None, registry=registry)
    async def tick_schedule(body: kopf.Body, patch: kopf.Patch, memo: Any, **kwargs: Any) -> None:
        """Runs come due with no change to the object: look every interval (a cheap no-op until then),
        and wait for a time due before the next look, so its run starts on time."""
        meta = body["metadata"]
        if meta.get("deletionTimestamp"):
            memory.pop(meta["uid"], None)
            return
        wait = workflow.seconds_until_due(body, datetime.datetime.now(datetime.UTC), interval)
        if wait is not None:
            stopped = kwargs.get("stopped")
            if stopped is not None:
                await stopped.wait(wait)
                if stopped:
                    return
            else:
                await asyncio.sleep(wait)
        if not workflow.due_soon(body, datetime.datetime.now(datetime.UTC)):
            return
        index = kwargs.get(RUNS_INDEX)
        try:
            await handle(KIND, memo, body, patch, 0, lambda rt: workflow.reconcile(rt, body, index, memory))
        except (kopf.TemporaryError, kopf.PermanentError) as exc:
            # Already written to status, with one Event per distinct message: a tick repeating the
            # same problem every interval is not news.
            log.debug("schedule %s/%s: %s", meta["namespace"], meta["name"], exc)

    register_finalizer(registry, KIND, workflow.finalize)
