"""adapters/oci_schedules.py: a 409 from (de)activate means "already so" only when a read shows it
(real OCI also answers 409 while the Schedule is CREATING/UPDATING, and then nothing changed); a
re-create after the recorded Schedule is gone sends a retry token of its own."""

from __future__ import annotations

import asyncio
import types
from typing import Any

import oci
import pytest
from ocids_operator.adapters.oci_schedules import OciSchedules, ScheduleRequest
from ocids_operator.adapters.oci_sdk import CallCounter


class Client:
    def __init__(self, state: str) -> None:
        self.state = state

    def deactivate_schedule(self, schedule_id: str) -> None:
        raise oci.exceptions.ServiceError(
            409, "IncorrectState", {}, f"Schedule {schedule_id} is {self.state}"
        )

    activate_schedule = deactivate_schedule

    def get_schedule(self, schedule_id: str) -> Any:
        return types.SimpleNamespace(data=types.SimpleNamespace(lifecycle_state=self.state))


def set_active(state: str, active: bool) -> None:
    gateway: Any = types.SimpleNamespace(_counter=CallCounter(), client=Client(state))
    asyncio.run(OciSchedules(gateway).set_schedule_active("ocid1.datascienceschedule.s", active))


@pytest.mark.parametrize(("state", "active"), [("INACTIVE", False), ("ACTIVE", True)])
def test_a_409_when_already_so_is_nothing_to_do(state: str, active: bool) -> None:
    set_active(state, active)


@pytest.mark.parametrize(("state", "active"), [("UPDATING", False), ("CREATING", False), ("ACTIVE", False)])
def test_a_409_while_oci_holds_it_changing_is_raised_not_taken_for_done(state: str, active: bool) -> None:
    with pytest.raises(oci.exceptions.ServiceError):
        set_active(state, active)


def token(replaces: str) -> str:
    """ScheduleRequest.retry_token of a request for TrainingJobSchedule uid-s (only its ref and
    `replaces` count)."""
    request = types.SimpleNamespace(ref=types.SimpleNamespace(uid="uid-s"), replaces=replaces)
    return str(ScheduleRequest.retry_token.fget(request))  # type: ignore[attr-defined]


def test_a_create_replacing_a_gone_schedule_has_its_own_retry_token() -> None:
    # The same create retried (a crash before status was written) sends the same token: one Schedule.
    assert token("") == token("")
    # OCI replays a token's answer for 24 h, even for a Schedule deleted since: a re-create differs.
    assert token("ocid1.datascienceschedule.gone") != token("")
