"""The job artifact: uploaded once, then read back by head/get."""

from __future__ import annotations

import hashlib
import os
import re

from aiohttp import web

from ocids_emulator.api.data_science.jobs import live_job
from ocids_emulator.api.httpio import emulator, json_response
from ocids_emulator.config import content_md5
from ocids_emulator.core.emulator import JOB, new_etag
from ocids_emulator.core.errors import ApiError, conflict, incorrect_state, invalid, not_found
from ocids_emulator.core.timeutil import http_date, now_rfc3339, parse_rfc3339
from ocids_emulator.store.sqlite import Artifact

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
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


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive (first, last) byte a ``range`` header asks for, None for the whole content.
    OCI supports a single range (RFC 7233 2.1): anything else is 400 InvalidParameter (unverified);
    a range past the end is 416 with ``content-range: bytes */size``."""
    if header is None:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None or match.group(1) == match.group(2) == "":
        raise invalid(f"range {header!r} must be one byte range (RFC 7233), e.g. bytes=0-99 or bytes=-100")
    first, last = match.group(1), match.group(2)
    if first == "":
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise _unsatisfiable(header, size)
        return max(0, size - suffix), size - 1
    start = int(first)
    end = size - 1 if last == "" else min(int(last), size - 1)
    if last != "" and int(last) < start:
        raise invalid(f"range {header!r}: the last byte is before the first")
    if start >= size:
        raise _unsatisfiable(header, size)
    return start, end


class RangeNotSatisfiable(ApiError):
    def __init__(self, message: str, size: int) -> None:
        super().__init__(416, "InvalidRange", message)
        self.size = size


def _unsatisfiable(header: str, size: int) -> RangeNotSatisfiable:
    return RangeNotSatisfiable(f"range {header!r} is not satisfiable: the artifact has {size} bytes", size)


async def get_job_artifact_content(request: web.Request) -> web.Response:
    artifact = _stored_artifact(request, with_content=True)
    size = len(artifact.content)
    headers = _artifact_headers(artifact, size)
    del headers["content-length"]
    headers["accept-ranges"] = "bytes"
    try:
        wanted = byte_range(request.headers.get("range"), size)
    except RangeNotSatisfiable as exc:
        return json_response(
            {"code": exc.code, "message": exc.message},
            status=416,
            headers={"content-range": f"bytes */{exc.size}"},
        )
    if wanted is None:
        return web.Response(
            status=200, body=artifact.content, headers=headers, content_type="application/octet-stream"
        )
    first, last = wanted
    headers["content-range"] = f"bytes {first}-{last}/{size}"
    return web.Response(
        status=206,
        body=artifact.content[first : last + 1],
        headers=headers,
        content_type="application/octet-stream",
    )


def routes() -> list[web.RouteDef]:
    p = "/20190101"
    return [
        web.post(f"{p}/jobs/{{job_id}}/artifact", create_job_artifact),
        web.head(f"{p}/jobs/{{job_id}}/artifact/content", head_job_artifact),
        web.get(f"{p}/jobs/{{job_id}}/artifact/content", get_job_artifact_content, allow_head=False),
    ]
