"""Job runs (``/20190101/jobRuns``): creation with overrides, lifecycle, cancel and delete."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from aiohttp import web

from ocids_emulator.api.data_science import validation
from ocids_emulator.api.data_science.common import change_compartment, read_create
from ocids_emulator.api.data_science.defaults import with_defaults
from ocids_emulator.api.data_science.run_effective import check_env_size, effective_configuration, simulations
from ocids_emulator.api.data_science.validation_nodes import network_subnet, node_groups
from ocids_emulator.api.httpio import created_by, emulator, json_body, json_response
from ocids_emulator.api.listing import Listing, list_records
from ocids_emulator.core.emulator import ACTIVE_RUN_STATES, JOB, RUN, Emulator
from ocids_emulator.core.errors import incorrect_state, limit_exceeded
from ocids_emulator.core.logs import new_log
from ocids_emulator.core.timeutil import now_rfc3339, rfc3339
from ocids_emulator.store.sqlite import Record

RUN_STATES = frozenset(
    {
        "ACCEPTED",
        "IN_PROGRESS",
        "FAILED",
        "SUCCEEDED",
        "CANCELING",
        "CANCELED",
        "DELETED",
        "NEEDS_ATTENTION",
    }
)
SUMMARY_FIELDS = (
    "id",
    "timeAccepted",
    "timeStarted",
    "timeFinished",
    "createdBy",
    "projectId",
    "compartmentId",
    "jobId",
    "displayName",
    "lifecycleState",
    "lifecycleDetails",
    "freeformTags",
    "definedTags",
)
RUNS = Listing(
    RUN,
    filters=("jobId", "id", "displayName", "createdBy"),
    states=RUN_STATES,
    time_field="timeAccepted",
    summary_fields=SUMMARY_FIELDS,
)


def run_response(record: Record, status: int = 200) -> web.Response:
    return json_response(record.doc, status=status, etag=record.meta["etag"])


async def create_job_run(request: web.Request) -> web.Response:
    emu = emulator(request)
    catalog = validation.Catalog.of(emu)
    check = functools.partial(validation.check_create_run, catalog=catalog)
    sent, token, replayed = await read_create(request, "create_job_run", RUN, check)
    if replayed:
        return run_response(replayed)
    record = start_job_run(emu, sent, created_by(request), catalog)
    emu.remember("create_job_run", token, sent, record.id)
    # The create answers ACCEPTED, as OCI would; the run turns NEEDS_ATTENTION right after.
    response = run_response(record)
    claim_run_faults(emu, record)
    return response


def claim_run_faults(emu: Emulator, record: Record) -> None:
    """The `nextRuns` faults (needsAttention, failedRuns) take the next runs made, by the API or by
    a schedule alike."""
    if emu.faults.claim_attention(record.id) | emu.faults.claim_failure(record.id):
        emu.faults_changed()


def start_job_run(
    emu: Emulator,
    sent: dict[str, Any],
    creator: str,
    catalog: validation.Catalog,
    accepted: dt.datetime | None = None,
) -> Record:
    """Create and start a run from a checked CreateJobRunDetails body (the API's create, and a
    schedule's CREATE_JOB_RUN action at its fire time ``accepted``)."""
    emu.check_subnet({"subnetId": network_subnet(sent.get("jobNodeConfigurationOverrideDetails"))})
    body = with_defaults(sent, catalog.shapes)
    job = emu.require(JOB, body["jobId"], allow_deleted=False)
    if job.doc["lifecycleState"] != "ACTIVE":
        raise incorrect_state(f"Job {job.id} is {job.doc['lifecycleState']}; runs need an ACTIVE job")
    validation.check_run_fits_job(body, job.doc)
    effective = effective_configuration(job.doc, body)
    check_env_size(effective)
    cap = emu.faults.max_active_runs
    if cap is not None and emu.active_run_count() >= cap:
        raise limit_exceeded(f"The limit of {cap} concurrently active job runs is reached")
    run_id = emu.new_id("datasciencejobrun")
    simulated = simulations(emu, effective)
    now = rfc3339(accepted) if accepted else now_rfc3339()
    display_name = body.get("displayName") or f"jobrun{now[:19].replace('-', '').replace(':', '')}"
    log_details = None
    log_config = effective["jobLogConfigurationDetails"] or {}
    if log_config.get("enableLogging"):
        log_id = log_config.get("logId")
        if not log_id:
            log_id = new_log(emu, log_config["logGroupId"], f"{display_name}-{run_id[-8:]}").id
        log_details = {"logGroupId": log_config["logGroupId"], "logId": log_id}
    doc = {
        "id": run_id,
        "timeAccepted": now,
        "createdBy": creator,
        "projectId": body["projectId"],
        "compartmentId": body["compartmentId"],
        "jobId": job.id,
        "displayName": display_name,
        # Required in the SDK's JobRun: without an override, the job's configuration (unverified).
        "jobConfigurationOverrideDetails": body.get("jobConfigurationOverrideDetails")
        or job.doc.get("jobConfigurationDetails")
        or {"jobType": "EMPTY"},
        "jobInfrastructureConfigurationDetails": effective["jobInfrastructureConfigurationDetails"],
        "jobInfrastructureConfigurationOverrideDetails": body.get(
            "jobInfrastructureConfigurationOverrideDetails"
        ),
        "jobEnvironmentConfigurationOverrideDetails": body.get("jobEnvironmentConfigurationOverrideDetails"),
        "jobLogConfigurationOverrideDetails": body.get("jobLogConfigurationOverrideDetails"),
        "jobNodeConfigurationOverrideDetails": body.get("jobNodeConfigurationOverrideDetails"),
        "jobStorageMountConfigurationDetailsList": job.doc.get("jobStorageMountConfigurationDetailsList"),
        "jobStorageMountConfigurationOverrideDetailsList": body.get(
            "jobStorageMountConfigurationOverrideDetailsList"
        ),
        "logDetails": log_details,
        "lifecycleState": "ACCEPTED",
        "lifecycleDetails": "Infrastructure provisioning.",
        "nodeGroupDetailsList": [
            {"name": g["name"], "lifecycleState": "CREATING", "lifecycleDetails": "Node group provisioning."}
            for g in node_groups(effective.get("jobNodeConfigurationDetails"))
        ]
        or None,
        "freeformTags": body.get("freeformTags") or {},
        "definedTags": body.get("definedTags") or {},
    }
    meta = {"effective": effective, **simulated}
    record = emu.create(RUN, run_id, doc, meta)
    emu.start_run(record)
    emu.faults.note_created(run_id)
    return record


async def get_job_run(request: web.Request) -> web.Response:
    return run_response(emulator(request).require(RUN, request.match_info["run_id"]))


async def list_job_runs(request: web.Request) -> web.Response:
    return list_records(request, RUNS)


def live_run(emu: Emulator, run_id: str) -> Record:
    return emu.require(RUN, run_id, allow_deleted=False)


async def update_job_run(request: web.Request) -> web.Response:
    emu = emulator(request)
    record = live_run(emu, request.match_info["run_id"])
    body = await json_body(request)
    emu.check_if_match(record, request.headers.get("if-match"))
    validation.check_update_run(body)
    updated = emu.save(record, **body)
    emu.cloud_events.run_updated(updated)
    return run_response(updated)


async def cancel_job_run(request: web.Request) -> web.Response:
    emu = emulator(request)
    record = live_run(emu, request.match_info["run_id"])
    emu.check_if_match(record, request.headers.get("if-match"))
    state = record.doc["lifecycleState"]
    if state == "CANCELING":
        return web.Response(status=202)
    if emu.faults.holds_run(record.id, state):
        raise incorrect_state(f"Job run {record.id} is NEEDS_ATTENTION and cannot be canceled now")
    if state not in ACTIVE_RUN_STATES:
        raise incorrect_state(f"Job run {record.id} is {state} and cannot be canceled")
    emu.save(record, lifecycleState="CANCELING", lifecycleDetails="Job run cancellation in progress.")
    emu.cancel_run(record)
    return web.Response(status=202)


async def delete_job_run(request: web.Request) -> web.Response:
    emu = emulator(request)
    record = live_run(emu, request.match_info["run_id"])
    emu.check_if_match(record, request.headers.get("if-match"))
    if record.doc["lifecycleState"] in ACTIVE_RUN_STATES:
        raise incorrect_state(f"Job run {record.id} is {record.doc['lifecycleState']}; cancel it first")
    emu.save(record, lifecycleState="DELETED")
    return web.Response(status=204)


async def change_job_run_compartment(request: web.Request) -> web.Response:
    return await change_compartment(request, live_run(emulator(request), request.match_info["run_id"]))


def routes() -> list[web.RouteDef]:
    p = "/20190101"
    return [
        web.post(f"{p}/jobRuns", create_job_run),
        web.get(f"{p}/jobRuns", list_job_runs, allow_head=False),
        web.get(f"{p}/jobRuns/{{run_id}}", get_job_run, allow_head=False),
        web.put(f"{p}/jobRuns/{{run_id}}", update_job_run),
        web.delete(f"{p}/jobRuns/{{run_id}}", delete_job_run),
        web.post(f"{p}/jobRuns/{{run_id}}/actions/cancelJobRun", cancel_job_run),
        web.post(f"{p}/jobRuns/{{run_id}}/actions/changeCompartment", change_job_run_compartment),
    ]
