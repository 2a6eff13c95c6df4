"""The events' status ConfigMap (workflows/events_status.py): its data, written on changes only."""

from __future__ import annotations

import asyncio
from typing import Any

from ocids_operator.settings import OperatorSettings
from ocids_operator.workflows.events import EventsService
from test_op_events_consumer import NoPoller

STREAM = "ocid1.stream.oc1..s"


class ConfigMaps:
    def __init__(self, conflicts: int = 0) -> None:
        self.stored: dict[str, Any] | None = None
        self.writes: list[dict[str, str]] = []
        self.conflicts = conflicts

    async def get_config_map(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.stored

    async def write_config_map(self, namespace: str, body: dict[str, Any]) -> bool:
        if self.conflicts:
            self.conflicts -= 1
            return False
        version = str(len(self.writes) + 1)
        self.stored = {**body, "metadata": {**body["metadata"], "resourceVersion": version}}
        self.writes.append(body["data"])
        return True


def test_written_at_start_and_on_each_change_only() -> None:
    async def run() -> ConfigMaps:
        kube = ConfigMaps(conflicts=1)
        settings = OperatorSettings(events_stream_id=STREAM, leader_election_lease_name="ops")
        # A stream named but never read (not started): the intake is fed by hand.
        service = EventsService(settings, NoPoller(), kube, streams=object(), namespace="ocids-system")  # type: ignore[arg-type]
        service.status.changed()
        await service.status.flush()
        for _ in range(5):
            service.intake.read_ok()  # one change, then nothing new
        await service.status.flush()
        service.intake.read_failed("GetMessages 503")
        await service.status.flush()
        assert service.status.name == "ops-events" and service.status.namespace == "ocids-system"
        return kube

    kube = asyncio.run(run())
    assert [w["state"] for w in kube.writes] == ["Starting", "Healthy", "Failing"]
    last = kube.writes[-1]
    assert last["reason"] == "GetMessages 503"
    assert last["fallbackPollSeconds"] == "120" and last["since"].endswith("Z")


def test_stream_source_and_its_id() -> None:
    async def run() -> dict[str, str]:
        kube = ConfigMaps()
        settings = OperatorSettings(events_stream_id=STREAM)
        service = EventsService(settings, NoPoller(), kube, streams=object(), namespace="ns")  # type: ignore[arg-type]
        service.status.changed()
        await service.status.flush()
        return kube.writes[-1]

    data = asyncio.run(run())
    assert (data["state"], data["source"], data["streamId"]) == ("Starting", "stream", STREAM)


def test_stopping_writes_stopped_and_nothing_after() -> None:
    async def run() -> ConfigMaps:
        kube = ConfigMaps()
        settings = OperatorSettings(events_stream_id=STREAM)
        service = EventsService(settings, NoPoller(), kube, streams=object(), namespace="ns")  # type: ignore[arg-type]
        service.intake.read_ok()
        await service.stop()
        service.intake.read_failed("GetMessages 503")  # a late report changes nothing written
        await service.status.flush()
        return kube

    kube = asyncio.run(run())
    assert kube.writes[-1]["state"] == "Stopped"
    assert "stopped" in kube.writes[-1]["reason"]
