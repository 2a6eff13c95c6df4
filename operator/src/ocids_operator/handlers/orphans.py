"""The periodic orphan check (workflows/orphan_check.py): started with the operator, stopped with it."""

from __future__ import annotations

from typing import Any

import kopf

from ..workflows.orphan_check import OrphanCheck
from .outcome import runtime_of


def register(registry: kopf.OperatorRegistry) -> None:
    @kopf.on.startup(id="orphan-check", registry=registry)
    async def start_orphan_check(memo: Any, **_: Any) -> None:
        check = OrphanCheck(runtime_of(memo))
        memo.orphan_check = check
        check.start()

    @kopf.on.cleanup(id="orphan-check-stop", registry=registry)
    async def stop_orphan_check(memo: Any, **_: Any) -> None:
        check = getattr(memo, "orphan_check", None)
        if check is not None:
            await check.stop()
