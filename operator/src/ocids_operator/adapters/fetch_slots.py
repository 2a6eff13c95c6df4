"""Download slots shared fairly between namespaces, with a bounded wait.

A freed slot goes to the waiting namespace that holds the fewest slots, and among equals to the one
served longest ago, so one namespace queueing many slow downloads cannot starve another: the
other's download starts as soon as any slot frees. A waiter that gets no slot in time gives up with
`SlotWaitTimeout` (retried later) instead of queueing without end.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator

CONCURRENCY_SETTING = "OCIDS_ARTIFACT_FETCH_CONCURRENCY"
WAIT_SETTING = "OCIDS_ARTIFACT_FETCH_WAIT_SECONDS"


class SlotWaitTimeout(Exception):
    def __init__(self, capacity: int, waited: float) -> None:
        super().__init__(
            f"no download slot free within {waited:g} s ({WAIT_SETTING}); all {capacity} "
            f"({CONCURRENCY_SETTING}) are busy"
        )


class FairSlots:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.held: collections.Counter[str] = collections.Counter()
        # When each namespace last got a slot (a grant counter; one entry per namespace seen).
        self._served: dict[str, int] = {}
        self._grants = 0
        # Waiters per namespace, namespaces in the order they began waiting.
        self._waiting: collections.OrderedDict[str, collections.deque[asyncio.Future[None]]] = (
            collections.OrderedDict()
        )

    @contextlib.asynccontextmanager
    async def slot(self, owner: str, wait_seconds: float) -> AsyncIterator[None]:
        if sum(self.held.values()) < self.capacity and not self._waiting:
            self._take(owner)
        else:
            await self._wait(owner, wait_seconds)
        try:
            yield
        finally:
            self.held[owner] -= 1
            if self.held[owner] <= 0:
                del self.held[owner]
            self._grant()

    async def _wait(self, owner: str, wait_seconds: float) -> None:
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(owner, collections.deque()).append(granted)
        try:
            async with asyncio.timeout(wait_seconds):
                await asyncio.shield(granted)
        except BaseException as exc:
            if granted.done() and not granted.cancelled():
                if isinstance(exc, TimeoutError):
                    return  # granted just as the wait ran out: the slot is ours
                self.held[owner] -= 1  # cancelled after the grant: hand the slot on
                if self.held[owner] <= 0:
                    del self.held[owner]
                self._grant()
                raise
            granted.cancel()
            self._drop(owner, granted)
            if isinstance(exc, TimeoutError):
                raise SlotWaitTimeout(self.capacity, wait_seconds) from None
            raise

    def _drop(self, owner: str, granted: asyncio.Future[None]) -> None:
        queue = self._waiting.get(owner)
        if queue is not None:
            with contextlib.suppress(ValueError):
                queue.remove(granted)
            if not queue:
                del self._waiting[owner]

    def _grant(self) -> None:
        while self._waiting and sum(self.held.values()) < self.capacity:
            owner = min(self._waiting, key=lambda name: (self.held[name], self._served.get(name, -1)))
            queue = self._waiting[owner]
            granted = queue.popleft()
            if not queue:
                del self._waiting[owner]
            if granted.done():
                continue
            self._take(owner)
            granted.set_result(None)

    def _take(self, owner: str) -> None:
        self.held[owner] += 1
        self._grants += 1
        self._served[owner] = self._grants
