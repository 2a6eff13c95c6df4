"""TrainingJobSweep handlers: create/update/resume reconcile, a timer that follows the trials, delete."""

from __future__ import annotations

import logging
import time
from typing import Any

import kopf

from ..core.kinds import TRAINING_JOB_RUN_KIND, TRAINING_JOB_SWEEP_KIND
from ..core.sweep_trials import SWEEP_LABEL, trial_summary
from ..settings import OperatorSettings
from ..workflows import sweep as workflow
from .outcome import handle, register_finalizer

KIND = TRAINING_JOB_SWEEP_KIND
log = logging.getLogger(__name__)
# The kopf index of trials by (namespace, ocids.io/sweep label); handlers get it by this name.
TRIALS_INDEX = "trials_by_sweep"
# A sweep stalled on a missing TrainingJob looks again this often (not every interval) once it has
# been stalled that long: a TrainingJob applied just after its sweep is still picked up promptly.
JOB_RECHECK_SECONDS = 60.0


def index_trial(body: kopf.Body, **_: Any) -> dict[tuple[str, str], dict[str, Any]] | None:
    """A trial under (namespace, its sweep label), with only what the sweep reads of it."""
    label = ((body.get("metadata") or {}).get("labels") or {}).get(SWEEP_LABEL)
    if not label:
        return None
    return {(str(body["metadata"]["namespace"]), str(label)): trial_summary(body)}


def register(registry: kopf.OperatorRegistry, settings: OperatorSettings) -> None:
    # Watch-fed: the sweep's timer reads its trials from memory, never LISTing them every interval.
    kopf.index(
        *TRAINING_JOB_RUN_KIND.gvr,
        id=TRIALS_INDEX,
        labels={SWEEP_LABEL: kopf.PRESENT},
        registry=registry,
    )(index_trial)
    next_look: dict[str, float] = {}  # uid -> monotonic time: sweeps stalled on a missing TrainingJob

    @kopf.on.resume(*KIND.gvr, id="reconcile", registry=registry)
    @kopf.on.create(*KIND.gvr, id="reconcile", registry=registry)
    @kopf.on.update(*KIND.gvr, id="reconcile", field="spec", registry=registry)
    async def reconcile_sweep(body: kopf.Body, patch: kopf.Patch, retry: int, memo: Any, **_: Any) -> None:
        next_look.pop(body["metadata"]["uid"], None)
        await handle(KIND, memo, body, patch, retry, lambda rt: workflow.reconcile(rt, body))

    # Trials change without the sweep changing: it looks at them every interval while it has work.
    @kopf.timer(
        *KIND.gvr,
        id="trials",
        interval=settings.sweep_interval_seconds,
        initial_delay=settings.sweep_interval_seconds,
        idle=None,
        when=lambda body, **_: workflow.watching(body),
        registry=registry,
    )
    async def follow_trials(body: kopf.Body, patch: kopf.Patch, memo: Any, **kwargs: Any) -> None:
        meta = body["metadata"]
        if workflow.waiting_for_job(body, JOB_RECHECK_SECONDS):
            if time.monotonic() < next_look.get(meta["uid"], 0.0):
                return
            next_look[meta["uid"]] = time.monotonic() + JOB_RECHECK_SECONDS
        else:
            next_look.pop(meta["uid"], None)
        index = kwargs.get(TRIALS_INDEX)
        listed = workflow.indexed_trials(index, body) if index is not None else None
        try:
            await handle(KIND, memo, body, patch, 0, lambda rt: workflow.reconcile(rt, body, listed))
        except (kopf.TemporaryError, kopf.PermanentError) as exc:
            # Already in status; the next tick tries again.
            log.info("sweep %s/%s: %s", meta["namespace"], meta["name"], exc)

    register_finalizer(registry, KIND, workflow.finalize)
