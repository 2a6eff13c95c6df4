"""Operator-wide handlers: login (shared with our own Kubernetes client), cleanup, health probe."""

from __future__ import annotations

import time
from typing import Any

import kopf

from ..adapters import kube
from ..settings import OperatorSettings
from .outcome import runtime_of


def register(registry: kopf.OperatorRegistry, settings: OperatorSettings) -> None:
    @kopf.on.login(id="login", registry=registry)
    def login(settings: kopf.OperatorSettings, **_: Any) -> kopf.ConnectionInfo:
        return kube.login(settings)

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
