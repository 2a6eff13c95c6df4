"""OCI Streaming in the emulator through the real SDK: StreamAdminClient for pools and streams,
StreamClient at the stream's messagesEndpoint for cursors, PutMessages and GetMessages."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import oci
import pytest
from oci.streaming import models as S
from ocids_emulator.testing import RunningEmulator, running_emulator


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def text(value: str | None) -> str | None:
    return None if value is None else base64.b64decode(value).decode()


def make_stream(emu: RunningEmulator, partitions: int = 1, name: str = "s") -> Any:
    admin = emu.stream_admin_client(retries=False)
    return admin.create_stream(
        S.CreateStreamDetails(name=name, partitions=partitions, compartment_id=emu.ids["COMPARTMENT_ID"])
    ).data


def cursor(client: Any, stream_id: str, partition: str = "0", kind: str = "TRIM_HORIZON", **more: Any) -> str:
    details = S.CreateCursorDetails(partition=partition, type=kind, **more)
    return str(client.create_cursor(stream_id, details).data.value)


def put(client: Any, stream_id: str, *pairs: tuple[str | None, str]) -> list[Any]:
    entries = [S.PutMessagesDetailsEntry(key=None if k is None else b64(k), value=b64(v)) for k, v in pairs]
    result = client.put_messages(stream_id, S.PutMessagesDetails(messages=entries)).data
    assert result.failures == 0
    return list(result.entries)


def test_pools_and_streams_are_managed_with_the_sdks_admin_client(emu: RunningEmulator) -> None:
    admin = emu.stream_admin_client(retries=False)
    compartment = emu.ids["COMPARTMENT_ID"]
    pool = admin.create_stream_pool(S.CreateStreamPoolDetails(compartment_id=compartment, name="pool")).data
    assert pool.lifecycle_state == "ACTIVE"
    stream = admin.create_stream(
        S.CreateStreamDetails(name="events", partitions=3, stream_pool_id=pool.id, retention_in_hours=48)
    ).data
    assert (stream.lifecycle_state, stream.partitions, stream.retention_in_hours) == ("ACTIVE", 3, 48)
    assert stream.compartment_id == compartment and stream.stream_pool_id == pool.id
    assert stream.messages_endpoint == emu.endpoint
    # Without a pool, a stream goes to the compartment's DefaultPool, made on first use.
    other = make_stream(emu, name="other")
    assert admin.get_stream_pool(other.stream_pool_id).data.name == "DefaultPool"
    assert admin.get_stream(stream.id).data.name == "events"
    named = admin.list_streams(compartment_id=compartment, name="events").data
    assert [s.id for s in named] == [stream.id] and named[0].messages_endpoint == emu.endpoint
    assert {s.name for s in admin.list_streams(compartment_id=compartment, sort_by="NAME").data} == {
        "events",
        "other",
    }
    with pytest.raises(oci.exceptions.ServiceError) as busy:
        admin.delete_stream_pool(pool.id)
    assert busy.value.status == 409
    admin.delete_stream(stream.id)
    assert admin.get_stream(stream.id).data.lifecycle_state == "DELETED"
    assert [s.id for s in admin.list_streams(stream_pool_id=pool.id).data] == []
    admin.delete_stream_pool(pool.id)


@pytest.mark.parametrize(
    ("details", "named"),
    [
        ({"name": "s", "partitions": 0}, "partitions"),
        ({"name": "s", "partitions": 1, "retention_in_hours": 1}, "retentionInHours"),
        ({"partitions": 1}, "name"),
    ],
)
def test_a_bad_stream_is_refused_naming_the_field(
    emu: RunningEmulator, details: dict[str, Any], named: str
) -> None:
    admin = emu.stream_admin_client(retries=False)
    with pytest.raises(oci.exceptions.ServiceError) as caught:
        admin.create_stream(S.CreateStreamDetails(compartment_id=emu.ids["COMPARTMENT_ID"], **details))
    assert caught.value.status == 400 and named in caught.value.message
    assert admin.list_streams(compartment_id=emu.ids["COMPARTMENT_ID"]).data == []


def test_messages_are_read_by_partition_and_offset_with_every_cursor_type(emu: RunningEmulator) -> None:
    stream = make_stream(emu, partitions=2)
    client = emu.stream_client(stream.messages_endpoint, retries=False)
    written = put(client, stream.id, ("run-a", "a0"), ("run-a", "a1"), ("run-a", "a2"))
    # One key, one partition, consecutive offsets.
    assert len({e.partition for e in written}) == 1 and [e.offset for e in written] == [0, 1, 2]
    partition = written[0].partition
    first = client.get_messages(stream.id, cursor(client, stream.id, partition), limit=2)
    assert [(m.offset, text(m.key), text(m.value)) for m in first.data] == [
        (0, "run-a", "a0"),
        (1, "run-a", "a1"),
    ]
    assert first.data[0].stream == "s" and first.data[0].partition == partition
    rest = client.get_messages(stream.id, first.headers["opc-next-cursor"])
    assert [text(m.value) for m in rest.data] == ["a2"]
    empty = client.get_messages(stream.id, rest.headers["opc-next-cursor"])
    assert empty.data == [] and empty.headers["opc-next-cursor"]
    at = client.get_messages(stream.id, cursor(client, stream.id, partition, "AT_OFFSET", offset=1))
    assert [m.offset for m in at.data] == [1, 2]
    after = client.get_messages(stream.id, cursor(client, stream.id, partition, "AFTER_OFFSET", offset=1))
    assert [m.offset for m in after.data] == [2]
    latest = cursor(client, stream.id, partition, "LATEST")
    put(client, stream.id, ("run-a", "a3"))
    assert [text(m.value) for m in client.get_messages(stream.id, latest).data] == ["a3"]
    since = client.get_messages(
        stream.id, cursor(client, stream.id, partition, "AT_TIME", time=written[2].timestamp)
    )
    assert [m.offset for m in since.data][-1] == 3 and 2 in [m.offset for m in since.data]
    other = "1" if partition == "0" else "0"
    assert client.get_messages(stream.id, cursor(client, stream.id, other)).data == []


@pytest.mark.parametrize(
    ("call", "named"),
    [
        (lambda c, s: c.get_messages(s, "not-a-cursor"), "cursor"),
        (lambda c, s: c.create_cursor(s, S.CreateCursorDetails(partition="5", type="LATEST")), "partition"),
        (
            lambda c, s: c.create_cursor(s, S.CreateCursorDetails(partition="0", type="AT_OFFSET", offset=9)),
            "offset",
        ),
    ],
)
def test_a_bad_cursor_or_partition_is_a_400(emu: RunningEmulator, call: Any, named: str) -> None:
    stream = make_stream(emu)
    client = emu.stream_client(stream.messages_endpoint, retries=False)
    with pytest.raises(oci.exceptions.ServiceError) as caught:
        call(client, stream.id)
    assert caught.value.status == 400 and named in caught.value.message


def test_a_cursor_of_another_stream_is_refused(emu: RunningEmulator) -> None:
    one, two = make_stream(emu, name="one"), make_stream(emu, name="two")
    client = emu.stream_client(one.messages_endpoint, retries=False)
    with pytest.raises(oci.exceptions.ServiceError) as caught:
        client.get_messages(two.id, cursor(client, one.id))
    assert caught.value.status == 400


def test_messages_survive_a_restart_and_offsets_continue(emu: RunningEmulator) -> None:
    stream = make_stream(emu)
    put(emu.stream_client(retries=False), stream.id, ("k", "before"))
    emu.restart()
    client = emu.stream_client(retries=False)
    assert put(client, stream.id, ("k", "after"))[0].offset == 1
    got = client.get_messages(stream.id, cursor(client, stream.id)).data
    assert [text(m.value) for m in got] == ["before", "after"]


def test_reading_needs_stream_pull_and_writing_stream_push(emu: RunningEmulator) -> None:
    stream = make_stream(emu)
    client = emu.stream_client(retries=False)
    emu.admin.set_policies(["Allow group Administrators to use stream-pull in tenancy"])
    current = cursor(client, stream.id)
    assert client.get_messages(stream.id, current).data == []
    with pytest.raises(oci.exceptions.ServiceError) as refused:
        put(client, stream.id, ("k", "v"))
    assert refused.value.status == 404
    assert emu.admin.denials()[-1]["needs"].startswith("use stream-push")
    emu.admin.set_policies(["Allow group Administrators to use stream-push in tenancy"])
    put(client, stream.id, ("k", "v"))
    with pytest.raises(oci.exceptions.ServiceError):
        client.get_messages(stream.id, current)


def test_an_injected_outage_answers_get_messages_with_503(emu: RunningEmulator) -> None:
    stream = make_stream(emu)
    client = emu.stream_client(retries=False)
    current = cursor(client, stream.id)
    emu.admin.set_faults({"errors": [{"operation": "get_messages", "status": 503, "rate": 1.0}]})
    with pytest.raises(oci.exceptions.ServiceError) as caught:
        client.get_messages(stream.id, current)
    assert caught.value.status == 503
    emu.admin.clear_faults()
    assert client.get_messages(stream.id, current).data == []
    assert emu.admin.stats()["operations"]["get_messages"]["byStatus"] == {"503": 1, "200": 1}


def test_a_compartment_grant_reaches_streams_named_by_their_pool(emu: RunningEmulator) -> None:
    admin = emu.stream_admin_client(retries=False)
    compartment = emu.ids["COMPARTMENT_ID"]
    pool = admin.create_stream_pool(S.CreateStreamPoolDetails(compartment_id=compartment, name="pool")).data
    # No tenancy-wide statement: a call naming only the pool is checked in the pool's compartment.
    emu.admin.set_policies(
        [f"Allow group Administrators to manage stream-family in compartment id {compartment}"]
    )
    stream = admin.create_stream(
        S.CreateStreamDetails(name="by-pool", partitions=1, stream_pool_id=pool.id)
    ).data
    assert stream.compartment_id == compartment
    assert [s.id for s in admin.list_streams(stream_pool_id=pool.id).data] == [stream.id]
    emu.admin.set_policies(
        ["Allow group Administrators to manage stream-family in compartment id ocid1.compartment.oc1..x"]
    )
    with pytest.raises(oci.exceptions.ServiceError) as refused:
        admin.list_streams(stream_pool_id=pool.id)
    assert refused.value.status == 404
    assert emu.admin.denials()[-1]["needs"].startswith(f"inspect streams in compartment id {compartment}")


def test_a_put_messages_request_over_one_megabyte_is_a_400(emu: RunningEmulator) -> None:
    stream = make_stream(emu)
    client = emu.stream_client(retries=False)
    half = "x" * (600 * 1024)
    with pytest.raises(oci.exceptions.ServiceError) as caught:
        put(client, stream.id, ("k", half), ("k", half))
    assert caught.value.status == 400 and "at most 1048576 (1 MB)" in caught.value.message
    assert client.get_messages(stream.id, cursor(client, stream.id)).data == []
    assert [e.offset for e in put(client, stream.id, ("k", half))] == [0]


def test_get_messages_is_throttled_only_when_the_limit_is_set(tmp_path: Path) -> None:
    with running_emulator(tmp_path / "emu", extra_args=["--streaming-rate-limit", "1"]) as limited:
        stream = make_stream(limited)
        client = limited.stream_client(retries=False)
        current = cursor(client, stream.id)
        statuses = []
        for _ in range(5):
            try:
                statuses.append(client.get_messages(stream.id, current).status)
            except oci.exceptions.ServiceError as error:
                statuses.append(error.status)
        # One call a second: five calls made in well under three seconds meet at least one 429.
        assert statuses[0] == 200 and 429 in statuses
