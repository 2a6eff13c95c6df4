"""The job artifact: uploaded once, then read back by head/get."""

from __future__ import annotations

import hashlib
import os
import re

from aiohttp import web

from ocids_emulator.api.data_science.jobs import live_job
from ocids_emulator.api.httpio import emulator
from ocids_emulator.config import content_md5
from ocids_emulator.core.emulator import JOB, new_etag
from ocids_emulator.core.errors import conflict, incorrect_state, invalid, not_found
from ocids_emulator.core.timeutil import http_date, now_rfc3339, parse_rfc3339
from ocids_emulator.store.sqlite import Artifact

_FILENAME = re.compile(r"""filename\*?=(?:UTF-8'')?"?([^";]+)"?""", re.IGNORECASE)


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


def routes() -> list[web.RouteDef]:
    p = "/20190101"
    return [
        web.post(f"{p}/jobs/{{job_id}}/artifact", create_job_artifact),
        web.head(f"{p}/jobs/{{job_id}}/artifact/content", head_job_artifact),
        web.get(f"{p}/jobs/{{job_id}}/artifact/content", get_job_artifact_content, allow_head=False),
    ]
