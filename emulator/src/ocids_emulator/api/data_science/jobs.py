"""Jobs (``/20190101/jobs``): create, get, list, update and changeCompartment."""

from __future__ import annotations

import functools
from typing import Any

from aiohttp import web

from ocids_emulator.api.data_science import validation
from ocids_emulator.api.data_science.common import change_compartment, read_create
from ocids_emulator.api.data_science.defaults import with_defaults
from ocids_emulator.api.data_science.validation_nodes import network_subnet, node_groups
from ocids_emulator.api.httpio import created_by, emulator, json_body, json_response
from ocids_emulator.api.listing import Listing, list_records
from ocids_emulator.core.emulator import JOB, Emulator
from ocids_emulator.core.errors import incorrect_state
from ocids_emulator.core.timeutil import now_rfc3339
from ocids_emulator.store.sqlite import Record

JOB_STATES = frozenset({"CREATING", "ACTIVE", "DELETING", "FAILED", "DELETED"})
SUMMARY_FIELDS = (
    "id",
    "timeCreated",
    "createdBy",
    "projectId",
    "compartmentId",
    "displayName",
    "lifecycleState",
    "freeformTags",
    "definedTags",
)
JOBS = Listing(
    JOB,
    filters=("projectId", "id", "displayName", "createdBy"),
    states=JOB_STATES,
    summary_fields=SUMMARY_FIELDS,
)


def job_response(record: Record, status: int = 200) -> web.Response:
    return json_response(record.doc, status=status, etag=record.meta["etag"])


def live_job(emu: Emulator, job_id: str) -> Record:
    return emu.require(JOB, job_id, allow_deleted=False)


async def create_job(request: web.Request) -> web.Response:
    emu = emulator(request)
    catalog = validation.Catalog.of(emu)
    check = functools.partial(validation.check_create_job, catalog=catalog)
    sent, token, replayed = await read_create(request, "create_job", JOB, check)
    if replayed:
        return job_response(replayed)
    node = sent.get("jobNodeConfigurationDetails")
    emu.check_subnet({"subnetId": network_subnet(node)})
    body = with_defaults(sent, catalog.shapes)
    now = now_rfc3339()
    job_id = emu.new_id("datasciencejob")
    is_container = is_container_job(body)
    doc: dict[str, Any] = {
        "id": job_id,
        "timeCreated": now,
        "createdBy": created_by(request),
        "projectId": body["projectId"],
        "compartmentId": body["compartmentId"],
        "displayName": body.get("displayName") or f"job{now[:19].replace('-', '').replace(':', '')}",
        "description": body.get("description"),
        # A multi-node create may leave both out (ADS does); the Job model requires them, so the
        # job reads back EMPTY ones (the emulator's choice: OCI's answer is not documented).
        "jobConfigurationDetails": body.get("jobConfigurationDetails") or {"jobType": "EMPTY"},
        "jobInfrastructureConfigurationDetails": body.get("jobInfrastructureConfigurationDetails")
        or {"jobInfrastructureType": "EMPTY"},
        "jobEnvironmentConfigurationDetails": body.get("jobEnvironmentConfigurationDetails"),
        "jobLogConfigurationDetails": body.get("jobLogConfigurationDetails"),
        "jobStorageMountConfigurationDetailsList": body.get("jobStorageMountConfigurationDetailsList"),
        "jobNodeConfigurationDetails": body.get("jobNodeConfigurationDetails"),
        # Container jobs need no artifact (documented choice), so they are usable at once.
        "lifecycleState": "ACTIVE" if is_container else "CREATING",
        "lifecycleDetails": None if is_container else "Waiting for the job artifact.",
        "freeformTags": body.get("freeformTags") or {},
        "definedTags": body.get("definedTags") or {},
    }
    record = emu.create(JOB, job_id, doc)
    emu.remember("create_job", token, sent, job_id)
    emu.faults.note_created(job_id)
    return job_response(record)


def is_container_job(body: dict[str, Any]) -> bool:
    """Every node runs a container: no artifact is needed (a multi-node job: every group's)."""
    if body.get("jobEnvironmentConfigurationDetails") is not None:
        return True
    groups = node_groups(body.get("jobNodeConfigurationDetails"))
    return bool(groups) and all(g.get("jobEnvironmentConfigurationDetails") is not None for g in groups)


async def get_job(request: web.Request) -> web.Response:
    return job_response(emulator(request).require(JOB, request.match_info["job_id"]))


async def list_jobs(request: web.Request) -> web.Response:
    return list_records(request, JOBS)


async def update_job(request: web.Request) -> web.Response:
    emu = emulator(request)
    record = live_job(emu, request.match_info["job_id"])
    body = await json_body(request)
    emu.check_if_match(record, request.headers.get("if-match"))
    catalog = validation.Catalog.of(emu)
    validation.check_update_job(body, catalog, record.doc)
    emu.check_subnet(body.get("jobInfrastructureConfigurationDetails"))
    if record.doc["lifecycleState"] not in ("ACTIVE", "CREATING"):
        raise incorrect_state(f"Job {record.id} is {record.doc['lifecycleState']} and cannot be updated")
    return job_response(emu.save(record, **with_defaults(body, catalog.shapes)))


async def change_job_compartment(request: web.Request) -> web.Response:
    return await change_compartment(request, live_job(emulator(request), request.match_info["job_id"]))


def routes() -> list[web.RouteDef]:
    p = "/20190101"
    return [
        web.post(f"{p}/jobs", create_job),
        web.get(f"{p}/jobs", list_jobs, allow_head=False),
        web.get(f"{p}/jobs/{{job_id}}", get_job, allow_head=False),
        web.put(f"{p}/jobs/{{job_id}}", update_job),
        web.post(f"{p}/jobs/{{job_id}}/actions/changeCompartment", change_job_compartment),
    ]
