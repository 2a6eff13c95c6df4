"""The stream consumer (workflows/events.py) against a scripted stream: which cursors it makes, what
it reads, how it pauses, and what it tells the events' health."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
from typing import Any

import oci
import pytest
from ocids_operator.adapters.oci_streaming import (
    READ_LIMIT,
    CursorExpired,
    StreamInfo,
    StreamMessage,
    is_cursor_refusal,
)
from ocids_operator.core.events_health import EventsState
from ocids_operator.settings import OperatorSettings
from ocids_operator.workflows.event_intake import EventIntake, EventSource
from ocids_operator.workflows.events import StreamConsumer, backoff, failure_reason

STREAM = "ocid1.stream.oc1..s"


class Stop(BaseException):  # not an Exception: the consumer retries those
    pass


class ScriptedStream:
    """Answers GetMessages from a script: a list of messages, an exception, or Stop (ends the test)."""

    def __init__(self, script: list[Any], partitions: int = 1) -> None:
        self.script = script
        self.partitions = partitions
        self.cursors: list[tuple[str, str, int | None, datetime.datetime | None]] = []
        self.read_with: list[str] = []
        self.made = 0

    async def describe(self, stream_id: str) -> StreamInfo:
        return StreamInfo(stream_id, tuple(str(p) for p in range(self.partitions)), "http://127.0.0.1:1")

    async def create_cursor(
        self,
        stream_id: str,
        partition: str,
        kind: str,
        offset: int | None = None,
        time: datetime.datetime | None = None,
    ) -> str:
        self.cursors.append((partition, kind, offset, time))
        self.made += 1
        return f"c{self.made}"

    async def get_messages(self, stream_id: str, cursor: str) -> tuple[list[StreamMessage], str | None]:
        self.read_with.append(cursor)
        step = self.script.pop(0) if self.script else Stop()
        if isinstance(step, BaseException):
            raise step
        return step, f"next-{len(self.read_with)}"


def message(offset: int, run_id: str = "r", event_id: str | None = None) -> StreamMessage:
    doc = {
        "eventType": "com.oraclecloud.datascience.createjobrun.end",
        "eventID": event_id or f"e{offset}",
        "data": {"compartmentId": "c", "resourceId": run_id},
    }
    return StreamMessage("0", offset, json.dumps(doc).encode())


class NoPoller:
    def followed_compartment(self, run_id: str) -> str | None:
        return None

    def confirm(self, run_id: str) -> bool:
        return False

    def end_announced(self, run_id: str) -> None: ...

    def set_events_health(self, health: Any) -> None: ...

    def events_changed(self, change: Any) -> None: ...

    def following(self) -> bool:
        return True

    async def until_following(self) -> None: ...


def consume(script: list[Any]) -> tuple[ScriptedStream, EventIntake, list[float], list[EventsState]]:
    settings = OperatorSettings(events_stream_id=STREAM)
    stream = ScriptedStream(script)
    intake = EventIntake(settings, NoPoller(), frozenset({EventSource.STREAM}))
    states: list[EventsState] = []
    intake.on_change(lambda change: states.append(change.new))
    pauses: list[float] = []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    async def run() -> None:
        with pytest.raises(Stop):
            await StreamConsumer(settings, stream, intake, sleep=sleep).run()

    asyncio.run(run())
    return stream, intake, pauses, states


def test_latest_at_start_then_each_next_cursor_pausing_when_a_read_is_short() -> None:
    full = [message(i) for i in range(READ_LIMIT)]
    stream, intake, pauses, states = consume([[message(0)], [], full, [message(READ_LIMIT)]])
    assert [kind for _, kind, _, _ in stream.cursors] == ["LATEST"]
    assert stream.read_with == ["c1", "next-1", "next-2", "next-3", "next-4"]
    assert pauses == [1.0, 1.0, 1.0]  # not after the full read: more may be waiting
    assert states == [EventsState.HEALTHY]
    assert len(intake.seen) == READ_LIMIT + 1


def test_an_expired_cursor_is_made_again_after_the_last_offset_handled() -> None:
    stream, _, _, states = consume([[message(7), message(8)], CursorExpired("400"), [message(9)]])
    assert [(kind, offset) for _, kind, offset, _ in stream.cursors] == [
        ("LATEST", None),
        ("AFTER_OFFSET", 8),
    ]
    assert stream.read_with[-2:] == ["c2", "next-3"]
    assert EventsState.FAILING not in states


def test_an_expired_cursor_before_any_message_is_made_again_at_the_first_ones_time() -> None:
    stream, _, _, _ = consume([CursorExpired("400"), []])
    (_, first, _, _), (_, again, _, when) = stream.cursors
    assert (first, again) == ("LATEST", "AT_TIME") and when is not None


def test_errors_are_failing_with_backoff_and_the_next_good_read_healthy() -> None:
    outage = oci.exceptions.ServiceError(503, "ServiceUnavailable", {}, "down")
    stream, intake, pauses, states = consume([[], outage, outage, outage, []])
    assert states == [EventsState.HEALTHY, EventsState.FAILING, EventsState.HEALTHY]
    assert pauses == [1.0, 1.0, 2.0, 4.0, 1.0]
    assert stream.read_with[1:5] == ["next-1"] * 4  # the cursor is kept through the outage
    assert intake.health.reason == "events arrive"


def test_reasons_and_backoff() -> None:
    assert failure_reason("GetMessages", oci.exceptions.ServiceError(503, "ServiceUnavailable", {}, "x")) == (
        "GetMessages 503 ServiceUnavailable"
    )
    assert failure_reason("GetMessages", ConnectionError()) == "GetMessages ConnectionError"
    assert [backoff(1.0, n) for n in (1, 2, 3, 4, 5, 9, 5000)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]


def test_a_message_that_is_not_an_envelope_is_invalid_not_fatal() -> None:
    junk = StreamMessage("0", 1, b"\xff not json")
    _, intake, _, _ = consume([[junk, message(2)]])
    assert len(intake.seen) == 1


def refused(message: str = "offset 3 is out of range") -> oci.exceptions.ServiceError:
    return oci.exceptions.ServiceError(400, "InvalidParameter", {}, message)


def test_one_message_that_breaks_the_parser_is_skipped_alone() -> None:
    deep = StreamMessage("0", 1, b"[" * 100_000)  # json.loads raises RecursionError
    stream, intake, _, states = consume([[deep, message(2)], [message(3)]])
    assert len(intake.seen) == 2  # the messages after it are taken
    assert stream.read_with == ["c1", "next-1", "next-2"]
    assert EventsState.FAILING not in states


def test_a_reader_that_fails_is_started_again_from_where_it_was() -> None:
    # A read answering something unusable makes the partition's reader fail: it is started again,
    # with backoff, and goes on from its cursor.
    stream, _, _, states = consume([[message(1)], None, [message(2)]])
    assert stream.read_with == ["c1", "next-1", "next-1", "next-3"]  # the failed read again
    assert [kind for _, kind, _, _ in stream.cursors] == ["LATEST"]
    assert states == [EventsState.HEALTHY, EventsState.FAILING, EventsState.HEALTHY]


def test_a_400_that_is_not_about_the_cursor_is_a_failure_not_a_new_cursor() -> None:
    stream, _, _, states = consume([[], refused("limit must be at most 10000"), []])
    assert [kind for _, kind, _, _ in stream.cursors] == ["LATEST"]
    assert states == [EventsState.HEALTHY, EventsState.FAILING, EventsState.HEALTHY]


def test_only_a_400_about_the_cursor_counts_as_an_expired_cursor() -> None:
    assert is_cursor_refusal(refused("cursor has expired; create a new one with CreateCursor"))
    assert not is_cursor_refusal(refused("limit must be at most 10000"))
    assert not is_cursor_refusal(oci.exceptions.ServiceError(503, "cursor", {}, "cursor"))


class RefusingStream(ScriptedStream):
    """CreateCursor refuses the kinds in `refuse` (a position past retention)."""

    def __init__(self, script: list[Any], refuse: set[str]) -> None:
        super().__init__(script)
        self.refuse = refuse

    async def create_cursor(self, stream_id: str, partition: str, kind: str, **kw: Any) -> str:
        if kind in self.refuse and self.made:
            self.cursors.append((partition, f"refused {kind}", None, None))
            raise refused()
        return await super().create_cursor(stream_id, partition, kind, **kw)


@pytest.mark.parametrize(
    ("refuse", "kinds"),
    [
        (set(), ["LATEST", "AFTER_OFFSET"]),
        ({"AFTER_OFFSET"}, ["LATEST", "refused AFTER_OFFSET", "TRIM_HORIZON"]),
        (
            {"AFTER_OFFSET", "TRIM_HORIZON"},
            ["LATEST", "refused AFTER_OFFSET", "refused TRIM_HORIZON", "LATEST"],
        ),
    ],
)
def test_a_position_oci_no_longer_keeps_falls_back_to_the_oldest_kept_then_latest(
    refuse: set[str], kinds: list[str]
) -> None:
    settings = OperatorSettings(events_stream_id=STREAM)
    stream = RefusingStream([[message(7)], CursorExpired("400"), []], refuse)
    intake = EventIntake(settings, NoPoller(), frozenset({EventSource.STREAM}))

    async def sleep(seconds: float) -> None: ...

    async def run() -> None:
        with pytest.raises(Stop):
            await StreamConsumer(settings, stream, intake, sleep=sleep).run()

    asyncio.run(run())
    assert [kind for _, kind, _, _ in stream.cursors] == kinds
    assert intake.state() is EventsState.HEALTHY


def test_a_cursor_refused_everywhere_is_failing() -> None:
    settings = OperatorSettings(events_stream_id=STREAM)
    stream = RefusingStream([[message(7)], CursorExpired("400")], {"AFTER_OFFSET", "TRIM_HORIZON", "LATEST"})
    intake = EventIntake(settings, NoPoller(), frozenset({EventSource.STREAM}))
    seen: list[EventsState] = []

    async def sleep(seconds: float) -> None:
        seen.append(intake.state())
        if len(seen) > 3:
            raise Stop

    async def run() -> None:
        with pytest.raises(Stop):
            await StreamConsumer(settings, stream, intake, sleep=sleep).run()

    asyncio.run(run())
    assert seen[-1] is EventsState.FAILING
    assert intake.health.reason.startswith("CreateCursor 400")


class PartitionStream(ScriptedStream):
    """Partition 0 reads fine; partition 1 answers 503 until `heal` reads of it."""

    def __init__(self, heal: int) -> None:
        super().__init__([], partitions=2)
        self.heal = heal
        self.failed = 0

    async def create_cursor(self, stream_id: str, partition: str, kind: str, **kw: Any) -> str:
        return f"p{partition}"

    async def get_messages(self, stream_id: str, cursor: str) -> tuple[list[StreamMessage], str | None]:
        if cursor == "p1" and self.failed < self.heal:
            self.failed += 1
            raise oci.exceptions.ServiceError(503, "ServiceUnavailable", {}, "down")
        return [], cursor


def test_one_dead_partition_keeps_the_events_failing_without_flapping() -> None:
    async def run() -> tuple[list[EventsState], EventsState, EventsState]:
        settings = OperatorSettings(events_stream_id=STREAM, events_read_interval_seconds=0.001)
        stream = PartitionStream(heal=8)
        intake = EventIntake(settings, NoPoller(), frozenset({EventSource.STREAM}))
        states: list[EventsState] = []
        intake.on_change(lambda change: states.append(change.new))
        consumer = asyncio.ensure_future(StreamConsumer(settings, stream, intake).run())
        while stream.failed < 5:
            await asyncio.sleep(0.005)
        during = intake.state()
        for _ in range(200):
            await asyncio.sleep(0.005)
            if intake.state() is EventsState.HEALTHY:
                break
        after = intake.state()
        consumer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await consumer
        return states, during, after

    states, during, after = asyncio.run(run())
    assert during is EventsState.FAILING and after is EventsState.HEALTHY
    assert states.count(EventsState.FAILING) == 1  # no flapping while partition 0 reads well


def test_stopping_the_consumer_stops_every_partition_reader() -> None:
    async def run() -> None:
        settings = OperatorSettings(events_stream_id=STREAM, events_read_interval_seconds=0.001)
        intake = EventIntake(settings, NoPoller(), frozenset({EventSource.STREAM}))
        consumer = asyncio.ensure_future(StreamConsumer(settings, PartitionStream(heal=0), intake).run())
        await asyncio.sleep(0.05)
        consumer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await consumer
        await asyncio.sleep(0)
        readers = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        assert readers == []

    asyncio.run(run())


class IdlePoller(NoPoller):
    def __init__(self) -> None:
        self.followed = asyncio.Event()

    def following(self) -> bool:
        return self.followed.is_set()

    async def until_following(self) -> None:
        await self.followed.wait()


def test_the_stream_is_not_read_while_no_run_is_followed() -> None:
    async def run() -> None:
        settings = OperatorSettings(events_stream_id=STREAM, events_read_interval_seconds=0.001)
        stream = ScriptedStream([[] for _ in range(1000)])
        poller = IdlePoller()
        intake = EventIntake(settings, poller, frozenset({EventSource.STREAM}))
        consumer = asyncio.ensure_future(StreamConsumer(settings, stream, intake).run())
        await asyncio.sleep(0.1)
        assert len(stream.read_with) == 1  # one read proves the stream, then nothing while idle
        assert intake.state() is EventsState.HEALTHY
        poller.followed.set()  # a run is followed: reading resumes at once
        await asyncio.sleep(0.05)
        assert len(stream.read_with) > 3
        consumer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await consumer

    asyncio.run(run())
