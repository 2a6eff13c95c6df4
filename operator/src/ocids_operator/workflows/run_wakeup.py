"""Prompt starts for held runs: when a place frees up (a run ends, is deleted, or leaves the queue),
the held runs it lets start are reconciled at once, not at their next look a poll interval later.

In-process, and no write to anyone's object: every TrainingJobRun watch event `poke`s the waker
(handlers/run_wakeup.py); it coalesces a burst of pokes into one recheck a moment later, asks each
source (the caps' `startable`; other gates may add theirs) which held runs may start now, and hands
each to the `wake` callback the handlers connected (a reconcile of that run, under its locks,
through the same gates: a run woken for nothing is held again). `wake_run` wakes one run by name
(a gate that learns its run may go, e.g. a quota admitted).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..runtime import Runtime

log = logging.getLogger(__name__)
Wake = Callable[[str, str, str], Awaitable[None]]  # namespace, name, uid
Source = Callable[["Runtime"], Awaitable[list[Mapping[str, Any]]]]
# Pokes within this many seconds make one recheck (a finished run brings several events).
COALESCE_SECONDS = 0.05


class RunWaker:
    def __init__(self) -> None:
        self._wake: Wake | None = None
        self._sources: list[Source] = []
        self._task: asyncio.Task[None] | None = None
        self._again = False
        self._waking: set[str] = set()  # uids being woken: one wake-up of a run at a time
        # Held runs and when to look at them again (`hold`): uid -> (due, namespace, name).
        self._held: dict[str, tuple[float, str, str]] = {}
        self._held_task: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        return self._wake is not None

    def connect(self, wake: Wake, sources: list[Source]) -> None:
        self._wake, self._sources = wake, list(sources)

    def poke(self, rt: Runtime) -> None:
        """Something changed that may free a place: recheck soon (one recheck for many pokes)."""
        if self._wake is None or not self._sources:
            return
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = asyncio.get_running_loop().create_task(self._recheck_loop(rt))

    def hold(self, namespace: str, name: str, uid: str, after: float) -> None:
        """A gate held this run: look at it again in `after` seconds (its reconcile, through the
        gates, registers it again if it is still held). In process, in place of kopf's retry, which
        patches the run's progress annotation on every look."""
        self._held[uid] = (time.monotonic() + after, namespace, name)
        if self._held_task is None or self._held_task.done():
            self._held_task = asyncio.get_running_loop().create_task(self._held_loop())

    @property
    def held(self) -> int:
        return len(self._held)

    def is_held(self, uid: str) -> bool:
        return uid in self._held

    async def _held_loop(self) -> None:
        while self._held:
            now = time.monotonic()
            due = [(uid, ns, name) for uid, (at, ns, name) in self._held.items() if at <= now]
            if not due:
                await asyncio.sleep(min(at for at, _, _ in self._held.values()) - now)
                continue
            for uid, namespace, name in due:
                self._held.pop(uid, None)
                await self.wake_run(namespace, name, uid)

    async def settle(self) -> None:
        """Wait for the pending recheck (tests)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def wake_run(self, namespace: str, name: str, uid: str) -> None:
        """Reconcile this run now (it stays held if a gate still holds it)."""
        if self._wake is None or uid in self._waking:
            return
        self._waking.add(uid)
        try:
            await self._wake(namespace, name, uid)
        except Exception:  # its own reconcile reports what went wrong; the next look retries
            log.debug("waking %s/%s failed", namespace, name, exc_info=True)
        finally:
            self._waking.discard(uid)

    async def _recheck_loop(self, rt: Runtime) -> None:
        while True:
            self._again = False
            await asyncio.sleep(COALESCE_SECONDS)
            try:
                await self._recheck(rt)
            except Exception:  # a namespace read failed, say: held runs still look again on their own
                log.warning("recheck of held runs failed", exc_info=True)
            if not self._again:
                return

    async def _recheck(self, rt: Runtime) -> None:
        woken: dict[str, Mapping[str, Any]] = {}
        for source in self._sources:
            for entry in await source(rt):
                meta = entry.get("metadata") or {}
                woken.setdefault(str(meta.get("uid")), entry)
        if not woken:
            return
        # One after another: each passes the gates (and reserves its place) before the next looks.
        for uid, entry in woken.items():
            meta = entry.get("metadata") or {}
            await self.wake_run(str(meta.get("namespace")), str(meta.get("name")), uid)
