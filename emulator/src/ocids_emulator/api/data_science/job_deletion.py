"""Deleting a job: the JOB_DELETE work request and what it does at its end."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from ocids_emulator.api.data_science.jobs import live_job
from ocids_emulator.api.httpio import emulator
from ocids_emulator.core.emulator import ACTIVE_RUN_STATES, RUN, WORK_REQUEST, Emulator
from ocids_emulator.core.errors import conflict, incorrect_state
from ocids_emulator.core.timeutil import now_rfc3339
from ocids_emulator.store.sqlite import Record


def finish_job_delete(emu: Emulator, job: Record) -> None:
    """The end of a JOB_DELETE work request (also applied when a restart interrupted one)."""
    if job.meta.get("deleteRelatedJobRuns"):
        for run in emu.store.all(RUN):
            if run.doc["jobId"] == job.id and run.doc["lifecycleState"] != "DELETED":
                emu.save(run, lifecycleState="DELETED")
    emu.save(job, lifecycleState="DELETED", lifecycleDetails=None)


async def delete_job(request: web.Request) -> web.Response:
    emu = emulator(request)
    job = live_job(emu, request.match_info["job_id"])
    emu.check_if_match(job, request.headers.get("if-match"))
    if job.doc["lifecycleState"] == "DELETING":
        raise incorrect_state(f"Job {job.id} is already being deleted")
    runs = [
        r for r in emu.store.all(RUN) if r.doc["jobId"] == job.id and r.doc["lifecycleState"] != "DELETED"
    ]
    if any(r.doc["lifecycleState"] in ACTIVE_RUN_STATES for r in runs):
        raise incorrect_state(f"Job {job.id} has job runs in progress; cancel them before deleting the job")
    delete_runs = request.query.get("deleteRelatedJobRuns", "false").lower() == "true"
    if runs and not delete_runs:
        raise conflict(f"Job {job.id} has job runs; delete them or pass deleteRelatedJobRuns=true")
    job.meta["deleteRelatedJobRuns"] = delete_runs
    restore = {
        "lifecycleState": job.doc["lifecycleState"],
        "lifecycleDetails": job.doc.get("lifecycleDetails"),
    }
    emu.save(job, lifecycleState="DELETING")
    now = now_rfc3339()
    wr_id = emu.new_id("datascienceworkrequest")
    wr = emu.create(
        WORK_REQUEST,
        wr_id,
        {
            "id": wr_id,
            "operationType": "JOB_DELETE",
            "status": "ACCEPTED",
            "compartmentId": job.doc["compartmentId"],
            "percentComplete": 0.0,
            "resources": [
                {
                    "entityType": "job",
                    "actionType": "DELETED",
                    "identifier": job.id,
                    "entityUri": f"/jobs/{job.id}",
                }
            ],
            "timeAccepted": now,
        },
    )
    failure = emu.faults.failed_delete(job.id)
    end = _complete_delete(emu, job, wr) if failure is None else _fail_delete(emu, job, wr, failure, restore)
    asyncio.get_running_loop().create_task(end)
    return web.Response(status=202, headers={"opc-work-request-id": wr_id})


async def _complete_delete(emu: Emulator, job: Record, wr: Record) -> None:
    emu.save(wr, status="IN_PROGRESS", timeStarted=now_rfc3339(), percentComplete=50.0)
    await asyncio.sleep(emu.settings.delete_seconds)
    finish_job_delete(emu, job)
    emu.save(wr, status="SUCCEEDED", percentComplete=100.0, timeFinished=now_rfc3339())


async def _fail_delete(emu: Emulator, job: Record, wr: Record, message: str, restore: dict[str, Any]) -> None:
    """The failedJobDeletes fault: the work request ends FAILED and the job is back as it was."""
    emu.save(wr, status="IN_PROGRESS", timeStarted=now_rfc3339(), percentComplete=50.0)
    await asyncio.sleep(emu.settings.delete_seconds)
    emu.save(job, **restore)
    now = now_rfc3339()
    wr.meta["errors"] = [{"code": "InternalServerError", "message": message, "timestamp": now}]
    emu.save(wr, status="FAILED", timeFinished=now)


def routes() -> list[web.RouteDef]:
    p = "/20190101"
    return [
        web.delete(f"{p}/jobs/{{job_id}}", delete_job),
    ]
