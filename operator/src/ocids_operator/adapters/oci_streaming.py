"""OCI Streaming, read side: the events stream's partitions and messages endpoint (StreamAdmin
GetStream), cursors and messages (Stream CreateCursor, GetMessages), in plain terms.

On the gateway's auth and call counter, so these calls are counted by operation with every other OCI
call. Without the SDK's own retries: the consumer (workflows/events.py) retries with its own backoff,
and must see an outage at its first failed read, not after the SDK's retries ran out.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime
from typing import Any, Protocol

import oci

from ..settings import OperatorSettings
from .oci_client import OciGateway, _off_loop
from .oci_sdk import CallCounter, SdkAuth

# Messages asked for per GetMessages (OCI's maximum is 10,000; an event envelope is ~1 KB).
READ_LIMIT = 1000


class CursorExpired(Exception):
    """GetMessages refused the cursor (too old: past the stream's retention, or never valid)."""


def is_cursor_refusal(exc: BaseException) -> bool:
    """A 400 about the cursor (expired, trimmed, not valid): OCI's message names the cursor. Any
    other 400 (a bad limit, a bad stream id) is a failure to report, not a cursor to make again."""
    if not isinstance(exc, oci.exceptions.ServiceError) or exc.status != 400:
        return False
    return "cursor" in f"{exc.code} {exc.message}".lower()


def is_refused_position(exc: BaseException) -> bool:
    """CreateCursor's 400: an offset or time outside what the partition keeps (or a bad request)."""
    return isinstance(exc, oci.exceptions.ServiceError) and exc.status == 400


@dataclasses.dataclass(frozen=True)
class StreamInfo:
    stream_id: str
    partitions: tuple[str, ...]
    messages_endpoint: str


@dataclasses.dataclass(frozen=True)
class StreamMessage:
    partition: str
    offset: int
    value: bytes  # decoded from the wire's base64
    key: str | None = None


class Streams(Protocol):
    async def describe(self, stream_id: str) -> StreamInfo: ...

    async def create_cursor(
        self,
        stream_id: str,
        partition: str,
        kind: str,
        offset: int | None = None,
        time: datetime.datetime | None = None,
    ) -> str:
        """`kind`: LATEST, TRIM_HORIZON, AT_OFFSET, AFTER_OFFSET, AT_TIME."""
        ...

    async def get_messages(self, stream_id: str, cursor: str) -> tuple[list[StreamMessage], str | None]:
        """Messages from the cursor on (at most READ_LIMIT), and the next cursor. Raises CursorExpired."""
        ...


def _decode(value: Any) -> bytes:
    if value is None:
        return b""
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        return b""  # not base64: the intake sees an envelope it cannot read (Invalid)


class OciStreams:
    """`Streams` over the SDK's StreamAdminClient and StreamClient."""

    def __init__(self, settings: OperatorSettings, auth: SdkAuth, counter: CallCounter) -> None:
        self._settings = settings
        self._auth = auth
        self._counter = counter
        self._admin: Any = None
        self._messages: dict[str, Any] = {}  # messagesEndpoint -> StreamClient
        self._endpoint_of: dict[str, str] = {}  # stream id -> its messagesEndpoint

    @classmethod
    def of(cls, gateway: OciGateway) -> OciStreams:
        return cls(gateway._settings, gateway.auth, gateway._counter)

    def _client_args(self, endpoint: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
        config, kwargs = self._auth.client_args(endpoint, self._settings.oci_timeout_seconds)
        kwargs["retry_strategy"] = oci.retry.NoneRetryStrategy()
        return config, kwargs

    def _admin_client(self) -> Any:
        with self._auth.lock:
            if self._admin is None:
                from oci.streaming import StreamAdminClient

                config, kwargs = self._client_args(self._settings.streaming_endpoint)
                self._admin = StreamAdminClient(config, **kwargs)
            return self._admin

    def _message_client(self, stream_id: str) -> Any:
        endpoint = self._endpoint_of[stream_id]
        with self._auth.lock:
            if endpoint not in self._messages:
                from oci.streaming import StreamClient

                config, kwargs = self._client_args(None)
                kwargs.pop("service_endpoint", None)
                self._messages[endpoint] = StreamClient(config, service_endpoint=endpoint, **kwargs)
            return self._messages[endpoint]

    @_off_loop
    def describe(self, stream_id: str) -> StreamInfo:
        stream = self._counter.call("get_stream", self._admin_client().get_stream, stream_id).data
        endpoint = str(stream.messages_endpoint).rstrip("/")
        self._endpoint_of[stream_id] = endpoint
        count = int(stream.partitions or 1)
        return StreamInfo(stream_id, tuple(str(p) for p in range(count)), endpoint)

    @_off_loop
    def create_cursor(
        self,
        stream_id: str,
        partition: str,
        kind: str,
        offset: int | None = None,
        time: datetime.datetime | None = None,
    ) -> str:
        from oci.streaming.models import CreateCursorDetails

        details = CreateCursorDetails(partition=partition, type=kind, offset=offset, time=time)
        client = self._message_client(stream_id)
        return str(self._counter.call("create_cursor", client.create_cursor, stream_id, details).data.value)

    @_off_loop
    def get_messages(self, stream_id: str, cursor: str) -> tuple[list[StreamMessage], str | None]:
        client = self._message_client(stream_id)
        try:
            response = self._counter.call(
                "get_messages", client.get_messages, stream_id, cursor, limit=READ_LIMIT
            )
        except oci.exceptions.ServiceError as exc:
            if is_cursor_refusal(exc):
                raise CursorExpired(f"{exc.code}: {exc.message}") from exc
            raise
        messages = [
            StreamMessage(str(m.partition), int(m.offset), _decode(m.value), m.key)
            for m in response.data or []
        ]
        return messages, response.headers.get("opc-next-cursor") or None
