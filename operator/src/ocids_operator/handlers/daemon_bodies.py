"""Keep kopf from holding a whole body per object for daemons that do not run.

A kind with any daemon (TrainingJobRun has `retry` and `ttl`, each for a few runs only) makes kopf
keep every object's last body in its memory (`DaemonsMemory.live_fresh_body`, to hand running
daemons fresh bodies), whether or not a daemon runs for it: with managedFields, annotations and
the whole status, the largest per-run cost of the operator (issue 19: bench/memory_curve.py).
Once a processing cycle leaves an object with no daemon running, its body is let go; the next
cycle sets it again before any daemon is spawned, and replaces it in place while one runs, so a
running daemon still sees every change.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from kopf._core.reactor import processing

log = logging.getLogger(__name__)

_INSTALLED = "_ocids_releases_idle_bodies"


def release_idle_body(memory: Any) -> None:
    """Drop the body kept for daemons when none runs for the object."""
    daemons = memory.daemons_memory
    if not daemons.running_daemons:
        daemons.live_fresh_body = None


def kopf_fits() -> bool:
    """Whether this kopf has what the wrapper relies on (private, checked against kopf 1.45): the
    spawning step by its module name, called with `memory=`; else the bodies are simply kept."""
    original = getattr(processing, "process_spawning_cause", None)
    if original is None or not inspect.iscoroutinefunction(inspect.unwrap(original)):
        return False
    return "memory" in inspect.signature(inspect.unwrap(original)).parameters


def install() -> None:
    """Wrap kopf's spawning step (idempotent). processing.py calls it by its module name."""
    if not kopf_fits():
        log.warning("this kopf version keeps every object's body for its daemons (more memory per run)")
        return
    original: Callable[..., Awaitable[Any]] = processing.process_spawning_cause
    if getattr(original, _INSTALLED, False):
        return

    @functools.wraps(original)
    async def process_spawning_cause(*args: Any, **kwargs: Any) -> Any:
        try:
            return await original(*args, **kwargs)
        finally:
            memory = kwargs.get("memory")
            if memory is not None:
                release_idle_body(memory)

    setattr(process_spawning_cause, _INSTALLED, True)
    processing.process_spawning_cause = process_spawning_cause  # type: ignore[assignment]
