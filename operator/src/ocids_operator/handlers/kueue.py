"""Kueue handlers (workflows/kueue.py): the Workloads the operator made for labelled runs (selected
by their `ocids.io/training-job-run` label), and the labelled runs' own events. Without Kueue's CRDs
the Workload watch has nothing to watch, and unlabelled runs never reach these handlers."""

from __future__ import annotations

from typing import Any

import kopf

from ..core.kinds import TRAINING_JOB_RUN_KIND
from ..core.kueue_workload import GROUP, QUEUE_LABEL, RUN_LABEL, VERSION, WORKLOADS
from ..workflows import kueue
from . import run_ledger
from .outcome import runtime_of


def register(registry: kopf.OperatorRegistry) -> None:
    @kopf.on.event(
        GROUP, VERSION, WORKLOADS, id="kueue-workload", labels={RUN_LABEL: kopf.PRESENT}, registry=registry
    )
    async def workload_event(body: kopf.Body, memo: Any, type: str | None, **kwargs: Any) -> None:
        run_ledger.attach(memo, kwargs)
        if type != "DELETED":
            await kueue.workload_changed(runtime_of(memo), body)

    @kopf.on.event(
        *TRAINING_JOB_RUN_KIND.gvr, id="kueue-run", labels={QUEUE_LABEL: kopf.PRESENT}, registry=registry
    )
    async def run_event(body: kopf.Body, memo: Any, type: str | None, **kwargs: Any) -> None:
        run_ledger.attach(memo, kwargs)
        if type != "DELETED":
            await kueue.run_changed(runtime_of(memo), body)
