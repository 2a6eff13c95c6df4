"""Every TrainingJobRun the operator watches, as the gates need them (caps, budgets, Kueue), with
no LIST: read from the kopf index `runs_by_namespace` (handlers/run_ledger.py), plus the runs this
process has just let through a gate whose create the index does not show yet.

A reservation is what makes a gate's check and its run's start one step: without it, two runs
reconciled at once would both see the last free slot. It is dropped when the index shows the run
created (createAttemptedAt) or finished, when the create was not attempted after all (`release`;
`confirm` marks one that was), or after RESERVATION_SECONDS (a process that lost track of it must
not hold a slot).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ..core.phases import run_finished
from ..core.run_caps import Tally, place_of
from ..core.run_entry import is_active

RESERVATION_SECONDS = 120.0
# The caps' counts are rebuilt at least this often even with no event seen (a safety net only).
TALLY_MAX_AGE_SECONDS = 10.0


class RunLedger:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._index: Mapping[str, Iterable[Mapping[str, Any]]] | None = None
        self._reserved: dict[str, tuple[float, dict[str, Any]]] = {}
        self._confirmed: set[str] = set()  # its create was stamped: kept until the index shows it
        self._locks: dict[str, asyncio.Lock] = {}
        self._clock = clock
        # The caps' counts, rebuilt only when a run's place in them changed (`observe`) or a
        # reservation came or went: not on every event of a held run (its own status writes).
        self._places: dict[str, tuple[Any, ...]] = {}
        self._version = 0
        self._tally: tuple[int, Tally] | None = None
        self._tally_at = 0.0

    def attach(self, index: Mapping[str, Iterable[Mapping[str, Any]]]) -> None:
        """The kopf index (handlers hand it over; it is the same object every time)."""
        self._index = index

    @property
    def attached(self) -> bool:
        return self._index is not None

    def lock(self, scope: str) -> asyncio.Lock:
        """Held while a gate decides and reserves: one decision per scope (a namespace, or "" for
        the operator-wide cap) at a time."""
        lock = self._locks.get(scope)
        if lock is None:
            lock = self._locks[scope] = asyncio.Lock()
        return lock

    def entries(self, namespace: str | None = None) -> list[Mapping[str, Any]]:
        """The runs (core/run_entry.py shapes), of one namespace or all; a reserved run as it was
        reserved until the index shows it created."""
        index = self._index or {}
        namespaces = [namespace] if namespace is not None else list(index)
        found: dict[str, Mapping[str, Any]] = {}
        for name in namespaces:
            for entry in index.get(name, ()):
                found[str((entry.get("metadata") or {}).get("uid"))] = entry
        self._expire(found)
        for uid, (_, reserved) in self._reserved.items():
            meta = reserved.get("metadata") or {}
            if namespace is None or meta.get("namespace") == namespace:
                found[uid] = reserved
        return list(found.values())

    def observe(self, entry: Mapping[str, Any], deleted: bool = False) -> bool:
        """A watch event of a run (after the index took it). True when it may free a place or money
        (it ended, was deleted, left the queue): only then is a wake-up worth a look."""
        uid = str((entry.get("metadata") or {}).get("uid"))
        was = self._places.pop(uid, None) if deleted else self._places.get(uid)
        if deleted:
            self._version += 1
            return True
        now = place_of(entry)
        if now == was:
            return False
        self._places[uid] = now
        self._version += 1
        if was is None:
            return False  # a new run frees nothing (nor does one seen first after a restart)
        _, was_active, was_queued, _, _ = was
        _, is_active_now, is_queued_now, _, _ = now
        return (was_active and not is_active_now) or (was_queued and not is_queued_now)

    def tally(self) -> Tally:
        """The caps' counts (core/run_caps.Tally), reserved runs counted as active."""
        if (
            self._reserved
            and min(at for at, _ in self._reserved.values()) < self._clock() - RESERVATION_SECONDS
        ):
            self._version += 1  # a reservation expires: it no longer counts
        stale = self._tally is None or self._tally[0] != self._version
        if stale or self._clock() - self._tally_at > TALLY_MAX_AGE_SECONDS:
            entries = self.entries()  # may drop reservations the index shows created
            self._tally, self._tally_at = (self._version, Tally(entries)), self._clock()
        assert self._tally is not None
        return self._tally[1]

    def active(self, namespace: str | None = None) -> list[Mapping[str, Any]]:
        return [entry for entry in self.entries(namespace) if is_active(entry)]

    def reserve(self, entry: Mapping[str, Any]) -> None:
        """Counted as active from now on (see the module docstring)."""
        status = {**(entry.get("status") or {}), "createAttemptedAt": "reserved"}
        reserved = {**entry, "status": status}
        self._reserved[str((entry.get("metadata") or {}).get("uid"))] = (self._clock(), reserved)
        self._version += 1

    def confirm(self, uid: str) -> None:
        """Its create was attempted: `release` no longer drops it (the index will show it)."""
        if uid in self._reserved:
            self._confirmed.add(uid)

    def release(self, uid: str) -> None:
        """The create was not attempted after all (a confirmed reservation stays)."""
        if uid not in self._confirmed and self._reserved.pop(uid, None) is not None:
            self._version += 1

    def _expire(self, indexed: Mapping[str, Mapping[str, Any]]) -> None:
        now = self._clock()
        for uid, (at, _) in list(self._reserved.items()):
            entry = indexed.get(uid)
            status = (entry or {}).get("status") or {}
            shown = entry is not None and (
                status.get("createAttemptedAt") or status.get("jobRunId") or run_finished(status)
            )
            if shown or now - at > RESERVATION_SECONDS:
                self._reserved.pop(uid, None)
                self._confirmed.discard(uid)
                self._version += 1
