"""The messages of Streaming streams: partitions, offsets and retention, written through to SQLite.

Shared by the Streaming API (PutMessages, GetMessages) and the Events service's OSS action, so an
event lands on a stream exactly as a producer's message would.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass

from ocids_emulator.core.timeutil import now_rfc3339
from ocids_emulator.store.sqlite import Store


@dataclass(frozen=True)
class StoredMessage:
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp: str


def partition_of(key: bytes | None, partitions: int, fallback: int) -> int:
    """A keyed message always goes to the same partition (OCI's promise); an unkeyed one is spread."""
    if key is None:
        return fallback % partitions
    return zlib.crc32(key) % partitions


class RateLimit:
    """OCI's GetMessages throttle (5 calls a second per partition): a token bucket per key holding
    ``rate`` tokens, refilled at ``rate`` a second. ``rate`` 0: no limit (the default here)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._buckets: dict[tuple[str, int], tuple[float, float]] = {}

    def allow(self, key: tuple[str, int], now: float) -> bool:
        if self.rate <= 0:
            return True
        tokens, since = self._buckets.get(key, (self.rate, now))
        tokens = min(self.rate, tokens + (now - since) * self.rate)
        allowed = tokens >= 1.0
        self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)
        return allowed


class StreamLog:
    def __init__(self, store: Store, get_messages_rate: float = 0.0) -> None:
        self._store = store
        self.get_messages_limit = RateLimit(get_messages_rate)
        # Next offset per (stream, partition): kept in memory so a put costs one INSERT.
        self._next = store.stream_next_offsets()
        self._unkeyed = 0

    def put(self, stream_id: str, partitions: int, key: bytes | None, value: bytes) -> StoredMessage:
        self._unkeyed += key is None
        partition = partition_of(key, partitions, self._unkeyed)
        offset = self._next.get((stream_id, partition), 0)
        self._next[(stream_id, partition)] = offset + 1
        stamp = now_rfc3339()
        self._store.add_stream_message(stream_id, partition, offset, key, value, stamp)
        return StoredMessage(partition, offset, key, value, stamp)

    def next_offset(self, stream_id: str, partition: int) -> int:
        return self._next.get((stream_id, partition), 0)

    def first_offset(self, stream_id: str, partition: int, retention_hours: float) -> int:
        """The oldest offset still kept (the next offset when the partition holds nothing)."""
        found = self._store.stream_first_offset(stream_id, partition, _kept_since(retention_hours))
        return self.next_offset(stream_id, partition) if found is None else found

    def offset_at_time(self, stream_id: str, partition: int, retention_hours: float, stamp: str) -> int:
        found = self._store.stream_first_offset(stream_id, partition, _kept_since(retention_hours), stamp)
        return self.next_offset(stream_id, partition) if found is None else found

    def read(
        self, stream_id: str, partition: int, offset: int, limit: int, retention_hours: float
    ) -> list[StoredMessage]:
        rows = self._store.stream_messages(stream_id, partition, offset, limit, _kept_since(retention_hours))
        return [StoredMessage(partition, o, k, v, t) for o, k, v, t in rows]

    def trim(self, stream_id: str, retention_hours: float) -> None:
        self._store.trim_stream_messages(stream_id, _kept_since(retention_hours))


def _kept_since(retention_hours: float) -> float:
    return time.time() - retention_hours * 3600
