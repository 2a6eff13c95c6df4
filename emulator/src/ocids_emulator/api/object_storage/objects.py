"""Object Storage objects (``/n/{namespace}/b/{bucket}/o``): put, get, head, delete and list."""

from __future__ import annotations

import base64
import hashlib
import uuid
from typing import Any

from aiohttp import web

from ocids_emulator.api.httpio import emulator, json_response
from ocids_emulator.api.object_storage.buckets import check_preconditions, request_bucket
from ocids_emulator.config import content_md5
from ocids_emulator.core.emulator import clean
from ocids_emulator.core.errors import ApiError, invalid
from ocids_emulator.core.timeutil import http_date, now_rfc3339, parse_rfc3339
from ocids_emulator.store.sqlite import Record

MAX_OBJECT_NAME = 1024
MAX_LIST_LIMIT = 1000
SUMMARY_FIELDS = {
    "name",
    "size",
    "md5",
    "timeCreated",
    "etag",
    "storageTier",
    "archivalState",
    "timeModified",
}
# Request headers put_object stores and get/head_object give back.
CONTENT_HEADERS = (
    "content-type",
    "content-language",
    "content-encoding",
    "content-disposition",
    "cache-control",
)


def object_not_found(bucket: str, name: str) -> ApiError:
    return ApiError(404, "ObjectNotFound", f"The object '{name}' was not found in the bucket '{bucket}'")


def _object_name(request: web.Request) -> str:
    name = request.match_info["object"]
    if len(name) > MAX_OBJECT_NAME:
        raise invalid(f"objectName must be at most {MAX_OBJECT_NAME} characters")
    return name


# --------------------------------------------------------------------------------------
async def put_object(request: web.Request) -> web.Response:
    emu = emulator(request)
    bucket = request_bucket(request)
    name = _object_name(request)
    content = await request.read()
    existing = emu.store.object_meta(bucket.id, name)
    check_preconditions(request.headers, existing["etag"] if existing else None, writing=True)
    md5 = content_md5(content)
    sent_md5 = request.headers.get("content-md5")
    if sent_md5 is not None and sent_md5 != md5:
        raise ApiError(
            400,
            "UnmatchedContentMD5",
            f"The computed MD5 of the request body ({md5}) does not match"
            f" the Content-MD5 header ({sent_md5})",
        )
    sent_sha = request.headers.get("opc-content-sha256")
    if sent_sha is not None and sent_sha != base64.b64encode(hashlib.sha256(content).digest()).decode():
        raise ApiError(
            400, "UnmatchedContentSHA256", "The computed SHA256 of the request body does not match"
        )
    now = now_rfc3339()
    meta: dict[str, Any] = {
        "size": len(content),
        "md5": md5,
        "etag": str(uuid.uuid4()),
        "timeCreated": existing["timeCreated"] if existing else now,
        "timeModified": now,
        "storageTier": request.headers.get("storage-tier") or bucket.doc.get("storageTier", "Standard"),
        "headers": {h: request.headers[h] for h in CONTENT_HEADERS if h in request.headers},
        "opcMeta": {k.lower(): v for k, v in request.headers.items() if k.lower().startswith("opc-meta-")},
    }
    meta["headers"].setdefault("content-type", "application/octet-stream")
    emu.store.put_object(bucket.id, name, content, meta)
    return web.Response(
        status=200,
        headers={"etag": meta["etag"], "opc-content-md5": md5, "last-modified": _last_modified(meta)},
    )


def _last_modified(meta: dict[str, Any]) -> str:
    return http_date(parse_rfc3339(meta["timeModified"]))


def _object_headers(meta: dict[str, Any]) -> dict[str, str]:
    headers = {
        "etag": meta["etag"],
        "content-md5": meta["md5"],
        "last-modified": _last_modified(meta),
        "storage-tier": meta["storageTier"],
        "accept-ranges": "bytes",
        **meta["headers"],
        **meta["opcMeta"],
    }
    return headers


def _stored_meta(request: web.Request) -> tuple[Record, str, dict[str, Any]]:
    emu = emulator(request)
    bucket = request_bucket(request)
    name = _object_name(request)
    meta = emu.store.object_meta(bucket.id, name)
    if meta is None:
        raise object_not_found(bucket.doc["name"], name)
    return bucket, name, meta


def _not_modified(request: web.Request, meta: dict[str, Any]) -> web.Response | None:
    if check_preconditions(request.headers, meta["etag"], writing=False):
        return web.Response(status=304, headers={"etag": meta["etag"]})
    return None


async def head_object(request: web.Request) -> web.Response:
    _, _, meta = _stored_meta(request)
    if unchanged := _not_modified(request, meta):
        return unchanged
    headers = _object_headers(meta)
    headers["content-length"] = str(meta["size"])
    return web.Response(status=200, headers=headers)


async def get_object(request: web.Request) -> web.Response:
    bucket, name, meta = _stored_meta(request)
    if unchanged := _not_modified(request, meta):
        return unchanged
    content = emulator(request).store.object_content(bucket.id, name) or b""
    # Ranges are not emulated: the whole object comes back (documented limitation).
    return web.Response(status=200, body=content, headers=_object_headers(meta))


async def delete_object(request: web.Request) -> web.Response:
    bucket, name, meta = _stored_meta(request)
    check_preconditions(request.headers, meta["etag"], writing=True)
    emulator(request).store.delete_object(bucket.id, name)
    return web.Response(status=204, headers={"last-modified": _last_modified(meta)})


def _limit(raw: str | None) -> int:
    if raw is None:
        return MAX_LIST_LIMIT
    try:
        value = int(raw)
    except ValueError:
        raise invalid("limit must be an integer") from None
    if not 1 <= value <= MAX_LIST_LIMIT:
        raise invalid(f"limit must be from 1 to {MAX_LIST_LIMIT}")
    return value


def _fields(raw: str | None) -> set[str]:
    wanted = {f.strip() for f in (raw or "name").split(",") if f.strip()} | {"name"}
    unknown = wanted - SUMMARY_FIELDS
    if unknown:
        raise invalid(f"fields has unknown values: {', '.join(sorted(unknown))}")
    return wanted


async def list_objects(request: web.Request) -> web.Response:
    """Name order; ``start`` inclusive, ``startAfter`` and ``end`` exclusive; ``nextStartWith`` pages."""
    emu = emulator(request)
    bucket = request_bucket(request)
    q = request.query
    prefix = q.get("prefix", "")
    limit = _limit(q.get("limit"))
    fields = _fields(q.get("fields"))
    delimiter = q.get("delimiter")
    if delimiter is not None and delimiter != "/":
        raise invalid("delimiter must be '/'")
    start_after = q.get("startAfter")
    end = q.get("end")
    entries: list[tuple[str, dict[str, Any] | None]] = []
    for name, meta in emu.store.object_metas(bucket.id, prefix, q.get("start", "")):
        if start_after is not None and name <= start_after:
            continue
        if end is not None and name >= end:
            break
        if delimiter:
            cut = name.find(delimiter, len(prefix))
            if cut >= 0:
                common = name[: cut + 1]
                if not entries or entries[-1][0] != common:
                    entries.append((common, None))
                continue
        entries.append((name, meta))
        if len(entries) > limit:
            break
    page = entries[:limit]
    objects = [_summary(name, meta, fields) for name, meta in page if meta is not None]
    doc: dict[str, Any] = {"objects": objects}
    if delimiter:
        doc["prefixes"] = [name for name, meta in page if meta is None]
    if len(entries) > limit:
        doc["nextStartWith"] = entries[limit][0]
    return json_response(doc)


def _summary(name: str, meta: dict[str, Any], fields: set[str]) -> dict[str, Any]:
    values = {
        "name": name,
        "size": meta["size"],
        "md5": meta["md5"],
        "timeCreated": meta["timeCreated"],
        "etag": meta["etag"],
        "storageTier": meta["storageTier"],
        "timeModified": meta["timeModified"],
    }
    return clean({k: v for k, v in values.items() if k in fields})
