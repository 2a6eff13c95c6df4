"""Events and Streaming held to the `oci` SDK's own contract: every route is an SDK operation under
the SDK's method and path, and every raw JSON answer walks clean against the SDK's response model
(no field outside it, required fields present, enum values the SDK lists)."""

from __future__ import annotations

import base64
import inspect
import json
import re
from typing import Any

import oci
from oci.events import models as E
from oci.streaming import models as S
from ocids_emulator.api import events, streaming
from ocids_emulator.testing import RunningEmulator
from sdk_contract import Contract, recording, response_type

_PATH_PARAM = re.compile(r"\{[^}]+\}")
CONTRACT = Contract(S.streaming_type_mapping, E.events_type_mapping)
# Which SDK client serves each of the emulator's routes.
CLIENTS = {
    "streampools": oci.streaming.StreamAdminClient,
    "streams": oci.streaming.StreamAdminClient,
    "cursors": oci.streaming.StreamClient,
    "messages": oci.streaming.StreamClient,
    "rules": oci.events.EventsClient,
}


def _client_type(path: str) -> Any:
    for part in reversed(path.split("/")):
        if part in CLIENTS:
            return CLIENTS[part]
    raise AssertionError(f"no SDK client for {path}")


def test_routes_are_the_sdks() -> None:
    wrong = []
    for route in [*events.routes(), *streaming.routes()]:
        operation, method, path = route.handler.__name__, route.method, route.path  # type: ignore[union-attr]
        client_type = _client_type(path)
        sdk = getattr(client_type, operation, None)
        if sdk is None:
            wrong.append(f"{operation}: not a {client_type.__name__} operation")
            continue
        text = inspect.getsource(sdk)
        sdk_path = re.search(r'resource_path = "([^"]+)"', text).group(1)  # type: ignore[union-attr]
        sdk_method = re.search(r'method = "([^"]+)"', text).group(1)  # type: ignore[union-attr]
        version = path.split("/")[1]
        if (
            _PATH_PARAM.sub("{}", f"/{version}{sdk_path}") != _PATH_PARAM.sub("{}", path)
            or sdk_method != method
        ):
            wrong.append(f"{operation}: emulator {method} {path}, SDK {sdk_method} /{version}{sdk_path}")
    assert wrong == []


class Walker:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def __call__(self, client: Any, operation: str, *args: Any, **kwargs: Any) -> Any:
        with recording(client) as recorder:
            response = getattr(client, operation)(*args, **kwargs)
        declared = response_type(client, operation)
        if declared is not None:
            body = json.loads(recorder.last_body())
            self.problems += [f"{operation}: {p}" for p in CONTRACT.walk(body, declared)]
        return response


def test_every_answer_is_within_the_sdk_contract(emu: RunningEmulator) -> None:
    call = Walker()
    admin, ev = emu.stream_admin_client(retries=False), emu.events_client(retries=False)
    compartment = emu.ids["COMPARTMENT_ID"]
    pool = call(
        admin, "create_stream_pool", S.CreateStreamPoolDetails(compartment_id=compartment, name="p")
    ).data
    call(admin, "get_stream_pool", pool.id)
    call(admin, "list_stream_pools", compartment)
    stream = call(
        admin, "create_stream", S.CreateStreamDetails(name="s", partitions=2, stream_pool_id=pool.id)
    ).data
    call(admin, "get_stream", stream.id)
    call(admin, "list_streams", compartment_id=compartment)
    client = emu.stream_client(stream.messages_endpoint, retries=False)
    value = base64.b64encode(b"v").decode()
    entry = S.PutMessagesDetailsEntry(key=base64.b64encode(b"k").decode(), value=value)
    put = call(client, "put_messages", stream.id, S.PutMessagesDetails(messages=[entry])).data
    cursor = call(
        client,
        "create_cursor",
        stream.id,
        S.CreateCursorDetails(partition=put.entries[0].partition, type="TRIM_HORIZON"),
    ).data
    assert len(call(client, "get_messages", stream.id, cursor.value).data) == 1
    action = E.CreateStreamingServiceActionDetails(is_enabled=True, stream_id=stream.id)
    rule = call(
        ev,
        "create_rule",
        E.CreateRuleDetails(
            display_name="r",
            is_enabled=True,
            condition="{}",
            compartment_id=compartment,
            actions=E.ActionDetailsList(actions=[action]),
        ),
    ).data
    call(ev, "get_rule", rule.id)
    call(ev, "list_rules", compartment)
    call(ev, "update_rule", rule.id, E.UpdateRuleDetails(description="d"))
    call(ev, "delete_rule", rule.id)
    call(admin, "delete_stream", stream.id)
    call(admin, "delete_stream_pool", pool.id)
    assert "\n".join(call.problems) == ""
