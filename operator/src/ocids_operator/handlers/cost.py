"""The periodic read of runs' actual cost (workflows/run_cost_actual.py): started with the operator
(so only on the leader), stopped with it."""

from __future__ import annotations

from typing import Any

import kopf

from ..workflows.run_cost_actual import CostReader
from .outcome import runtime_of


def register(registry: kopf.OperatorRegistry) -> None:
    @kopf.on.startup(id="cost-reader", registry=registry)
    async def start_cost_reader(memo: Any, **_: Any) -> None:
        reader = CostReader(runtime_of(memo))
        memo.cost_reader = reader
        reader.start()

    @kopf.on.cleanup(id="cost-reader-stop", registry=registry)
    async def stop_cost_reader(memo: Any, **_: Any) -> None:
        reader = getattr(memo, "cost_reader", None)
        if reader is not None:
            await reader.stop()
