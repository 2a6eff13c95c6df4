"""OCI Data Science Schedules (a TrainingJobSchedule with engine OCI): the calls, in core terms.

The gateway's client and call counter serve these calls too, so they are counted by operation
(create_schedule, get_schedule, ...) with every other OCI call, and run on the same threads.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import weakref
from typing import Any, Protocol

import oci
from oci.data_science import models as ds

from ..core.model import TAG_TEMPLATE, ObjectRef, RunRequest, ownership_tags, retry_token
from ..core.times import parse_time
from . import oci_mapping as mapping
from .oci_client import OciGateway, _off_loop

# A schedule deleted, or being deleted, in OCI.
GONE_SCHEDULE_STATES = frozenset({"DELETING", "DELETED"})
# Real OCI passes through these asynchronously: nothing may be changed (a 409) until they end.
PENDING_SCHEDULE_STATES = frozenset({"CREATING", "UPDATING"})


@dataclasses.dataclass(frozen=True)
class ScheduleRequest:
    """An OCI Schedule whose CRON trigger (UTC) fires CreateJobRun of ``run``."""

    ref: ObjectRef  # the TrainingJobSchedule
    compartment_id: str
    project_id: str
    cron: str
    run: RunRequest
    active: bool
    extra_tags: dict[str, str] = dataclasses.field(default_factory=dict)
    # The OCI Schedule this create replaces ('' for the first): OCI replays a retry token's answer for
    # 24 h, even a Schedule deleted since, so a re-create after a deletion needs a token of its own.
    replaces: str = ""

    @property
    def display_name(self) -> str:
        return self.ref.default_display_name

    @property
    def retry_token(self) -> str:
        return retry_token("schedule", self.ref.uid, self.replaces)

    def details(self) -> tuple[ds.ScheduleCronTrigger, ds.ScheduleHttpAction]:
        trigger = ds.ScheduleCronTrigger(cron_expression=self.cron)
        run = mapping.create_job_run_details(self.run)
        action = ds.ScheduleHttpAction(
            action_details=ds.CreateJobRunScheduleActionDetails(create_job_run_details=run)
        )
        return trigger, action

    @property
    def template_hash(self) -> str:
        """What the schedule fires and when, hashed: a change means an UpdateSchedule."""
        trigger, action = self.details()
        wire = oci.util.to_dict({"trigger": trigger, "action": action})
        return hashlib.sha256(json.dumps(wire, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def tags(self) -> dict[str, str]:
        return {**self.extra_tags, **ownership_tags(self.ref), TAG_TEMPLATE: self.template_hash}


@dataclasses.dataclass(frozen=True)
class ScheduleView:
    id: str
    compartment_id: str
    lifecycle_state: str
    tags: dict[str, str]
    etag: str | None = None
    time_next_scheduled_run: datetime.datetime | None = None
    time_last_schedule_run: datetime.datetime | None = None
    last_schedule_run_details: str | None = None

    @property
    def active(self) -> bool:
        return self.lifecycle_state == "ACTIVE"

    @property
    def gone(self) -> bool:
        return self.lifecycle_state in GONE_SCHEDULE_STATES

    @property
    def pending(self) -> bool:
        return self.lifecycle_state in PENDING_SCHEDULE_STATES


class Schedules(Protocol):
    """What workflows/schedule_oci.py asks of OCI about Schedules."""

    async def create_schedule(self, request: ScheduleRequest) -> ScheduleView: ...

    async def get_schedule(self, schedule_id: str) -> ScheduleView | None: ...

    async def find_schedules(self, compartment_id: str, tags: dict[str, str]) -> list[ScheduleView]: ...

    async def update_schedule(self, schedule_id: str, request: ScheduleRequest) -> None: ...

    async def tag_schedule(self, schedule_id: str, tags: dict[str, str]) -> None: ...

    async def set_schedule_active(self, schedule_id: str, active: bool) -> None: ...

    async def delete_schedule(self, schedule_id: str, compartment_id: str) -> bool:
        """False when it was already gone (proven by a read, as for job runs)."""
        ...


def schedule_view(schedule: Any, etag: str | None = None) -> ScheduleView:
    return ScheduleView(
        id=schedule.id,
        compartment_id=schedule.compartment_id,
        lifecycle_state=str(schedule.lifecycle_state),
        tags=dict(schedule.freeform_tags or {}),
        etag=etag,
        time_next_scheduled_run=_time(getattr(schedule, "time_next_scheduled_run", None)),
        time_last_schedule_run=_time(getattr(schedule, "time_last_schedule_run", None)),
        last_schedule_run_details=getattr(schedule, "last_schedule_run_details", None),
    )


def _time(value: Any) -> datetime.datetime | None:
    if value is None or isinstance(value, datetime.datetime):
        return value
    return parse_time(str(value))


class OciSchedules:
    """`Schedules` over an `OciGateway`'s client and counter."""

    def __init__(self, gateway: OciGateway) -> None:
        self._gateway = gateway
        self._counter = gateway._counter

    @property
    def _client(self) -> Any:
        return self._gateway.client

    @_off_loop
    def create_schedule(self, request: ScheduleRequest) -> ScheduleView:
        trigger, action = request.details()
        details = ds.CreateScheduleDetails(
            display_name=request.display_name,
            project_id=request.project_id,
            compartment_id=request.compartment_id,
            trigger=trigger,
            action=action,
            freeform_tags=request.tags(),
        )
        response = self._counter.call(
            "create_schedule", self._client.create_schedule, details, opc_retry_token=request.retry_token
        )
        # spec.suspend is applied by the caller once the Schedule has left CREATING.
        return schedule_view(response.data, response.headers.get("etag"))

    @_off_loop
    def get_schedule(self, schedule_id: str) -> ScheduleView | None:
        response = self._counter.call_unless_missing("get_schedule", self._client.get_schedule, schedule_id)
        return None if response is None else schedule_view(response.data, response.headers.get("etag"))

    @_off_loop
    def find_schedules(self, compartment_id: str, tags: dict[str, str]) -> list[ScheduleView]:
        """Schedules of the compartment carrying all `tags` (a create a crash left unrecorded)."""
        found = self._gateway._pages("list_schedules", self._client.list_schedules, compartment_id)
        return [
            schedule_view(item)
            for item in found
            if all((item.freeform_tags or {}).get(k) == v for k, v in tags.items())
            and item.lifecycle_state not in GONE_SCHEDULE_STATES
        ]

    @_off_loop
    def update_schedule(self, schedule_id: str, request: ScheduleRequest) -> None:
        trigger, action = request.details()
        details = ds.UpdateScheduleDetails(
            display_name=request.display_name, trigger=trigger, action=action, freeform_tags=request.tags()
        )
        self._counter.call("update_schedule", self._client.update_schedule, schedule_id, details)

    @_off_loop
    def tag_schedule(self, schedule_id: str, tags: dict[str, str]) -> None:
        details = ds.UpdateScheduleDetails(freeform_tags=dict(tags))
        self._counter.call("update_schedule", self._client.update_schedule, schedule_id, details)

    @_off_loop
    def set_schedule_active(self, schedule_id: str, active: bool) -> None:
        operation = "activate_schedule" if active else "deactivate_schedule"
        try:
            self._counter.call(operation, getattr(self._client, operation), schedule_id)
        except oci.exceptions.ServiceError as exc:
            if exc.status != 409:
                raise
            # A 409 is "already so" (another writer, a retried step) only if a read shows it; OCI
            # also answers 409 while the Schedule is CREATING/UPDATING, and then nothing changed.
            read = self._counter.call_unless_missing("get_schedule", self._client.get_schedule, schedule_id)
            state = None if read is None else str(read.data.lifecycle_state)
            if state != ("ACTIVE" if active else "INACTIVE"):
                raise

    @_off_loop
    def delete_schedule(self, schedule_id: str, compartment_id: str) -> bool:
        client = self._client
        return self._gateway._delete_unless_readable(
            ("delete_schedule", client.delete_schedule, {}),
            ("get_schedule", client.get_schedule),
            ("list_schedules", client.list_schedules),
            schedule_id,
            compartment_id,
            GONE_SCHEDULE_STATES,
        )


_SCHEDULES: weakref.WeakKeyDictionary[Any, Schedules] = weakref.WeakKeyDictionary()


def schedules_of(oci_service: Any) -> Schedules | None:
    """The Schedules calls of a runtime's OCI service: the gateway's own (tests' fakes may implement
    them themselves); None when it has none."""
    if isinstance(oci_service, OciGateway):
        found = _SCHEDULES.get(oci_service)
        if found is None:
            found = _SCHEDULES[oci_service] = OciSchedules(oci_service)
        return found
    return oci_service if hasattr(oci_service, "create_schedule") else None
