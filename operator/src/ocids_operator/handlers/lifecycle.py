"""Operator-wide handlers: cleanup, health probe (the one login handler is in handlers/__init__.py)."""

from __future__ import annotations

import time
from typing import Any

import kopf

from ..settings import OperatorSettings
from .outcome import runtime_of


def register(registry: kopf.OperatorRegistry, settings: OperatorSettings) -> None:
    @kopf.on.cleanup(id="stop-runtime", registry=registry)
    async def stop_runtime(memo: Any, **_: Any) -> None:
        rt = runtime_of(memo)
        await rt.poller.stop()
        await rt.kube.close()

    @kopf.on.probe(id="poller", registry=registry)
    def poller_health(memo: Any, **_: Any) -> dict[str, Any]:
        rt = runtime_of(memo)
        last = rt.poller.last_cycle
        return {
            "trackedRuns": len(rt.poller.tracked()),
            "cycles": rt.poller.cycles,
            "secondsSinceLastCycle": None if last is None else round(time.monotonic() - last, 1),
        }
