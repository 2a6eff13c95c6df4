"""Object Storage namespace and buckets (``/n``, ``/n/{namespace}/b``)."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from ocids_emulator.api.data_science.validation import require_string
from ocids_emulator.api.httpio import created_by, emulator, json_body, json_response
from ocids_emulator.core.emulator import Emulator
from ocids_emulator.core.errors import ApiError, invalid
from ocids_emulator.core.timeutil import now_rfc3339
from ocids_emulator.store.sqlite import Record

BUCKET = "bucket"
_BUCKET_NAME = re.compile(r"^[A-Za-z0-9._-]{1,256}$")
PREFIX = "/n"


def bucket_not_found(namespace: str, bucket: str) -> ApiError:
    return ApiError(
        404,
        "BucketNotFound",
        f"Either the bucket named '{bucket}' does not exist in the namespace '{namespace}'"
        " or you are not authorized to access it",
    )


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


def request_bucket(request: web.Request) -> Record:
    emu = emulator(request)
    namespace = request.match_info["namespace"]
    name = request.match_info["bucket"]
    record = _find_bucket(emu, name) if namespace == emu.tenancy.object_storage_namespace else None
    if record is None:
        raise bucket_not_found(namespace, name)
    return record


def check_preconditions(headers: Any, etag: str | None, *, writing: bool) -> bool:
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


def _bucket_doc(record: Record) -> dict[str, Any]:
    return {**record.doc, "etag": record.meta["etag"]}


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
    record = request_bucket(request)
    return json_response(_bucket_doc(record), etag=record.meta["etag"])


async def head_bucket(request: web.Request) -> web.Response:
    record = request_bucket(request)
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
    record = request_bucket(request)
    check_preconditions(request.headers, record.meta["etag"], writing=True)
    if next(emu.store.object_metas(record.id, "", ""), None) is not None:
        raise ApiError(409, "BucketNotEmpty", f"Bucket named '{record.doc['name']}' is not empty")
    emu.store.delete_record(BUCKET, record.id)
    return web.Response(status=204)
