"""TrainingJobRun handlers: create/resume (create the OCI run or resume tracking it), delete.

Progress after creation comes from the poller (workflows/run_poller.py), not from per-object timers.
Every status write goes through the run status writer, never kopf's patch (see run_status_writer).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf

from ..core.kinds import TRAINING_JOB_RUN_KIND
from ..core.status_patch import StatusPatch
from ..runtime import Runtime
from ..settings import OperatorSettings
from ..workflows import training_job_run as workflow
from ..workflows.outcome import Outcome
from .outcome import StatusWriter, handle, register_finalizer

KIND = TRAINING_JOB_RUN_KIND


def through_run_status_writer(rt: Runtime, body: Mapping[str, Any], patch: kopf.Patch) -> StatusWriter:
    meta = body["metadata"]

    async def write(status: StatusPatch[Any]) -> None:
        await rt.run_status.write(meta["namespace"], meta["name"], meta["uid"], status)

    return write


def register(registry: kopf.OperatorRegistry, settings: OperatorSettings) -> None:
    @kopf.on.resume(*KIND.gvr, id="reconcile", registry=registry)
    @kopf.on.create(*KIND.gvr, id="reconcile", registry=registry)
    async def reconcile_training_job_run(
        body: kopf.Body, patch: kopf.Patch, retry: int, memo: Any, **_: Any
    ) -> None:
        async def work(rt: Runtime) -> Outcome:
            outcome, owners = await workflow.reconcile(rt, body)
            if owners is not None:
                patch.metadata["ownerReferences"] = owners
            return outcome

        await handle(KIND, memo, body, patch, retry, work, writer=through_run_status_writer)

    register_finalizer(registry, KIND, workflow.finalize, writer=through_run_status_writer)
