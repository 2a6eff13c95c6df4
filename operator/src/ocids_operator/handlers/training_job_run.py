"""TrainingJobRun handlers: create/resume (create the OCI run or resume tracking it), delete.

Progress after creation comes from the poller (polling.py), not from per-object timers.
"""

from __future__ import annotations

from typing import Any

import kopf

from ..api import GROUP, TRAINING_JOB_RUNS, VERSION
from ..runtime import Runtime
from ..settings import OperatorSettings
from ..workflows import training_job_run as run_workflow
from ..workflows.outcome import Outcome
from .outcome import handle, register_finalizer

KIND = "TrainingJobRun"


def register(registry: kopf.OperatorRegistry, settings: OperatorSettings) -> None:
    resource = (GROUP, VERSION, TRAINING_JOB_RUNS)

    @kopf.on.resume(*resource, id="reconcile", registry=registry)
    @kopf.on.create(*resource, id="reconcile", registry=registry)
    async def reconcile_training_job_run(
        body: kopf.Body, patch: kopf.Patch, retry: int, memo: Any, **_: Any
    ) -> None:
        async def work(rt: Runtime) -> Outcome:
            outcome, owners = await run_workflow.reconcile(rt, body)
            if owners is not None:
                patch.metadata["ownerReferences"] = owners
            return outcome

        await handle(KIND, memo, body, patch, retry, work, "jobRunId")

    register_finalizer(registry, resource, KIND, run_workflow.finalize, "jobRunId")
