"""Kueue handlers (workflows/kueue.py): the Workloads the operator made for labelled runs (selected
by their `ocids.io/training-job-run` label), and the runs' own events. Without Kueue's CRDs the
Workload watch has nothing to watch. Runs are not selected by their queue label: one whose label was
removed after its Workload was made still has that Workload to finish (workflows/kueue.queued); any
other run's event costs a dict lookup."""

from __future__ import annotations

from typing import Any

import kopf

from ..core.kinds import TRAINING_JOB_RUN_KIND
from ..core.kueue_workload import GROUP, RUN_LABEL, VERSION, WORKLOADS
from ..workflows import kueue
from . import run_ledger
from .outcome import runtime_of


def register(registry: kopf.OperatorRegistry) -> None:
    @kopf.on.event(
        GROUP, VERSION, WORKLOADS, id="kueue-workload", labels={RUN_LABEL: kopf.PRESENT}, registry=registry
    )
    async def workload_event(body: kopf.Body, memo: Any, type: str | None, **kwargs: Any) -> None:
        run_ledger.attach(memo, kwargs)
        if type == "DELETED":
            await kueue.workload_deleted(runtime_of(memo), body)
        else:
            await kueue.workload_changed(runtime_of(memo), body)

    @kopf.on.event(*TRAINING_JOB_RUN_KIND.gvr, id="kueue-run", registry=registry)
    async def run_event(body: kopf.Body, memo: Any, type: str | None, **kwargs: Any) -> None:
        run_ledger.attach(memo, kwargs)
        if type != "DELETED":
            await kueue.run_changed(runtime_of(memo), body)
