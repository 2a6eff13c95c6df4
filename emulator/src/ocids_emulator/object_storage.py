"""Object Storage (``/n/...``, API 20160918): the namespace, buckets and objects, enough for artifacts.

Paths and shapes follow ``oci.object_storage.ObjectStorageClient``; object names arrive
percent-encoded (the SDK encodes ``/`` as ``%2F``) and are stored as given. Buckets are resources in
the store; object bytes live in the store's ``objects`` table. Error codes are OCI's as far as known
(BucketNotFound, ObjectNotFound, BucketAlreadyExists, BucketNotEmpty, IfMatchFailed,
IfNoneMatchFailed; UnmatchedContentMD5 is unverified).
"""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from typing import Any

from aiohttp import web

from .config import content_md5
from .errors import ApiError, invalid
from .httpio import created_by, emulator, json_body, json_response
from .service import Emulator, clean
from .store import Record
from .timeutil import http_date, now_rfc3339, parse_rfc3339
from .validation import require_string

BUCKET = "bucket"
_BUCKET_NAME = re.compile(r"^[A-Za-z0-9._-]{1,256}$")
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
PREFIX = "/n"


def bucket_not_found(namespace: str, bucket: str) -> ApiError:
    return ApiError(
        404,
        "BucketNotFound",
        f"Either the bucket named '{bucket}' does not exist in the namespace '{namespace}'"
        " or you are not authorized to access it",
    )


def object_not_found(bucket: str, name: str) -> ApiError:
    return ApiError(404, "ObjectNotFound", f"The object '{name}' was not found in the bucket '{bucket}'")


def seed_buckets(emu: Emulator) -> None:
    """Buckets listed in tenancy.json (``objectStorage.buckets``) exist from the start."""
    for entry in emu.tenancy.buckets:
        if _find_bucket(emu, entry["name"]) is None:
            _new_bucket(emu, entry["name"], entry["compartmentId"], emu.tenancy.user_id, {})


def _find_bucket(emu: Emulator, name: str) -> Record | None:
    return next((b for b in emu.store.all(BUCKET) if b.doc["name"] == name), None)


def _new_bucket(emu: Emulator, name: str, compartment: str, who: str, body: dict[str, Any]) -> Record:
    bucket_id = emu.new_id("bucket")
    doc = {
        "namespace": emu.tenancy.object_storage_namespace,
        "name": name,
        "id": bucket_id,
        "compartmentId": compartment,
        "metadata": body.get("metadata") or {},
        "createdBy": who,
        "timeCreated": now_rfc3339(),
        "publicAccessType": body.get("publicAccessType") or "NoPublicAccess",
        "storageTier": body.get("storageTier") or "Standard",
        "objectEventsEnabled": bool(body.get("objectEventsEnabled", False)),
        "freeformTags": body.get("freeformTags") or {},
        "definedTags": body.get("definedTags") or {},
        "versioning": "Disabled",
        "autoTiering": "Disabled",
        "replicationEnabled": False,
        "isReadOnly": False,
    }
    return emu.create(BUCKET, bucket_id, doc)


def _bucket(request: web.Request) -> Record:
    emu = emulator(request)
    namespace = request.match_info["namespace"]
    name = request.match_info["bucket"]
    record = _find_bucket(emu, name) if namespace == emu.tenancy.object_storage_namespace else None
    if record is None:
        raise bucket_not_found(namespace, name)
    return record


def _bucket_doc(record: Record) -> dict[str, Any]:
    return {**record.doc, "etag": record.meta["etag"]}


def _object_name(request: web.Request) -> str:
    name = request.match_info["object"]
    if len(name) > MAX_OBJECT_NAME:
        raise invalid(f"objectName must be at most {MAX_OBJECT_NAME} characters")
    return name


# namespace and buckets -----------------------------------------------------------------------
async def get_namespace(request: web.Request) -> web.Response:
    # The SDK reads a JSON string.
    return json_response(emulator(request).tenancy.object_storage_namespace)


async def create_bucket(request: web.Request) -> web.Response:
    emu = emulator(request)
    namespace = request.match_info["namespace"]
    if namespace != emu.tenancy.object_storage_namespace:
        raise ApiError(404, "NamespaceNotFound", f"The namespace '{namespace}' does not exist")
    body = await json_body(request)
    name = require_string(body, "name", "name")
    if not _BUCKET_NAME.match(name):
        raise invalid("name must be 1 to 256 letters, digits, dashes, underscores or periods")
    compartment = require_string(body, "compartmentId", "compartmentId")
    emu.check_compartment(compartment)
    if _find_bucket(emu, name) is not None:
        raise ApiError(
            409,
            "BucketAlreadyExists",
            f"Either the bucket '{name}' in namespace '{namespace}' already exists"
            " or you are not authorized to create it",
        )
    record = _new_bucket(emu, name, compartment, created_by(request), body)
    return json_response(
        _bucket_doc(record),
        etag=record.meta["etag"],
        headers={"location": f"{request.url.origin()}{PREFIX}/{namespace}/b/{name}"},
    )


async def get_bucket(request: web.Request) -> web.Response:
    record = _bucket(request)
    return json_response(_bucket_doc(record), etag=record.meta["etag"])


async def head_bucket(request: web.Request) -> web.Response:
    record = _bucket(request)
    return web.Response(status=200, headers={"etag": record.meta["etag"]})


async def list_buckets(request: web.Request) -> web.Response:
    emu = emulator(request)
    if request.match_info["namespace"] != emu.tenancy.object_storage_namespace:
        raise ApiError(
            404, "NamespaceNotFound", f"The namespace '{request.match_info['namespace']}' does not exist"
        )
    compartment = request.query.get("compartmentId")
    if not compartment:
        raise invalid("compartmentId is required")
    emu.check_compartment(compartment)
    keys = ("namespace", "name", "compartmentId", "createdBy", "timeCreated", "freeformTags", "definedTags")
    docs = sorted(
        (
            {k: b.doc.get(k) for k in keys} | {"etag": b.meta["etag"]}
            for b in emu.store.all(BUCKET)
            if b.doc["compartmentId"] == compartment
        ),
        key=lambda d: str(d["name"]),
    )
    return json_response(docs)


async def delete_bucket(request: web.Request) -> web.Response:
    emu = emulator(request)
    record = _bucket(request)
    _check_preconditions(request.headers, record.meta["etag"], writing=True)
    if next(emu.store.object_metas(record.id, "", ""), None) is not None:
        raise ApiError(409, "BucketNotEmpty", f"Bucket named '{record.doc['name']}' is not empty")
    emu.store.delete_record(BUCKET, record.id)
    return web.Response(status=204)


# objects -------------------------------------------------------------------------------------
def _check_preconditions(headers: Any, etag: str | None, *, writing: bool) -> bool:
    """if-match / if-none-match; True when a read should answer 304 Not Modified (writes get 412)."""
    if_match = headers.get("if-match")
    if if_match is not None and (etag is None or if_match not in ("*", etag)):
        raise ApiError(412, "IfMatchFailed", "The if-match header does not match the current entity tag")
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None and etag is not None and if_none_match in ("*", etag):
        if not writing:
            return True
        raise ApiError(412, "IfNoneMatchFailed", "The object already exists (if-none-match)")
    return False


async def put_object(request: web.Request) -> web.Response:
    emu = emulator(request)
    bucket = _bucket(request)
    name = _object_name(request)
    content = await request.read()
    existing = emu.store.object_meta(bucket.id, name)
    _check_preconditions(request.headers, existing["etag"] if existing else None, writing=True)
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
    bucket = _bucket(request)
    name = _object_name(request)
    meta = emu.store.object_meta(bucket.id, name)
    if meta is None:
        raise object_not_found(bucket.doc["name"], name)
    return bucket, name, meta


def _not_modified(request: web.Request, meta: dict[str, Any]) -> web.Response | None:
    if _check_preconditions(request.headers, meta["etag"], writing=False):
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
    _check_preconditions(request.headers, meta["etag"], writing=True)
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
    bucket = _bucket(request)
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


def routes() -> list[web.RouteDef]:
    b = f"{PREFIX}/{{namespace}}/b"
    # The SDK percent-encodes '/' in object names; the tail pattern keeps any that arrive decoded.
    o = f"{b}/{{bucket}}/o/{{object:.+}}"
    return [
        web.get(PREFIX, get_namespace, allow_head=False),
        web.get(f"{PREFIX}/", get_namespace, allow_head=False),
        web.post(b, create_bucket),
        web.post(f"{b}/", create_bucket),
        web.get(b, list_buckets, allow_head=False),
        web.get(f"{b}/", list_buckets, allow_head=False),
        web.get(f"{b}/{{bucket}}", get_bucket, allow_head=False),
        web.head(f"{b}/{{bucket}}", head_bucket),
        web.delete(f"{b}/{{bucket}}", delete_bucket),
        web.get(f"{b}/{{bucket}}/o", list_objects, allow_head=False),
        web.put(o, put_object),
        web.get(o, get_object, allow_head=False),
        web.head(o, head_object),
        web.delete(o, delete_object),
    ]
