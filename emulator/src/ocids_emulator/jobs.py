"""Jobs, job artifacts, projects and job shapes (``/20190101``)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
from typing import Any

from aiohttp import web

from . import validation
from .config import content_md5
from .errors import conflict, incorrect_state, invalid, not_found
from .handlers import change_compartment, read_create
from .httpio import created_by, emulator, json_body, json_response, list_response, query
from .listing import Listing, list_records, page_response, required_compartment
from .service import ACTIVE_RUN_STATES, JOB, RUN, WORK_REQUEST, Emulator, new_etag
from .shapes import shape_summaries
from .store import Artifact, Record
from .timeutil import http_date, now_rfc3339, parse_rfc3339

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
PROJECTS = Listing("project")
_FILENAME = re.compile(r"""filename\*?=(?:UTF-8'')?"?([^";]+)"?""", re.IGNORECASE)


def job_response(record: Record, status: int = 200) -> web.Response:
    return json_response(record.doc, status=status, etag=record.meta["etag"])


def live_job(emu: Emulator, job_id: str) -> Record:
    return emu.require(JOB, job_id, allow_deleted=False)


async def create_job(request: web.Request) -> web.Response:
    emu = emulator(request)
    body, token, replayed = await read_create(request, "create_job", JOB, validation.check_create_job)
    if replayed:
        return job_response(replayed)
    now = now_rfc3339()
    job_id = emu.new_id("datasciencejob")
    is_container = body.get("jobEnvironmentConfigurationDetails") is not None
    doc: dict[str, Any] = {
        "id": job_id,
        "timeCreated": now,
        "createdBy": created_by(request),
        "projectId": body["projectId"],
        "compartmentId": body["compartmentId"],
        "displayName": body.get("displayName") or f"job{now[:19].replace('-', '').replace(':', '')}",
        "description": body.get("description"),
        "jobConfigurationDetails": body["jobConfigurationDetails"],
        "jobInfrastructureConfigurationDetails": body["jobInfrastructureConfigurationDetails"],
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
    emu.remember("create_job", token, body, job_id)
    return job_response(record)


async def get_job(request: web.Request) -> web.Response:
    return job_response(emulator(request).require(JOB, request.match_info["job_id"]))


async def list_jobs(request: web.Request) -> web.Response:
    return list_records(request, JOBS)


async def update_job(request: web.Request) -> web.Response:
    emu = emulator(request)
    record = live_job(emu, request.match_info["job_id"])
    body = await json_body(request)
    emu.check_if_match(record, request.headers.get("if-match"))
    validation.check_update_job(body)
    if record.doc["lifecycleState"] not in ("ACTIVE", "CREATING"):
        raise incorrect_state(f"Job {record.id} is {record.doc['lifecycleState']} and cannot be updated")
    return job_response(emu.save(record, **body))


async def change_job_compartment(request: web.Request) -> web.Response:
    return await change_compartment(request, live_job(emulator(request), request.match_info["job_id"]))


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
    asyncio.get_running_loop().create_task(_complete_delete(emu, job, wr))
    return web.Response(status=202, headers={"opc-work-request-id": wr_id})


async def _complete_delete(emu: Emulator, job: Record, wr: Record) -> None:
    emu.save(wr, status="IN_PROGRESS", timeStarted=now_rfc3339(), percentComplete=50.0)
    await asyncio.sleep(emu.settings.delete_seconds)
    finish_job_delete(emu, job)
    emu.save(wr, status="SUCCEEDED", percentComplete=100.0, timeFinished=now_rfc3339())


# artifacts ---------------------------------------------------------------------------------
def _artifact_name(disposition: str | None, content: bytes) -> str:
    match = _FILENAME.search(disposition or "")
    if match:
        name = os.path.basename(match.group(1).strip())
        if name:
            return name
    # Without a filename, sniff the archive type (documented choice); anything else is a script.
    if content.startswith(b"PK\x03\x04"):
        return "artifact.zip"
    if content.startswith(b"\x1f\x8b"):
        return "artifact.tar.gz"
    return "artifact.sh" if content.startswith(b"#!") else "artifact.py"


async def create_job_artifact(request: web.Request) -> web.Response:
    emu = emulator(request)
    job = live_job(emu, request.match_info["job_id"])
    content = await request.read()
    if not content:
        raise invalid("The job artifact is empty")
    token = request.headers.get("opc-retry-token")
    scope = f"create_job_artifact:{job.id}"
    digest = hashlib.sha256(content).hexdigest()
    if emu.replay(scope, token, digest):
        return web.Response(status=200)
    if emu.store.artifact(job.id, with_content=False) is not None:
        raise conflict(f"Job {job.id} already has an artifact; a job artifact can be uploaded only once")
    if job.doc["lifecycleState"] not in ("CREATING", "ACTIVE"):
        raise incorrect_state(f"Job {job.id} is {job.doc['lifecycleState']}")
    name = _artifact_name(request.headers.get("content-disposition"), content)
    emu.store.put_artifact(Artifact(job.id, name, content, content_md5(content), new_etag(), now_rfc3339()))
    emu.remember(scope, token, digest, job.id)
    if job.doc["lifecycleState"] == "CREATING":
        emu.save(job, lifecycleState="ACTIVE", lifecycleDetails=None)
    return web.Response(status=200)


def _artifact_headers(artifact: Artifact, size: int) -> dict[str, str]:
    return {
        "etag": artifact.etag,
        "content-length": str(size),
        "content-md5": artifact.md5,
        "last-modified": http_date(parse_rfc3339(artifact.time_created)),
        "content-disposition": f"attachment; filename={artifact.filename}",
    }


def _stored_artifact(request: web.Request, *, with_content: bool) -> Artifact:
    emu = emulator(request)
    job = emu.require(JOB, request.match_info["job_id"])
    artifact = emu.store.artifact(job.id, with_content=with_content)
    if artifact is None:
        raise not_found(f"artifact of job {job.id}")
    return artifact


async def head_job_artifact(request: web.Request) -> web.Response:
    artifact = _stored_artifact(request, with_content=False)
    headers = _artifact_headers(artifact, emulator(request).store.artifact_size(artifact.job_id))
    return web.Response(status=200, headers=headers)


async def get_job_artifact_content(request: web.Request) -> web.Response:
    artifact = _stored_artifact(request, with_content=True)
    headers = _artifact_headers(artifact, len(artifact.content))
    del headers["content-length"]
    return web.Response(
        status=200, body=artifact.content, headers=headers, content_type="application/octet-stream"
    )


# projects and shapes -----------------------------------------------------------------------
async def list_job_shapes(request: web.Request) -> web.Response:
    required_compartment(emulator(request), query(request))
    shapes = shape_summaries()
    limit = validation.check_limit(request.query.get("limit"), default=100)
    start = int(request.query.get("page") or 0)
    chunk = shapes[start : start + limit]
    return list_response(chunk, str(start + limit) if start + limit < len(shapes) else None)


async def get_project(request: web.Request) -> web.Response:
    emu = emulator(request)
    return json_response(emu.project_doc(request.match_info["project_id"]), etag="project")


async def list_projects(request: web.Request) -> web.Response:
    emu = emulator(request)
    q = query(request)
    compartment = required_compartment(emu, q)
    docs = [
        emu.project_doc(pid) for pid, p in emu.tenancy.projects.items() if p["compartmentId"] == compartment
    ]
    return page_response(docs, q, PROJECTS)


def routes() -> list[web.RouteDef]:
    p = "/20190101"
    return [
        web.post(f"{p}/jobs", create_job),
        web.get(f"{p}/jobs", list_jobs, allow_head=False),
        web.get(f"{p}/jobs/{{job_id}}", get_job, allow_head=False),
        web.put(f"{p}/jobs/{{job_id}}", update_job),
        web.delete(f"{p}/jobs/{{job_id}}", delete_job),
        web.post(f"{p}/jobs/{{job_id}}/actions/changeCompartment", change_job_compartment),
        web.post(f"{p}/jobs/{{job_id}}/artifact", create_job_artifact),
        web.head(f"{p}/jobs/{{job_id}}/artifact/content", head_job_artifact),
        web.get(f"{p}/jobs/{{job_id}}/artifact/content", get_job_artifact_content, allow_head=False),
        web.get(f"{p}/jobShapes", list_job_shapes, allow_head=False),
        web.get(f"{p}/projects", list_projects, allow_head=False),
        web.get(f"{p}/projects/{{project_id}}", get_project, allow_head=False),
    ]
