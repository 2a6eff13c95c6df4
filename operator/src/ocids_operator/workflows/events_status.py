"""The events' health where `kubectl ocids events` reads it: the ConfigMap `<lease name>-events` in the
operator's namespace, written by the leader at start and on each change of state (never per event),
and a last time with state Stopped when it stops.

data: state, since (RFC 3339), reason, source (stream | notifications | both), fallbackPollSeconds,
streamId.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
from typing import Any, Protocol

from ..adapters.oci_identities import operator_namespace
from ..core.events_health import EventsState, StateChange
from ..settings import OperatorSettings
from .event_intake import EventIntake

log = logging.getLogger(__name__)
CONFLICT_RETRIES = 3


class ConfigMaps(Protocol):
    async def get_config_map(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    async def write_config_map(self, namespace: str, body: dict[str, Any]) -> bool: ...


def status_config_map_name(settings: OperatorSettings) -> str:
    return f"{settings.leader_election_lease_name}-events"


def status_namespace(settings: OperatorSettings) -> str:
    return settings.leader_election_namespace or operator_namespace()


class EventsStatusWriter:
    def __init__(
        self, kube: ConfigMaps, settings: OperatorSettings, intake: EventIntake, namespace: str | None = None
    ) -> None:
        self._kube = kube
        self._settings = settings
        self._intake = intake
        self.namespace = namespace or status_namespace(settings)
        self.name = status_config_map_name(settings)
        self._since = datetime.datetime.now(datetime.UTC)
        self._task: asyncio.Task[None] | None = None
        self._again = False
        self._stopped = False
        self.writes = 0

    def changed(self, change: StateChange | None = None) -> None:
        """Write the state (in the background; changes meanwhile are folded into one more write)."""
        if self._stopped:
            return
        if change is not None:
            self._since = datetime.datetime.now(datetime.UTC)
        if self._task is not None and not self._task.done():
            self._again = True
            return
        with contextlib.suppress(RuntimeError):  # no running loop (unit tests)
            self._task = asyncio.get_running_loop().create_task(self._write_all(), name="events-status")

    async def flush(self) -> None:
        """Wait (up to 5 s) for the write in flight, if any."""
        if self._task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._task), timeout=5)

    async def stop(self) -> None:
        """The last word: state Stopped (a reader must not take the last state for a live one)."""
        await self.flush()
        self._stopped = True
        self._since = datetime.datetime.now(datetime.UTC)
        try:
            await asyncio.wait_for(self.write(), timeout=5)
        except Exception as exc:
            log.warning(
                "writing the Stopped state to ConfigMap %s/%s failed (%s)", self.namespace, self.name, exc
            )

    def data(self) -> dict[str, str]:
        settings, intake = self._settings, self._intake
        state, reason = intake.state().value, intake.health.reason
        if self._stopped:
            state, reason = EventsState.STOPPED.value, "the operator stopped"
        return {
            "state": state,
            "since": self._since.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "reason": reason,
            "source": intake.source_label,
            "fallbackPollSeconds": f"{settings.events_poll_interval_seconds:g}",
            "streamId": settings.events_stream_id or "",
        }

    async def _write_all(self) -> None:
        while True:
            self._again = False
            try:
                await self.write()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the log line and the gauge still say it
                log.warning(
                    "writing ConfigMap %s/%s failed (%s: %s)",
                    self.namespace,
                    self.name,
                    type(exc).__name__,
                    exc,
                )
            if not self._again:
                return

    async def write(self) -> None:
        for _ in range(CONFLICT_RETRIES):
            current = await self._kube.get_config_map(self.namespace, self.name)
            metadata: dict[str, Any] = {
                "name": self.name,
                "namespace": self.namespace,
                "labels": {"app.kubernetes.io/managed-by": "ocids-operator"},
            }
            if current is not None:
                metadata["resourceVersion"] = current["metadata"]["resourceVersion"]
            body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": self.data()}
            if await self._kube.write_config_map(self.namespace, body):
                self.writes += 1
                return
        raise RuntimeError(f"kept changing under {CONFLICT_RETRIES} writes")
