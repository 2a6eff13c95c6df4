"""Handler steps jobs and job runs share: the idempotent create and the changeCompartment action."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from ocids_emulator.api.data_science import validation
from ocids_emulator.api.httpio import emulator, json_body
from ocids_emulator.core.emulator import Emulator
from ocids_emulator.core.logs import check_log_target
from ocids_emulator.store.sqlite import Record

CreateCheck = Callable[[dict[str, Any], validation.LogGroupCheck], None]


async def read_create(
    request: web.Request, scope: str, kind: str, check: CreateCheck
) -> tuple[dict[str, Any], str | None, Record | None]:
    """The body and retry token of a create in a project, or the record an earlier identical one made.

    A replay is answered before validation, so the same token and body give the same resource even
    if the tenancy changed since.
    """
    emu = emulator(request)
    body = await json_body(request)
    token = request.headers.get("opc-retry-token")
    replayed = emu.replay(scope, token, body)
    if replayed:
        return body, token, emu.require(kind, replayed)
    check_create(emu, body, check)
    return body, token, None


def check_create(emu: Emulator, body: dict[str, Any], check: CreateCheck) -> None:
    """The body's own checks, then what it names: compartment, project, log target, subnet."""
    check(body, lambda group, log: check_log_target(emu, group, log))
    emu.check_compartment(body["compartmentId"])
    emu.check_project(body["projectId"])
    for key in ("jobInfrastructureConfigurationDetails", "jobInfrastructureConfigurationOverrideDetails"):
        emu.check_subnet(body.get(key))


async def change_compartment(request: web.Request, record: Record) -> web.Response:
    emu = emulator(request)
    body = await json_body(request)
    emu.check_if_match(record, request.headers.get("if-match"))
    compartment = validation.require_string(body, "compartmentId", "compartmentId")
    emu.check_compartment(compartment)
    emu.save(record, compartmentId=compartment)
    return web.Response(status=200)
