"""Run events from an OCI Streaming stream (OCIDS_EVENTS_STREAM_ID), on the leader only.

One supervised reader per partition (a reader that fails for any reason is started again with
backoff, from where it was). A LATEST cursor at start: events from before it (while no operator
ran) are not read; the runs they were about are polled fast once when followed again (run_poller's
"not yet read" rule). Then each read's next cursor. A cursor OCI refuses (expired) is made again
AFTER_OFFSET of the last message handled (none yet: AT_TIME of the last good read); a position OCI
no longer keeps falls back to TRIM_HORIZON, then LATEST. A failed read makes the events Failing
(each partition on its own; polling fast at once) and is retried with backoff; a read with fewer
messages than it could return pauses OCIDS_EVENTS_READ_INTERVAL_SECONDS. While the operator follows
no run at all, reads stop (an idle operator costs no GetMessages) and start again as soon as a run
is followed. Each message is offered to the intake (workflows/event_intake.py), which dedupes and
confirms; a message that breaks anything is skipped alone.

`EventsService` puts it together: the intake, the consumer, the status ConfigMap, a one-second tick
(silence comes with time alone, and so do missed ends).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import oci

from .. import metrics
from ..adapters.oci_streaming import (
    READ_LIMIT,
    CursorExpired,
    StreamInfo,
    StreamMessage,
    Streams,
    is_refused_position,
)
from ..settings import OperatorSettings
from .event_intake import EventIntake, EventSource
from .events_status import ConfigMaps, EventsStatusWriter

log = logging.getLogger(__name__)
BACKOFF_CAP_SECONDS = 10.0
TICK_SECONDS = 1.0


def failure_reason(operation: str, exc: BaseException) -> str:
    """`GetMessages 503`, `GetStream 404 NotAuthorizedOrNotFound`, `GetMessages ConnectionError`."""
    if isinstance(exc, oci.exceptions.ServiceError):
        return f"{operation} {exc.status} {exc.code}".rstrip()
    return f"{operation} {type(exc).__name__}"


def backoff(base: float, failures: int) -> float:
    return min(base * 2 ** min(max(failures - 1, 0), 16), max(BACKOFF_CAP_SECONDS, base))


def envelope(value: bytes) -> Any:
    """The message's JSON (the Events OSS action puts the envelope as the value); {} if not JSON
    (nested too deep for the parser included)."""
    try:
        return json.loads(value.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return {}


@dataclasses.dataclass
class Position:
    """Where one partition is read from; kept across a restart of its reader."""

    cursor: str | None = None
    last_offset: int | None = None  # the last message handled
    read_at: datetime.datetime | None = None  # when the last good read began (wall clock)
    failures: int = 0  # in a row, reads and restarts alike


class StreamConsumer:
    def __init__(
        self,
        settings: OperatorSettings,
        streams: Streams,
        intake: EventIntake,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        assert settings.events_stream_id
        self._settings = settings
        self._stream_id = settings.events_stream_id
        self._streams = streams
        self._intake = intake
        self._sleep = sleep
        self.reads = 0
        self.restarts = 0

    async def run(self) -> None:
        """One supervised reader per partition; a stop (cancel) or a BaseException stops them all."""
        info = await self._describe()
        tasks = [asyncio.ensure_future(self._supervised(info, partition)) for partition in info.partitions]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _describe(self) -> StreamInfo:
        failures = 0
        while True:
            try:
                info = await self._streams.describe(self._stream_id)
                if failures:
                    self._intake.read_ok()  # the stream is found again; its partitions report next
                log.info(
                    "reading events from stream %s (%d partition(s)) at %s",
                    self._stream_id,
                    len(info.partitions),
                    info.messages_endpoint,
                )
                return info
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                self._intake.read_failed(failure_reason("GetStream", exc))
                await self._sleep(backoff(self._settings.events_read_interval_seconds, failures))

    async def _supervised(self, info: StreamInfo, partition: str) -> None:
        """A partition's reader, started again (with backoff, from where it was) if it ever fails:
        one bad message or bug must not end the events for good."""
        position = Position()
        source = partition if len(info.partitions) > 1 else ""
        while True:
            try:
                await self._partition(info, partition, position, source)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                position.failures += 1
                self.restarts += 1
                log.exception(
                    "stream %s partition %s: reader failed; started again", self._stream_id, partition
                )
                self._intake.read_failed(self._reason(f"reader {type(exc).__name__}", source), source)
                await self._sleep(backoff(self._settings.events_read_interval_seconds, position.failures))

    @staticmethod
    def _reason(text: str, source: str) -> str:
        return f"{text} (partition {source})" if source else text

    async def _cursor(self, info: StreamInfo, partition: str, position: Position) -> str:
        """After the last message handled; else from the last good read's time; else LATEST. A
        position OCI no longer keeps (past retention) falls back to the oldest kept, then LATEST."""
        stream = info.stream_id
        if position.last_offset is None and position.read_at is None:
            position.read_at = datetime.datetime.now(datetime.UTC)
            return await self._streams.create_cursor(stream, partition, "LATEST")
        try:
            if position.last_offset is not None:
                return await self._streams.create_cursor(
                    stream, partition, "AFTER_OFFSET", offset=position.last_offset
                )
            return await self._streams.create_cursor(stream, partition, "AT_TIME", time=position.read_at)
        except Exception as exc:
            if not is_refused_position(exc):
                raise
            log.warning(
                "stream %s partition %s: OCI no longer keeps where reading stopped (%s); reading from the "
                "oldest message kept (events in between are lost: polling finds those ends)",
                self._stream_id,
                partition,
                failure_reason("CreateCursor", exc),
            )
        try:
            return await self._streams.create_cursor(stream, partition, "TRIM_HORIZON")
        except Exception as exc:
            if not is_refused_position(exc):
                raise
            return await self._streams.create_cursor(stream, partition, "LATEST")

    async def _partition(self, info: StreamInfo, partition: str, position: Position, source: str) -> None:
        interval = self._settings.events_read_interval_seconds
        while True:
            operation = "CreateCursor"
            try:
                if position.cursor is None:
                    position.cursor = await self._cursor(info, partition, position)
                operation = "GetMessages"
                began = datetime.datetime.now(datetime.UTC)
                messages, next_cursor = await self._streams.get_messages(info.stream_id, position.cursor)
            except asyncio.CancelledError:
                raise
            except CursorExpired as exc:
                log.warning(
                    "stream %s partition %s: cursor refused (%s); made again", self._stream_id, partition, exc
                )
                position.cursor = None
                position.failures += 1
                await self._sleep(backoff(interval, position.failures))
                continue
            except Exception as exc:
                position.failures += 1
                self._intake.read_failed(self._reason(failure_reason(operation, exc), source), source)
                await self._sleep(backoff(interval, position.failures))
                continue
            self.reads += 1
            position.failures = 0
            position.read_at = began
            self._intake.read_ok(source)
            for message in messages:
                self._offer(message)
                position.last_offset = message.offset
            position.cursor = next_cursor or position.cursor
            if len(messages) < READ_LIMIT:
                await self._sleep(interval)
                if not self._intake.following():
                    # Nothing followed: no event could matter. Read again once a run is followed.
                    await self._intake.until_following()

    def _offer(self, message: StreamMessage) -> None:
        try:
            self._intake.offer(envelope(message.value), EventSource.STREAM)
        except Exception:  # one bad message is skipped, never the partition's end
            log.exception(
                "stream %s partition %s: message at offset %d skipped",
                self._stream_id,
                message.partition,
                message.offset,
            )
            metrics.EVENTS_RECEIVED.labels(EventSource.STREAM.value, "Invalid").inc()


class EventsService:
    """The leader's events: intake, stream consumer (when a stream is set), status ConfigMap, tick.

    The Notifications endpoint (workflows/notifications.py) offers its events to `intake` too.
    """

    def __init__(
        self,
        settings: OperatorSettings,
        poller: Any,
        kube: ConfigMaps,
        streams: Streams | None,
        clock: Callable[[], float] = time.monotonic,
        namespace: str | None = None,
    ) -> None:
        sources = set()
        if settings.events_stream_id and streams is not None:
            sources.add(EventSource.STREAM)
        if settings.notifications_port:
            sources.add(EventSource.NOTIFICATIONS)
        self._settings = settings
        self._poller = poller
        self._clock = clock
        self.intake = EventIntake(settings, poller, frozenset(sources), clock)
        self.status = EventsStatusWriter(kube, settings, self.intake, namespace)
        self.intake.on_change(self.status.changed)
        self.consumer = (
            StreamConsumer(settings, streams, self.intake)
            if streams is not None and EventSource.STREAM in sources
            else None
        )
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def enabled(self) -> bool:
        return bool(self.intake.sources)

    def start(self) -> None:
        if not self.enabled:
            return
        loop = asyncio.get_running_loop()
        log.info(
            "events: %s (source %s); polling every %gs while they are healthy",
            self.intake.state().value.lower(),
            self.intake.source_label,
            self._settings.events_poll_interval_seconds,
        )
        self.status.changed()
        self._tasks.append(loop.create_task(self._tick(), name="events-tick"))
        if self.consumer is not None:
            self._tasks.append(loop.create_task(self._consume(self.consumer), name="events-stream"))

    async def _consume(self, consumer: StreamConsumer) -> None:
        try:
            await consumer.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the events stream consumer stopped; events are taken as failing")
            self.intake.read_failed("the stream consumer stopped")

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            self.intake.check()
            self._poller.count_missed(self._clock())

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        await self.status.stop()
