"""TrainingJob handlers: create/update/resume reconcile, periodic resync (drift), delete."""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping, Sequence
from typing import Any

import kopf

from ..core import conditions as cond
from ..core.errors import RECHECKED_WHILE_STALLED
from ..core.kinds import TRAINING_JOB_KIND
from ..core.phases import RESYNCED_JOB_PHASES
from ..runtime import Runtime
from ..settings import OperatorSettings
from ..workflows import job_spend, run_history
from ..workflows import training_job as workflow
from ..workflows.outcome import Outcome
from . import run_ledger
from .identity import finalize_as, for_job
from .outcome import handle, register_finalizer, runtime_of
from .run_cleanup import RUNS_INDEX, runs_in

KIND = TRAINING_JOB_KIND
log = logging.getLogger(__name__)


def register(registry: kopf.OperatorRegistry, settings: OperatorSettings) -> None:
    @kopf.on.resume(*KIND.gvr, id="reconcile", registry=registry)
    @kopf.on.create(*KIND.gvr, id="reconcile", registry=registry)
    @kopf.on.update(*KIND.gvr, id="reconcile", field="spec", registry=registry)
    async def reconcile_training_job(
        body: kopf.Body, patch: kopf.Patch, retry: int, memo: Any, **kwargs: Any
    ) -> None:
        runs = _runs_of(kwargs, body)
        await handle(KIND, memo, body, patch, retry, lambda rt: reconcile(rt, body, runs))

    @kopf.timer(
        *KIND.gvr,
        id="resync",
        interval=settings.resync_interval_seconds,
        # Spread over a second interval: objects resumed together at start-up must not all resync
        # (and fetch their artifacts) together on every interval after.
        initial_delay=lambda **_: settings.resync_interval_seconds * (1 + random.random()),
        idle=None,
        registry=registry,
    )
    async def resync_training_job(body: kopf.Body, patch: kopf.Patch, memo: Any, **kwargs: Any) -> None:
        """Drift: put back what was changed in OCI, re-create a deleted job; retired revisions are
        drained in every state (workflow.resync)."""
        settled = needs_resync(body)
        run_ledger.attach(memo, kwargs)  # status.spend sums the runs it holds
        try:
            if settled or workflow.drain_due(body):
                runs = _runs_of(kwargs, body)
                await handle(KIND, memo, body, patch, 0, lambda rt: resync(rt, body, settled, runs))
        except (kopf.TemporaryError, kopf.PermanentError) as exc:
            # Already written to status; the next resync (or a spec change) tries again.
            log.info("resync of %s/%s: %s", body["metadata"]["namespace"], body["metadata"]["name"], exc)
        finally:
            # status.spend: what its runs cost, from Kubernetes alone (whatever OCI answered).
            if not body["metadata"].get("deletionTimestamp"):
                await job_spend.spend_into(runtime_of(memo), body, patch)

    register_finalizer(registry, KIND, finalize_as(for_job, _finalize))


async def _finalize(rt: Runtime, body: Mapping[str, Any]) -> Outcome:
    meta = body["metadata"]
    job_spend.forget(meta["namespace"], meta["name"])  # its spend gauges go with it
    return await workflow.finalize(rt, body)


def _runs_of(kwargs: Mapping[str, Any], body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The TrainingJob's runs from the watch-fed index (handlers/run_cleanup.py)."""
    meta = body["metadata"]
    return runs_in(kwargs[RUNS_INDEX], meta["namespace"], meta["name"]) if RUNS_INDEX in kwargs else []


async def reconcile(rt: Runtime, body: Mapping[str, Any], runs: Sequence[Mapping[str, Any]] = ()) -> Outcome:
    outcome = await workflow.reconcile(await for_job(rt, body), body)
    return await run_history.with_history(rt, body, outcome, runs)  # history limits, status.archive


async def resync(
    rt: Runtime, body: Mapping[str, Any], settled: bool, runs: Sequence[Mapping[str, Any]] = ()
) -> Outcome:
    outcome = await workflow.resync(await for_job(rt, body), body, settled=settled)
    # History as `reconcile` does; an unsettled TrainingJob only has its retired jobs drained.
    return await run_history.with_history(rt, body, outcome, runs) if settled else outcome


def needs_resync(body: Any) -> bool:
    """An object whose spec was handled and whose OCI job exists (Active, or re-created and still
    Creating). Stalled ones wait for a spec change (no retry storm), except for rejected
    credentials and reached limits, which get fixed outside the spec."""
    meta, status = body.get("metadata") or {}, body.get("status") or {}
    if meta.get("deletionTimestamp") or not status.get(KIND.oci_id_field):
        return False
    if status.get("observedGeneration") != meta.get("generation"):
        return False
    for condition in status.get("conditions") or []:
        if condition.get("type") == cond.STALLED and condition.get("status") == "True":
            return condition.get("reason") in RECHECKED_WHILE_STALLED
    return status.get("phase") in RESYNCED_JOB_PHASES
