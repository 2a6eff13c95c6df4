"""Streaming messages (``/20180418/streams/{id}/...`` at a stream's messagesEndpoint): cursors,
GetMessages and PutMessages. Group cursors are not emulated (501).

A cursor is opaque to clients; here it is the stream, partition and next offset, valid five minutes
as OCI's are. Every GetMessages answer carries ``opc-next-cursor``, also when it returns nothing.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from typing import Any

from aiohttp import web

from ocids_emulator.api.httpio import emulator, json_body, json_response
from ocids_emulator.api.streaming.admin import live_stream
from ocids_emulator.core.emulator import Emulator
from ocids_emulator.core.errors import ApiError, invalid, missing
from ocids_emulator.core.timeutil import parse_rfc3339, rfc3339
from ocids_emulator.store.paging import check_limit
from ocids_emulator.store.sqlite import Record

CURSOR_SECONDS = 300
CURSOR_TYPES = frozenset({"AFTER_OFFSET", "AT_OFFSET", "AT_TIME", "LATEST", "TRIM_HORIZON"})
MAX_MESSAGE_BYTES = 1024 * 1024
# OCI: a PutMessages request carries at most 1 MB of messages (keys and values, decoded).
MAX_REQUEST_BYTES = 1024 * 1024
MAX_GET_LIMIT = 10000


def make_cursor(stream_id: str, partition: int, offset: int) -> str:
    raw = {"s": stream_id, "p": partition, "o": offset, "e": time.time() + CURSOR_SECONDS}
    return base64.urlsafe_b64encode(json.dumps(raw).encode()).decode()


def read_cursor(value: str, stream_id: str) -> tuple[int, int]:
    """(partition, offset) of a cursor this emulator issued for this stream; else 400."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(value.encode()))
        stream, partition, offset, expiry = raw["s"], int(raw["p"]), int(raw["o"]), float(raw["e"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise invalid("cursor is not a cursor this service issued") from None
    if stream != stream_id:
        raise invalid("cursor belongs to another stream")
    if expiry < time.time():
        raise invalid("cursor has expired; create a new one with CreateCursor")
    return partition, offset


def _partition(stream: Record, raw: Any) -> int:
    partitions = int(stream.doc["partitions"])
    try:
        partition = int(raw)
    except (TypeError, ValueError):
        raise invalid('partition must be a partition number as a string, e.g. "0"') from None
    if not 0 <= partition < partitions:
        raise invalid(f"partition {raw} does not exist: the stream has partitions 0 to {partitions - 1}")
    return partition


def cursor_offset(emu: Emulator, stream: Record, partition: int, body: dict[str, Any]) -> int:
    """Where a CreateCursor of ``body``'s type starts; an offset outside what the partition still
    keeps (older than retention, or not written yet) is a 400, as OCI answers."""
    kind = body.get("type")
    if kind not in CURSOR_TYPES:
        raise invalid(f"type must be one of {', '.join(sorted(CURSOR_TYPES))}")
    retention = float(stream.doc["retentionInHours"])
    log = emu.stream_log
    first, following = (
        log.first_offset(stream.id, partition, retention),
        log.next_offset(stream.id, partition),
    )
    if kind == "TRIM_HORIZON":
        offset = first
    elif kind == "LATEST":
        offset = following
    elif kind == "AT_TIME":
        stamp = body.get("time")
        if not isinstance(stamp, str):
            raise missing("time")
        try:
            moment = rfc3339(parse_rfc3339(stamp))
        except ValueError:
            raise invalid("time must be an RFC 3339 timestamp") from None
        offset = log.offset_at_time(stream.id, partition, retention, moment)
    else:
        asked = body.get("offset")
        if isinstance(asked, bool) or not isinstance(asked, int):
            raise missing("offset") if asked is None else invalid("offset must be an integer")
        offset = asked + (1 if kind == "AFTER_OFFSET" else 0)
        if not first <= offset <= following:
            raise invalid(
                f"offset {asked} is out of range: partition {partition} holds {first} to {following - 1}"
            )
    return offset


async def create_cursor(request: web.Request) -> web.Response:
    emu = emulator(request)
    stream = live_stream(emu, request.match_info["stream_id"])
    body = await json_body(request)
    if body.get("partition") is None:
        raise missing("partition")
    partition = _partition(stream, body["partition"])
    offset = cursor_offset(emu, stream, partition, body)
    return json_response({"value": make_cursor(stream.id, partition, offset)})


async def get_messages(request: web.Request) -> web.Response:
    emu = emulator(request)
    stream = live_stream(emu, request.match_info["stream_id"])
    cursor = request.query.get("cursor")
    if not cursor:
        raise missing("cursor")
    partition, offset = read_cursor(cursor, stream.id)
    if not emu.stream_log.get_messages_limit.allow((stream.id, partition), time.monotonic()):
        raise ApiError(
            429,
            "TooManyRequests",
            f"GetMessages is limited to {emu.stream_log.get_messages_limit.rate:g} calls a second per"
            f" partition (stream {stream.id}, partition {partition})",
        )
    limit = check_limit(request.query.get("limit"), default=MAX_GET_LIMIT, maximum=MAX_GET_LIMIT)
    found = emu.stream_log.read(stream.id, partition, offset, limit, float(stream.doc["retentionInHours"]))
    items = [
        {
            "stream": stream.doc["name"],
            "partition": str(m.partition),
            "key": None if m.key is None else base64.b64encode(m.key).decode(),
            "value": base64.b64encode(m.value).decode(),
            "offset": m.offset,
            "timestamp": m.timestamp,
        }
        for m in found
    ]
    following = found[-1].offset + 1 if found else offset
    return json_response(items, headers={"opc-next-cursor": make_cursor(stream.id, partition, following)})


def _decoded(raw: Any, where: str, required: bool) -> bytes | None:
    if raw is None:
        if required:
            raise missing(where)
        return None
    try:
        value = base64.b64decode(str(raw), validate=True)
    except (binascii.Error, ValueError):
        raise invalid(f"{where} must be base64") from None
    if len(value) > MAX_MESSAGE_BYTES:
        raise invalid(f"{where} is over {MAX_MESSAGE_BYTES} bytes")
    return value


async def put_messages(request: web.Request) -> web.Response:
    emu = emulator(request)
    stream = live_stream(emu, request.match_info["stream_id"])
    body = await json_body(request)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise invalid("messages must be a non-empty list")
    decoded = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise invalid(f"messages[{index}] must be an object")
        key = _decoded(message.get("key"), f"messages[{index}].key", required=False)
        value = _decoded(message.get("value"), f"messages[{index}].value", required=True)
        assert value is not None
        decoded.append((key, value))
    total = sum(len(key or b"") + len(value) for key, value in decoded)
    if total > MAX_REQUEST_BYTES:
        raise invalid(
            f"messages carry {total} bytes (keys and values, decoded); a PutMessages request takes at most"
            f" {MAX_REQUEST_BYTES} (1 MB)"
        )
    partitions = int(stream.doc["partitions"])
    entries = []
    for key, value in decoded:
        stored = emu.stream_log.put(stream.id, partitions, key, value)
        entries.append(
            {"partition": str(stored.partition), "offset": stored.offset, "timestamp": stored.timestamp}
        )
    return json_response({"failures": 0, "entries": entries})


def routes() -> list[web.RouteDef]:
    p = "/20180418/streams/{stream_id}"
    return [
        web.post(f"{p}/cursors", create_cursor),
        web.get(f"{p}/messages", get_messages, allow_head=False),
        web.post(f"{p}/messages", put_messages),
    ]
